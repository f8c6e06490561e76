/**
 * Runs a snippet against the compiled library (dist/, built by `npm run build:ts`) in a child
 * process with a time limit, so a case that hangs, aborts or exhausts memory fails the test
 * instead of taking jest down with it.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const DIST = path.join(__dirname, '..', '..', 'dist', 'index.js');

export interface IsolatedResult {
  /** What the snippet returned (JSON), if it finished. */
  value?: unknown;
  /** The error it threw: code, name, message. */
  error?: { code?: string; name?: string; message?: string };
  timedOut: boolean;
  /** Exit signal or status when the process died (abort, OOM). */
  died?: string;
  stderr: string;
}

/**
 * `body` is the body of an async function of (lib, arg); its result must be JSON-serializable.
 * `arg` travels as JSON on stdin.
 */
export function runIsolated(body: string, arg: unknown, timeoutMs = 20_000, maxOldSpaceMb = 1024): IsolatedResult {
  if (!fs.existsSync(DIST)) throw new Error('dist/ is missing: run `npm run build:ts` (npm test does) first');
  const script = `
const lib = require(${JSON.stringify(DIST)});
let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', async () => {
  const arg = JSON.parse(input);
  const fn = async (lib, arg) => { ${body} };
  let out;
  try { out = { value: await fn(lib, arg) }; }
  catch (e) { out = { error: { code: e && e.code, name: e && e.name, message: e && String(e.message).slice(0, 500) } }; }
  process.stdout.write(JSON.stringify(out));
});`;
  const r = spawnSync(process.execPath, [`--max-old-space-size=${maxOldSpaceMb}`, '-e', script], {
    input: JSON.stringify(arg),
    timeout: timeoutMs,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const timedOut = r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
  if (r.status === 0 && r.stdout) {
    const parsed = JSON.parse(r.stdout) as Omit<IsolatedResult, 'timedOut' | 'stderr'>;
    return { ...parsed, timedOut: false, stderr: r.stderr };
  }
  return { timedOut, died: String(r.signal ?? r.status), stderr: (r.stderr ?? '').slice(-2000) };
}
