/**
 * The SIMD dot-product kernels, the attention's row kernels (f16 and q8_0 KV
 * caches) and the elementwise and sampler ops (VecOps) against the scalar ones,
 * compiled as a small standalone binary (native/test/simd_kernels_test.cc):
 *  - arm64 NEON, with and without the sdot extension, cross-compiled with
 *    aarch64-linux-gnu-g++ and run under qemu-aarch64 (skipped with a message
 *    when those tools are absent; .ci/run installs them); and built as
 *    binding.gyp builds it (plain Armv8, the sdot q8_0 scores in their own
 *    +dotprod file chosen at run time) under CPUs with and without sdot;
 *  - x86-64 AVX2 and the AVX-512 f16 attention rows and prefill block
 *    attention (both levels, against a scalar softmax attention), and the AVX-512
 *    decode tiles on regrouped q4_0 / q8_0 weights (AVX2's bits), built and run natively.
 * And the arm64 prefill panels (native/test/panel_kernels_test.cc): the sdot
 * and i8mm levels against the scalar kernels for every weight type, each level
 * file compiled with its own -march as binding.gyp does and the rest plain
 * Armv8, run under qemu-aarch64 CPUs with and without those extensions.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.join(__dirname, '..');
const support = [
  'native/core/dtype.cc',
  'native/core/error.cc',
  'native/core/quants.cc',
  'native/cpu/vec_dot_scalar.cc',
  'native/cpu/cpu_features.cc',
].map((f) => path.join(root, f));
const common = [path.join(root, 'native/test/simd_kernels_test.cc'), ...support];
// The arm64 row kernels and VecOps (plain Armv8 in the addon).
const neonSources = [
  'native/cpu/vec_dot_neon.cc',
  'native/cpu/vec_ops_neon.cc',
  'native/cpu/attention_rows_neon.cc',
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
    ...neonSources,
  ]);
  const out = runBinary('qemu-aarch64', [...qemuArgs, exe]);
  expect(out).toContain(`ok ${name} q6_K`);
  expect(out).toContain(`ok ${name} attention rows`);
  expect(out).toContain(`ok ${name} vec ops`);
  expect(out).toContain('\n0 failures');
});

// binding.gyp's layout: everything plain Armv8 but attention_rows_neon_dotprod.cc
// (+dotprod), whose q8_0 scores run only where the CPU reports sdot.
(crossTools ? test.each : test.skip.each)([
  ['cortex-a53', false], // Armv8.0: Graviton 1, Raspberry Pi 3
  ['cortex-a76', true], // dotprod, no i8mm: Neoverse N1 / Graviton 2 class
  ['max', true],
] as const)(
  'NEON attention rows and vec ops as the addon builds them, under qemu-aarch64 -cpu %s',
  (cpu, dotprod) => {
    const exe = path.join(tmp, 'simd-neon-layout');
    if (!fs.existsSync(exe)) {
      const cxx = ['-std=c++17', '-O2', '-DMM_HAVE_NEON_PANELS'];
      const obj = path.join(tmp, 'attention_rows_neon_dotprod.o');
      execFileSync('aarch64-linux-gnu-g++', [
        ...cxx,
        '-march=armv8.2-a+dotprod',
        '-c',
        '-o',
        obj,
        path.join(root, 'native/cpu/attention_rows_neon_dotprod.cc'),
      ]);
      execFileSync('aarch64-linux-gnu-g++', [
        ...cxx,
        '-march=armv8-a',
        '-static',
        '-o',
        exe,
        ...common,
        ...neonSources,
        obj,
      ]);
    }
    const out = runBinary('qemu-aarch64', ['-cpu', cpu, exe]);
    expect(out).toContain('ok neon attention rows');
    expect(out).toContain('ok neon vec ops');
    if (dotprod) expect(out).toContain('ok neon-dotprod attention rows');
    else expect(out).toContain('skip neon-dotprod attention rows: no dotprod');
    expect(out).toContain('\n0 failures');
  },
  180_000,
);

// Every weight type has a panel kernel at both arm64 levels.
const PANEL_TYPES = [
  'f32',
  'f16',
  'bf16',
  'q4_0',
  'q4_1',
  'q5_0',
  'q5_1',
  'q8_0',
  'q4_K',
  'q5_K',
  'q6_K',
  'q2_K',
  'q3_K',
  'iq4_nl',
  'iq4_xs',
];

// One binary for every arm64 run below: the two level files with binding.gyp's
// flags, everything else for plain Armv8.0.
let panelExe: string | undefined;
function panelBinary(): string {
  if (panelExe) return panelExe;
  const cxx = ['-std=c++17', '-O2', '-DMM_HAVE_NEON_PANELS'];
  const objs = [
    ['gemm_neon_dotprod', '-march=armv8.2-a+dotprod'],
    ['gemm_neon_i8mm', '-march=armv8.2-a+dotprod+i8mm'],
  ].map(([f, march]) => {
    const o = path.join(tmp, `${f}.o`);
    execFileSync('aarch64-linux-gnu-g++', [...cxx, march!, '-c', '-o', o, path.join(root, `native/cpu/${f}.cc`)]);
    return o;
  });
  const exe = path.join(tmp, 'panels-arm64');
  const sources = ['native/test/panel_kernels_test.cc', 'native/cpu/gemm_panel.cc', 'native/cpu/gemm_neon.cc'];
  execFileSync('aarch64-linux-gnu-g++', [
    ...cxx,
    '-march=armv8-a',
    '-static',
    '-o',
    exe,
    ...sources.map((f) => path.join(root, f)),
    ...support,
    ...objs,
  ]);
  panelExe = exe;
  return exe;
}

function runPanels(cpu: string, simd?: string): string {
  const r = spawnSync('qemu-aarch64', ['-cpu', cpu, panelBinary()], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, MINIMACLLM_SIMD: simd ?? '' },
  });
  if (r.status !== 0) throw new Error(`panels under qemu -cpu ${cpu} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

(crossTools ? test : test.skip)(
  'neon-dotprod and neon-i8mm panels match the scalar kernels under qemu-aarch64 -cpu max',
  () => {
    const out = runPanels('max');
    expect(out).toContain('levels: dotprod i8mm\n');
    expect(out).toContain('simd neon-i8mm\n');
    for (const level of ['neon-dotprod', 'neon-i8mm'])
      for (const t of PANEL_TYPES) expect(out).toContain(`ok ${level} ${t}\n`);
    expect(out).toContain('\n0 failures');
  },
  180_000,
);

(crossTools ? test : test.skip)(
  'the panel level follows what the CPU reports and MINIMACLLM_SIMD',
  () => {
    // Neoverse N1 / Graviton 2 class: dotprod, no i8mm
    const a76 = runPanels('cortex-a76');
    expect(a76).toContain('levels: dotprod\n');
    expect(a76).toContain('simd neon-dotprod\n');
    for (const t of PANEL_TYPES) expect(a76).toContain(`ok neon-dotprod ${t}\n`);
    expect(a76).toContain('skip neon-i8mm');
    // Plain Armv8.0 (Graviton 1, Raspberry Pi 3): the row kernels; the binary runs there
    const a53 = runPanels('cortex-a53');
    expect(a53).toContain('levels:\n');
    expect(a53).toContain('simd neon\n');
    expect(a53).toContain('\n0 failures');
    expect(runPanels('max', 'neon-dotprod')).toContain('simd neon-dotprod\n');
    expect(runPanels('max', 'neon')).toContain('simd neon\n');
    expect(runPanels('max', 'scalar')).toContain('simd scalar\n');
  },
  180_000,
);

const x64 = process.arch === 'x64';
(x64 ? test : test.skip)('AVX2 and AVX-512 kernels and vec ops match the scalar ones', () => {
  const defs = ['-std=c++17', '-O2', '-DMM_HAVE_AVX2_KERNELS', '-DMM_HAVE_AVX512_KERNELS'];
  const avx2 = ['-mavx2', '-mfma', '-mf16c'];
  // binding.gyp's flags for each level's library
  const levels: [string, string[]][] = [
    ['vec_dot_avx2', avx2],
    ['vec_dot_lowbit_avx2', avx2],
    ['attention_rows_avx2', avx2],
    ['attention_avx2', avx2],
    ['attention_rows_avx512', [...avx2, '-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512vnni']],
    ['attention_block_avx512', [...avx2, '-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512vnni']],
    ['sampler_avx512', [...avx2, '-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512vnni']],
    ['regroup_x8_avx2', avx2],
    ['regroup_x8_avx512', [...avx2, '-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512vnni']],
    ['vec_dot_avx512', [...avx2, '-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512vnni']],
  ];
  const objs = levels.map(([f, flags]) => {
    const o = path.join(tmp, `${f}.o`);
    execFileSync('g++', [...defs, ...flags, '-c', '-o', o, path.join(root, `native/cpu/${f}.cc`)]);
    return o;
  });
  const exe = path.join(tmp, 'simd-avx2');
  execFileSync('g++', [...defs, '-o', exe, ...common, ...objs, '-lpthread']);
  const out = runBinary(exe, []);
  expect(out).toContain('\n0 failures');
  // The attention's row kernels (f16 and q8_0 KV caches) where the CPU has AVX2.
  if (!out.includes('skip: this CPU has no AVX2')) {
    expect(out).toContain('ok avx2 attention rows');
    expect(out).toContain('ok avx2 vec ops');
    // The prefill block attention (f16 and q8_0) against a scalar softmax attention.
    expect(out).toContain('ok avx2 attend block');
    // The q4_K / q5_K decode tiles (AVX2 and AVX-VNNI tables) against the AVX2 row kernels' bits.
    expect(out).toContain('ok avx2 k-quant tiles');
    // The f16 rows' AVX-512 kernels and the 512-bit block attention where the CPU has the avx512 level.
    if (!out.includes('skip avx512 attention rows')) {
      expect(out).toContain('ok avx512 attention rows');
      expect(out).toContain('ok avx512 vec ops'); // (the sampler's 16-lane passes against the scalar reference)
      expect(out).toContain('ok avx512 sampler bits'); // (and bit for bit the AVX2 passes)
      expect(out).toContain('ok avx512 softmax bits'); // (decode attention's scale_max / exp_sub_sum, AVX2's bits)
      expect(out).toContain('ok avx512 x8 tiles'); // (regrouped q4_0 / q8_0 decode tiles: AVX2's bits, and a reference dot)
      expect(out).toContain('ok avx512 k-quant tiles'); // (q2_K..q6_K / iq4_xs decode tiles: AVX2's bits, the scalar dot)
    }
    if (out.includes('skip avx512 attend block')) expect(out).toContain('skip avx512 attention rows');
    else expect(out).toContain('ok avx512 attend block');
  }
});
