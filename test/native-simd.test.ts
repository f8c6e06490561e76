/**
 * The SIMD dot-product kernels (and the AVX2 attention's q8_0 value
 * accumulation) against the scalar ones, compiled as a small
 * standalone binary (native/test/simd_kernels_test.cc):
 *  - arm64 NEON, with and without the sdot extension, cross-compiled with
 *    aarch64-linux-gnu-g++ and run under qemu-aarch64 (skipped with a message
 *    when those tools are absent; .ci/run installs them);
 *  - x86-64 AVX2, built and run natively.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.join(__dirname, '..');
const common = [
  'native/test/simd_kernels_test.cc',
  'native/core/dtype.cc',
  'native/core/error.cc',
  'native/core/quants.cc',
  'native/cpu/vec_dot_scalar.cc',
  'native/cpu/cpu_features.cc',
].map((f) => path.join(root, f));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'minimacllm-simd-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const crossTools = has('aarch64-linux-gnu-g++') && has('qemu-aarch64');
if (!crossTools) {
  console.warn(
    'native-simd: aarch64-linux-gnu-g++ or qemu-aarch64 missing; NEON kernels not tested (apt-get install g++-aarch64-linux-gnu qemu-user)',
  );
}

function runBinary(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

(crossTools ? test : test.skip).each([
  ['neon', ['-march=armv8-a'], []],
  ['neon+dotprod', ['-march=armv8.2-a+dotprod'], ['-cpu', 'max']],
] as const)('%s kernels match the scalar kernels under qemu-aarch64', (name, flags, qemuArgs) => {
  const exe = path.join(tmp, `simd-${name.replace('+', '-')}`);
  execFileSync('aarch64-linux-gnu-g++', [
    '-std=c++17',
    '-O2',
    '-static',
    ...flags,
    '-o',
    exe,
    ...common,
    path.join(root, 'native/cpu/vec_dot_neon.cc'),
  ]);
  const out = runBinary('qemu-aarch64', [...qemuArgs, exe]);
  expect(out).toContain(`ok ${name} q6_K`);
  expect(out).toContain('0 failures');
});

const x64 = process.arch === 'x64';
(x64 ? test : test.skip)('AVX2 kernels match the scalar kernels', () => {
  const defs = ['-std=c++17', '-O2', '-DMM_HAVE_AVX2_KERNELS'];
  const objs = ['vec_dot_avx2', 'vec_dot_lowbit_avx2'].map((f) => {
    const o = path.join(tmp, `${f}.o`);
    execFileSync('g++', [...defs, '-mavx2', '-mfma', '-mf16c', '-c', '-o', o, path.join(root, `native/cpu/${f}.cc`)]);
    return o;
  });
  const exe = path.join(tmp, 'simd-avx2');
  execFileSync('g++', [...defs, '-o', exe, ...common, ...objs, '-lpthread']);
  const out = runBinary(exe, []);
  expect(out).toMatch(/0 failures/);
  // The q8_0 KV cache's value accumulation (attention vector ops) where the CPU has AVX2.
  if (!out.includes('skip: this CPU has no AVX2')) expect(out).toContain('ok avx2 accum_rows_q8_0');
});
