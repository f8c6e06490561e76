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
  /** Killed for running past timeoutMs or for printing nothing for idleTimeoutMs. */
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

export interface ChildOptions {
  /** Kills the child after this long (default 60 s). */
  timeoutMs?: number;
  /** Kills the child when its stdout stays silent this long after its first line (calls onIdle first). */
  idleTimeoutMs?: number;
  onIdle?: () => void;
  /** Called with each complete stdout line as it arrives. */
  onLine?: (line: string) => unknown;
  env?: NodeJS.ProcessEnv;
  nodeArgs?: string[];
}

const REGISTER = path.join(__dirname, 'ts-register.js');

export function runTsChild(script: string, args: string[] = [], options: ChildOptions = {}): Promise<ChildResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '-r', REGISTER, script, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let partial = '';
    let timedOut = false;
    const kill = (): void => {
      timedOut = true;
      child.kill('SIGKILL');
    };
    let idle: NodeJS.Timeout | undefined;
    const armIdle = (): void => {
      if (options.idleTimeoutMs === undefined) return;
      clearTimeout(idle);
      idle = setTimeout(() => {
        options.onIdle?.();
        kill();
      }, options.idleTimeoutMs);
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      armIdle();
      if (!options.onLine) return;
      const parts = (partial + d).split('\n');
      partial = parts.pop()!;
      for (const line of parts) options.onLine(line);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(kill, options.timeoutMs ?? 60000);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      clearTimeout(idle);
      resolve({ status, signal, timedOut, stdout, stderr });
    });
  });
}
