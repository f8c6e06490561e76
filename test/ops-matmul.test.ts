/**
 * matmul for every weight type against the scalar TS reference.
 *
 * The CPU kernels round activations to 8-bit blocks (q8_0/q8_1/q8_K) for
 * quantized weights and to f16 / bf16 for F16 / BF16 weights, as llama.cpp does
 * (ggml's vec_dot_type). Two checks per output:
 *  - tight: against the reference computed with activations rounded the same
 *    way, |err| <= 1e-4 * sum|w*x| (only float summation order differs);
 *  - loose: against exact f32 math, |err| <= sum_k |w_k| * amax(block of x_k) / 127
 *    (the most 8-bit activation rounding can move it), sum_k |w_k * x_k| * 2^-11
 *    (f16; + 2^-25 * |w_k| for subnormal halves) or 2^-8 (bf16) for float
 *    weights, 0 for f32 weights; each plus 1e-5 * sum|w*x|.
 * Every kernel family runs, with 1 and 2 threads: 'auto' (on a CPU with AVX-512
 * VNNI, prefill shapes from 8 rows go through its repacked-panel GEMM),
 * 'avx-vnni' (256-bit VNNI tiles and panels), 'avx2' (plain AVX2, as on a Zen 3)
 * and 'scalar'; on arm64 'auto' (i8mm panels where the CPU has i8mm, else sdot
 * panels), 'neon-dotprod' and 'neon' (row kernels) instead of the x86 levels
 * (helpers/simd-levels.ts); on CPUs without an extension its mode is the same as 'auto'.
 */
import { Backend } from '../lib/backend';
import { cpuInfo, matmul, quantize as nativeQuantize } from '../lib/ops';
import { native } from '../lib/native';
import {
  TYPES,
  WEIGHT_TYPES,
  activationFormat,
  dequantize,
  quantize,
  quantizeActivations,
  blockMins,
  q8_1BlockSums,
  randomFloats,
  type Sabotage,
  type TypeName,
} from './helpers/reference';
import { CPU_SIMD_LEVELS } from './helpers/simd-levels';

const backends = [Backend.create('cpu', { threads: 1 }), Backend.create('cpu', { threads: 2 })];
afterAll(async () => {
  native().setCpuSimd('auto');
  await Promise.all(backends.map((b) => b.dispose()));
});

interface Expected {
  w: Uint8Array;
  x: Float32Array;
  bias: Float32Array;
  rounded: Float64Array; // [N, M] with activations rounded as the kernels round them
  exact: Float64Array; // [N, M] exact f32 math
  tight: Float64Array; // [N, M] allowed |got - rounded|
  loose: Float64Array; // [N, M] allowed |got - exact|
}

// The reference for one problem, computed once and shared by every kernel family.
const expectedCache = new Map<string, Expected>();
function expected(t: TypeName, M: number, K: number, N: number, seed: number, sabotage?: Sabotage): Expected {
  const key = `${t} ${M} ${K} ${N} ${seed} ${sabotage ?? ''}`;
  const hit = expectedCache.get(key);
  if (hit) return hit;
  const wf = randomFloats(M * K, seed, 0.5);
  const w = quantize(t, wf, seed);
  const wd = dequantize(t, w, M * K, sabotage);
  const x = randomFloats(N * K, seed + 1, 2);
  const bias = randomFloats(M, seed + 2);
  const e: Expected = {
    w,
    x,
    bias,
    rounded: new Float64Array(N * M),
    exact: new Float64Array(N * M),
    tight: new Float64Array(N * M),
    loose: new Float64Array(N * M),
  };
  const fmt = activationFormat(t);
  for (let n = 0; n < N; n++) {
    const xr = x.subarray(n * K, (n + 1) * K);
    const xq = quantizeActivations(fmt, xr);
    const block = fmt === 'q8_K' ? 256 : 32;
    const sums = fmt === 'q8_1' ? q8_1BlockSums(xr) : undefined;
    const mins = fmt === 'q8_1' ? blockMins(t as 'Q4_1' | 'Q5_1', w, (M * K) / 32) : undefined;
    for (let m = 0; m < M; m++) {
      let exact = bias[m]!,
        rounded = bias[m]!,
        mag = 0,
        bound = 0;
      for (let k = 0; k < K; k++) {
        const wk = wd[m * K + k]!;
        exact += wk * xr[k]!;
        rounded += wk * xq[k]!;
        mag += Math.abs(wk * xr[k]!);
      }
      if (sums && mins) {
        // q8_1: the m * x part uses the stored (fp16-rounded) block sum instead of the rounded values.
        rounded = bias[m]!;
        for (let b = 0; b < K / 32; b++) {
          const mb = mins[(m * K) / 32 + b]!;
          for (let k = 32 * b; k < 32 * b + 32; k++) rounded += (wd[m * K + k]! - mb) * xq[k]!;
          rounded += mb * sums[b]!;
        }
      }
      if (fmt === 'f16' || fmt === 'bf16') {
        for (let k = 0; k < K; k++) {
          const wk = Math.abs(wd[m * K + k]!);
          bound += fmt === 'f16' ? wk * (Math.abs(xr[k]!) * 2 ** -11 + 2 ** -25) : wk * Math.abs(xr[k]!) * 2 ** -8;
        }
      } else if (fmt !== 'f32') {
        for (let b = 0; b < K; b += block) {
          let amax = 0,
            wsum = 0;
          for (let k = b; k < b + block; k++) {
            amax = Math.max(amax, Math.abs(xr[k]!));
            wsum += Math.abs(wd[m * K + k]!);
          }
          bound += (wsum * amax) / 127;
        }
      }
      e.rounded[n * M + m] = rounded;
      e.exact[n * M + m] = exact;
      e.tight[n * M + m] = 1e-4 * mag + 1e-5;
      e.loose[n * M + m] = bound + 1e-5 * mag + 1e-5;
    }
  }
  expectedCache.set(key, e);
  return e;
}

