/**
 * The CPU backend's thread pool under stress, as a small standalone binary
 * (native/test/thread_pool_test.cc): 200,000 short jobs per pool size (2, 3, 4
 * threads on this machine's cores), each chunk must run exactly once, and the
 * whole run must finish (a lost or double claim shows up as a wrong count or
 * a hang, caught by the timeout).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.join(__dirname, '..');
const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const cxx = process.env.CXX ?? (has('g++') ? 'g++' : has('clang++') ? 'clang++' : undefined);
if (!cxx) console.warn('native-thread-pool: no C++ compiler on PATH; thread pool stress test skipped');

(cxx ? test : test.skip)('every chunk of every job runs exactly once, and no job hangs', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'minimacllm-pool-'));
  try {
    const exe = path.join(tmp, 'thread-pool-test');
    execFileSync(cxx!, [
      '-std=c++17',
      '-O2',
      '-pthread',
      '-o',
      exe,
      path.join(root, 'native/test/thread_pool_test.cc'),
      path.join(root, 'native/cpu/thread_pool.cc'),
    ]);
    const r = spawnSync(exe, ['200000'], { encoding: 'utf8', timeout: 90_000 });
    expect(r.signal ?? '').toBe(''); // SIGTERM here = a hang
    expect(r.stdout).toContain('0 failures');
    expect(r.status).toBe(0);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
