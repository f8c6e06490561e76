/**
 * Runs a TypeScript file of the tests in a child Node process (through
 * ts-register.js), so that a crash (SIGBUS, SIGSEGV, a V8 abort) or a hang in
 * the code under test fails one test with the child's output instead of
 * taking the jest worker down.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';

export interface ChildResult {
  /** Exit code, or null when killed by a signal. */
  status: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

const REGISTER = path.join(__dirname, 'ts-register.js');

export function runTsChild(
  script: string,
  args: string[] = [],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {},
): Promise<ChildResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '-r', REGISTER, script, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 60000);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, timedOut, stdout, stderr });
    });
  });
}