function check(
  t: TypeName,
  M: number,
  K: number,
  N: number,
  seed: number,
  backend: Backend,
  sabotage?: Sabotage,
): void {
  const e = expected(t, M, K, N, seed, sabotage);
  const y = matmul(e.x, { data: e.w, type: t, rows: M, cols: K }, { backend, bias: e.bias });
  expect(y.length).toBe(N * M);
  for (let i = 0; i < N * M; i++) {
    const got = y[i]!;
    if (Math.abs(got - e.rounded[i]!) > e.tight[i]! || Math.abs(got - e.exact[i]!) > e.loose[i]!) {
      const [n, m] = [Math.floor(i / M), i % M];
      throw new Error(
        `${t} M=${M} K=${K} N=${N} [${n},${m}]: got ${got}, rounded-ref ${e.rounded[i]}, exact ${e.exact[i]}`,
      );
    }
  }
}

describe.each(WEIGHT_TYPES)('matmul %s', (t) => {
  const block = TYPES[t].block;
  // (32-blocks: an odd and an even count, since the AVX-512 decode tiles take blocks in pairs, and for the q4_0 /
  // iq4_nl tiles groups of four: 224 = a group, a pair and one block.)
  const Ks = block === 256 ? [256, 512, 768] : block === 32 ? [32, 224, 256] : [1, 37, 160];
  for (const simd of CPU_SIMD_LEVELS) {
    test(`${simd} kernels, decode and prefill shapes, 1 and 2 threads`, () => {
      native().setCpuSimd(simd);
      let seed = 11;
      for (const backend of backends)
        for (const K of Ks)
          for (const [M, N] of [
            [1, 1],
            [7, 1],
            [37, 5],
            [19, 17],
            [40, 8],
            [33, 21],
            [5, 12],
            // Plain AVX2 multiplies q4_0 panels in pairs (1 thread): a short second panel, 1 activation row left.
            [12, 10],
            [16, 13],
          ] as const)
            check(t, M, K, N, seed++, backend);
    });
  }
});

// The checks above must be able to fail: a reference that reads the wrong
// scale or bit plane of the low-bit types is caught at every kernel level, on
// decode (tile) and prefill (panel) shapes.
describe.each(['Q2_K', 'Q3_K', 'IQ4_NL', 'IQ4_XS'] as const)('matmul %s sabotaged reference', (t) => {
  test.each(['scale', 'bit'] as const)('a wrong %s index fails the check', (sabotage) => {
    for (const simd of CPU_SIMD_LEVELS) {
      native().setCpuSimd(simd);
      for (const [M, N] of [
        [7, 1],
        [19, 17],
      ] as const) {
        expect(() => check(t, M, 512, N, 3, backends[1]!)).not.toThrow();
        expect(() => check(t, M, 512, N, 3, backends[1]!, sabotage)).toThrow(/rounded-ref/);
      }
    }
  });
});

test('each kernel level is in use where the CPU has it', () => {
  native().setCpuSimd('auto');
  const { features, simd } = cpuInfo();
  expect(['avx512', 'avx-vnni', 'avx2', 'neon-i8mm', 'neon-dotprod', 'neon', 'scalar']).toContain(simd);
  if (features.includes('avx512vnni')) expect(simd).toBe('avx512');
  native().setCpuSimd('avx-vnni');
  if (features.includes('avx-vnni')) expect(native().cpuInfo().simd).toBe('avx-vnni');
  native().setCpuSimd('avx2');
  if (features.includes('avx2')) expect(native().cpuInfo().simd).toBe('avx2');
  // arm64: the i8mm panels where the CPU reports i8mm, else the sdot ones where it has dotprod
  native().setCpuSimd('auto');
  if (features.includes('i8mm')) expect(native().cpuInfo().simd).toBe('neon-i8mm');
  else if (features.includes('dotprod')) expect(native().cpuInfo().simd).toBe('neon-dotprod');
  native().setCpuSimd('neon-dotprod');
  if (features.includes('dotprod')) expect(native().cpuInfo().simd).toBe('neon-dotprod');
  native().setCpuSimd('neon');
  if (features.includes('neon')) expect(native().cpuInfo().simd).toBe('neon');
  native().setCpuSimd('auto');
  expect(() => native().setCpuSimd('avx9' as 'auto')).toThrow(/mode must be/);
});

test('native quantizers agree with the reference quantizers', () => {
  for (const t of ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'F16', 'BF16'] as const) {
    const x = randomFloats(32 * 20, 99, 3);
    const ours = nativeQuantize(t, x, 64);
    const ref = quantize(t, x);
    // Ties in rounding are the only allowed difference, and random floats have none.
    expect(Buffer.from(ours).equals(Buffer.from(ref))).toBe(true);
  }
});
