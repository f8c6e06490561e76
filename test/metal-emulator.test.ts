/**
 * The metal-sim threadgroup emulator itself, through a small native binary
 * (native/metal_sim/selftest/): threadgroup_barrier ordering threadgroup
 * memory, every SIMD-group function, simdgroup matrices (plain and transposed
 * loads), many threadgroups on a pool, and the faults it must report (a
 * barrier skipped by some threads, a SIMD-group call from half the lanes, a
 * kernel error, a threadgroup that is not whole simdgroups) with recovery.
 * Built natively (x86-64: the assembly fiber switch) and, when
 * aarch64-linux-gnu-g++ and qemu-aarch64 are present, for arm64 (the ucontext
 * fibers macOS on Apple silicon uses); skipped with a message otherwise.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.join(__dirname, '..');
const sources = [
  'native/metal_sim/selftest/selftest.cc',
  'native/metal_sim/selftest/selftest_kernels.cc',
  'native/metal_sim/emulator.cc',
  'native/metal_sim/fiber.cc',
  'native/core/error.cc',
].map((f) => path.join(root, f));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'minimacllm-msim-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}
function expectPassed(out: string): void {
  expect(out).not.toMatch(/^FAIL/m);
  expect(out).toMatch(/SELFTEST PASSED/);
  expect(out.split('\n').filter((l) => l.startsWith('ok ')).length).toBe(9);
}

const native = has('g++') && process.platform !== 'win32';
const cross = has('aarch64-linux-gnu-g++') && has('qemu-aarch64') && process.arch === 'x64';
if (!cross)
  console.warn(
    'metal-emulator: aarch64-linux-gnu-g++ or qemu-aarch64 missing; the ucontext fiber path is not tested (apt-get install g++-aarch64-linux-gnu qemu-user)',
  );

(native ? test : test.skip)('emulator self-test, native build', () => {
  const bin = path.join(tmp, 'selftest');
  run('g++', ['-std=c++17', '-O1', '-pthread', '-o', bin, ...sources]);
  expectPassed(run(bin, []));
});

(cross ? test : test.skip)('emulator self-test, arm64 under qemu (ucontext fibers)', () => {
  const bin = path.join(tmp, 'selftest-a64');
  run('aarch64-linux-gnu-g++', ['-std=c++17', '-O1', '-pthread', '-static', '-o', bin, ...sources]);
  expectPassed(run('qemu-aarch64', [bin]));
});
