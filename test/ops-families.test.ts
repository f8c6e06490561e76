/**
 * The ops the Gemma / Phi-3 families and embeddings added — geglu, scale, softcap,
 * attention with a sliding window and soft-capped scores, rope with attnFactor, pool — on the
 * CPU backend (AVX2 and scalar, 1 and 2 threads) against float64 references,
 * and on metal-sim-strict (the Metal kernels, no CPU fallback) against the CPU.
 * Tolerances: geglu 1e-6 relative + 1e-7 (float32 exp / tanh); scale exact;
 * softcap 2e-6 * c (the vector form c * (1 - 2 / (1 + e^(2x/c)))); attention
 * 1e-5 * max|v| (as ops-core); rope: 5e-4 * attnFactor (ops-core's bound).
 * metal-sim vs CPU: geglu 2e-6 relative + 1e-7, softcap 2e-6 * c, attention
 * 2e-5 * max|v| + 1e-6, rope 2e-6 (as metal-kernels.test.ts), pool mean 1e-6 relative
 * (float sum on the kernel, double on the CPU), first / last row exact.
 */
import { Backend } from '../lib/backend';
import { native, type NativeBackend } from '../lib/native';
import { attention, geglu, rope, scale, softcap } from '../lib/ops';
import { attentionReference, floatToHalf, fround, geluTanh, halfToFloat, randomFloats } from './helpers/reference';
import { expectClose, maxAbs } from './helpers/close';

const be1 = Backend.create('cpu', { threads: 1 });
const be2 = Backend.create('cpu', { threads: 2 });
const BackendCtor = Backend as unknown as new (name: string, nb: NativeBackend) => Backend;
const sim = new BackendCtor('metal-sim', native().createBackend('metal-sim-strict', { threads: 2 }));
afterAll(() => {
  native().setCpuSimd('auto');
  return Promise.all([be1.dispose(), be2.dispose(), sim.dispose()]);
});

// Attention cases: [nHead, nKv, D, n, past, window, softcap]. On x86 several rows with
// head_dim % 16 == 0 take the AVX2 block path (key chunks of 64); one row the decode path.
const ATTN_CASES = [
  [4, 1, 64, 1, 40, 16, 0],
  [4, 1, 64, 54, 0, 16, 0],
  [8, 2, 32, 70, 100, 33, 0],
  [6, 3, 64, 9, 5, 4, 0],
  [4, 4, 8, 3, 10, 0, 50],
  [8, 2, 32, 20, 90, 64, 30],
  [4, 1, 64, 1, 200, 0, 5],
  [2, 2, 128, 12, 0, 1, 0],
] as const;

function attnInputs(c: readonly [number, number, number, number, number, ...number[]], half: boolean) {
  const [nHead, nKv, D, n, past] = c;
  const q = randomFloats(n * nHead * D, nHead + D + n, 2);
  const kf = randomFloats((past + n) * nKv * D, 2 + D + past, 2);
  const vf = randomFloats((past + n) * nKv * D, 3 + D + past, 1);
  const kc = half ? Uint16Array.from(kf, floatToHalf) : kf;
  const vc = half ? Uint16Array.from(vf, floatToHalf) : vf;
  const kr = half ? Array.from(kc, halfToFloat) : kf;
  const vr = half ? Array.from(vc, halfToFloat) : vf;
  return { q, kc, vc, kr, vr };
}

describe.each(['auto', 'scalar'] as const)('CPU (%s SIMD)', (simd) => {
  beforeAll(() => native().setCpuSimd(simd));

  test('geglu: gelu_tanh(gate) * up, including large |gate|', () => {
    const g = randomFloats(9 * 37, 1, 6);
    g[0] = 30;
    g[1] = -30;
    g[2] = 0;
    const u = randomFloats(9 * 37, 2, 3);
    for (const backend of [be1, be2]) {
      const want = Array.from(g, (x, i) => geluTanh(x) * u[i]!);
      expectClose(geglu(g, u, { backend }), want, (i) => 1e-6 * Math.abs(want[i]!) + 1e-7, 'geglu');
    }
  });

  test('scale and softcap', () => {
    const x = randomFloats(1000, 4, 80);
    expectClose(
      scale(x, 16, { backend: be2 }),
      Array.from(x, (v) => fround(v * 16)),
      () => 0,
      'scale',
    );
    for (const c of [30, 50, 0.5]) {
      const want = Array.from(x, (v) => c * Math.tanh(v / c));
      expectClose(softcap(x, c, { backend: be2 }), want, () => 2e-6 * c, `softcap ${c}`);
    }
  });

  test.each([
    ['f32', false],
    ['f16', true],
  ] as const)('attention with a sliding window and soft-capped scores, %s cache', (_name, half) => {
    for (const c of ATTN_CASES) {
      const [nHead, nKv, D, n, past, window, cap] = c;
      const { q, kc, vc, kr, vr } = attnInputs(c, half);
      const want = attentionReference(q, kr, vr, {
        n,
        nPast: past,
        nHead,
        nKvHead: nKv,
        headDim: D,
        window,
        softcap: cap,
      });
      for (const backend of [be1, be2]) {
        const opts = { nHead, nKvHead: nKv, headDim: D, nPast: past, window, softcap: cap, backend };
        const got = attention(q, kc, vc, opts);
        const tol = 1e-5 * maxAbs(vr);
        expectClose(got, want, () => tol, `attention ${JSON.stringify(c)}`);
      }
    }
  });

  test('rope with attnFactor scales cos and sin (partial rotary, neox)', () => {
    const nHead = 3,
      headDim = 16,
      nRot = 8,
      n = 5;
    const x = randomFloats(n * nHead * headDim, 7, 1);
    const pos = Int32Array.from([0, 1, 7, 50, 151]);
    const a = 1.19;
    const got = rope(x, pos, { nHead, headDim, nRot, mode: 'neox', freqBase: 10000, attnFactor: a, backend: be2 });
    for (let r = 0; r < n; r++)
      for (let h = 0; h < nHead; h++) {
        const o = r * nHead * headDim + h * headDim;
        for (let i = 0; i < nRot / 2; i++) {
          const t = pos[r]! * Math.pow(10000, (-2 * i) / nRot);
          const x0 = x[o + i]!,
            x1 = x[o + i + nRot / 2]!;
          expect(Math.abs(got[o + i]! - a * (x0 * Math.cos(t) - x1 * Math.sin(t)))).toBeLessThan(5e-4 * a);
          expect(Math.abs(got[o + i + nRot / 2]! - a * (x0 * Math.sin(t) + x1 * Math.cos(t)))).toBeLessThan(5e-4 * a);
        }
        for (let i = nRot; i < headDim; i++) expect(got[o + i]).toBe(x[o + i]); // the unrotated tail
      }
  });
});

// Ring caches (sliding-window layers): [nHead, nKv, D, n, past, window, softcap, ring]. The keys
// wrap the ring; ring = window + n - 1 is the smallest that holds what the step's first query sees.
// Paths on x86: AVX2 block prefill (several rows, D % 16 == 0), flash decode over an f16 cache
// (one row; the last case splits its 1500 keys over two ranges on two threads), the per-row loop
// (f32 caches, D % 8 != 0 or too large a group).
const RING_CASES = [
  [4, 1, 64, 1, 200, 16, 0, 16],
  [4, 1, 64, 1, 203, 16, 0, 40],
  [4, 1, 64, 54, 100, 16, 0, 69],
  [8, 2, 32, 70, 300, 33, 30, 130],
  [6, 3, 64, 9, 50, 4, 0, 12],
  [4, 4, 8, 3, 40, 5, 50, 7],
  [32, 1, 32, 5, 77, 20, 0, 24],
  [2, 1, 64, 1, 3000, 1500, 0, 1600],
] as const;

/** The full cache's rows the ring keeps at row p % ring; the rest NaN (read by mistake, they show). */
function ringOf(
  full: Float32Array | Uint16Array,
  kvCols: number,
  end: number,
  ring: number,
): Float32Array | Uint16Array {
  const r =
    full instanceof Float32Array
      ? new Float32Array(ring * kvCols).fill(NaN)
      : new Uint16Array(ring * kvCols).fill(0x7e00);
  for (let p = Math.max(0, end - ring); p < end; p++)
    r.set(full.subarray(p * kvCols, (p + 1) * kvCols), (p % ring) * kvCols);
  return r;
}

describe.each(['auto', 'avx2', 'avx-vnni', 'scalar'] as const)('ring KV caches, CPU (%s SIMD)', (simd) => {
  beforeAll(() => native().setCpuSimd(simd));
  test.each([
    ['f32', false],
    ['f16', true],
  ] as const)('attention over a wrapped ring equals the full cache, %s', (_name, half) => {
    for (const c of RING_CASES) {
      const [nHead, nKv, D, n, past, window, cap, ring] = c;
      const { q, kc, vc, kr, vr } = attnInputs([nHead, nKv, D, n, past, window, cap], half);
      const kvCols = nKv * D;
      const want = attentionReference(q, kr, vr, {
        n,
        nPast: past,
        nHead,
        nKvHead: nKv,
        headDim: D,
        window,
        softcap: cap,
      });
      for (const backend of [be1, be2]) {
        const opts = { nHead, nKvHead: nKv, headDim: D, nPast: past, window, softcap: cap, backend };
        const full = attention(q, kc, vc, opts);
        const got = attention(q, ringOf(kc, kvCols, past + n, ring), ringOf(vc, kvCols, past + n, ring), {
          ...opts,
          ring,
        });
        const tol = 1e-5 * maxAbs(vr);
        expectClose(got, want, () => tol, `ring attention ${JSON.stringify(c)}`);
        // The same keys in the same order, scored in the same runs: the same bits.
        expectClose(got, full, () => 0, `ring vs full ${JSON.stringify(c)}`);
      }
    }
  });
});

describe('metal-sim kernels against the CPU', () => {
  beforeAll(() => native().setCpuSimd('auto'));
  test('geglu, scale, softcap', () => {
    const g = randomFloats(5 * 300, 11, 6);
    const u = randomFloats(5 * 300, 12, 3);
    const want = geglu(g, u, { backend: be2 });
    expectClose(geglu(g, u, { backend: sim }), want, (i) => 2e-6 * Math.abs(want[i]!) + 1e-7, 'geglu');
    expectClose(scale(g, 0.125, { backend: sim }), scale(g, 0.125, { backend: be2 }), () => 0, 'scale');
    const x = randomFloats(700, 13, 90);
    expectClose(softcap(x, 30, { backend: sim }), softcap(x, 30, { backend: be2 }), () => 2e-6 * 30, 'softcap');
  });

  test.each([
    ['f32', false],
    ['f16', true],
  ] as const)('attention (decode and prefill kernels) with windows and softcap, %s cache', (_name, half) => {
    for (const c of ATTN_CASES) {
      const [nHead, nKv, D, , past, window, cap] = c;
      const { q, kc, vc, vr } = attnInputs(c, half);
      const opts = { nHead, nKvHead: nKv, headDim: D, nPast: past, window, softcap: cap };
      const want = attention(q, kc, vc, { ...opts, backend: be2 });
      const got = attention(q, kc, vc, { ...opts, backend: sim });
      const tol = 2e-5 * maxAbs(vr) + 1e-6;
      expectClose(got, want, () => tol, `metal-sim attention ${JSON.stringify(c)}`);
    }
  });

  test.each([
    ['f32', false],
    ['f16', true],
  ] as const)('attention over a wrapped ring cache (decode and prefill kernels), %s', (_name, half) => {
    for (const c of RING_CASES.slice(0, 7)) {
      const [nHead, nKv, D, n, past, window, cap, ring] = c;
      const { q, kc, vc, vr } = attnInputs([nHead, nKv, D, n, past, window, cap], half);
      const kvCols = nKv * D;
      const opts = { nHead, nKvHead: nKv, headDim: D, nPast: past, window, softcap: cap };
      const want = attention(q, kc, vc, { ...opts, backend: be2 });
      const rk = ringOf(kc, kvCols, past + n, ring);
      const rv = ringOf(vc, kvCols, past + n, ring);
      const got = attention(q, rk, rv, { ...opts, ring, backend: sim });
      const tol = 2e-5 * maxAbs(vr) + 1e-6;
      expectClose(got, want, () => tol, `metal-sim ring attention ${JSON.stringify(c)}`);
    }
  });

  test('pool (mean, first, last row) on the kernels', () => {
    const cols = 300,
      n = 37;
    const x = randomFloats(64 * cols, 5, 2);
    const run = (backend: Backend, pooling: 1 | 2 | 3): Float32Array => {
      const b = backend.allocate(64 * cols * 4 + cols * 4);
      const g = backend.createGraph({
        tensors: [
          { buffer: b, offset: 0, type: 0, cols, rows: 0, rowsPerToken: 1 },
          { buffer: b, offset: 64 * cols * 4, type: 0, cols, rows: 1 },
        ],
        nodes: [{ op: 'pool', src: [0], dst: 1, params: { pooling } }],
        maxTokens: 64,
      });
      const out = new Float32Array(cols);
      const inputs = [{ tensor: 0, data: x.subarray(0, n * cols) }];
      g.runSync({ nTokens: n, nPast: 0, inputs, outputs: [{ tensor: 1, data: out }] });
      g.dispose();
      b.dispose();
      return out;
    };
    const want = run(be2, 1);
    expectClose(run(sim, 1), want, (i) => 1e-6 * (1 + Math.abs(want[i]!)), 'pool mean');
    expect(Array.from(run(sim, 2))).toEqual(Array.from(run(be2, 2)));
    expect(Array.from(run(sim, 3))).toEqual(Array.from(run(be2, 3)));
  });

  test('rope with attnFactor', () => {
    const x = randomFloats(6 * 4 * 32, 21, 1);
    const pos = Int32Array.from([0, 3, 9, 100, 4000, 12]);
    const o = { nHead: 4, headDim: 32, nRot: 16, mode: 'neox' as const, freqBase: 10000, attnFactor: 1.2 };
    expectClose(rope(x, pos, { ...o, backend: sim }), rope(x, pos, { ...o, backend: be2 }), () => 2e-6, 'rope');
  });
});

describe('bad arguments', () => {
  const err = (f: () => unknown): { code?: string; message: string } => {
    try {
      f();
    } catch (e) {
      return e as { code?: string; message: string };
    }
    throw new Error('did not throw');
  };
  const q = new Float32Array(8);
  const base = { nHead: 1, nKvHead: 1, headDim: 8, nPast: 0 };

  test('kernel-level functions say what is wrong', () => {
    expect(err(() => attention(q, q, q, { ...base, window: -1 })).message).toBe(
      'window must be a non-negative integer, got -1',
    );
    expect(err(() => attention(q, q, q, { ...base, softcap: -1 })).message).toBe(
      'softcap must be a finite number >= 0, got -1',
    );
    expect(err(() => softcap(q, 0)).message).toBe('c must be a positive finite number, got 0');
    expect(err(() => scale(q, NaN)).message).toBe('s must be a finite number, got NaN');
    expect(err(() => geglu(q, new Float32Array(4))).code).toBe('ERR_INVALID_ARG');
    const pos = Int32Array.of(0);
    expect(err(() => rope(q, pos, { nHead: 1, headDim: 8, attnFactor: 0 })).message).toBe(
      'attnFactor must be a positive finite number, got 0',
    );
  });

  test('native re-checks graph parameters', () => {
    const b = be1.allocate(1024);
    const t = (cols: number, rows: number, offset = 0): object => ({ buffer: b, offset, type: 0, cols, rows });
    const code = (nodes: object[]): string | undefined =>
      err(() => be1.createGraph({ tensors: [t(8, 1), t(8, 1, 64), t(8, 1, 128)], nodes, maxTokens: 1 } as never)).code;
    const attn = (params: object): object[] => [
      { op: 'attention', src: [0, 1, 2], dst: 0, params: { nHead: 1, nKvHead: 1, headDim: 8, ...params } },
    ];
    expect(code(attn({ window: -1 }))).toBe('ERR_INVALID_ARG');
    expect(code(attn({ softcap: -2 }))).toBe('ERR_INVALID_ARG');
    expect(code(attn({ softcap: Infinity }))).toBe('ERR_INVALID_ARG');
    expect(code([{ op: 'softcap', src: [0], dst: 0, params: { softcap: 0 } }])).toBe('ERR_INVALID_ARG');
    expect(code([{ op: 'scale', src: [0], dst: 0, params: { scale: NaN } }])).toBe('ERR_INVALID_ARG');
    expect(code([{ op: 'geglu', src: [0, 1, 2], dst: 0 }])).toBe('ERR_INVALID_ARG'); // arity
  });
});

test('pool: mean (float64 sum), first and last of the step rows; every SIMD level and thread count', () => {
  const cols = 37;
  for (const backend of [be1, be2]) {
    for (const n of [1, 5, 64]) {
      const x = randomFloats(64 * cols, n, 3);
      const b = backend.allocate(64 * cols * 4 + cols * 4);
      const spec = (pooling: 1 | 2 | 3): object => ({
        tensors: [
          { buffer: b, offset: 0, type: 0, cols, rows: 0, rowsPerToken: 1 },
          { buffer: b, offset: 64 * cols * 4, type: 0, cols, rows: 1 },
        ],
        nodes: [{ op: 'pool', src: [0], dst: 1, params: { pooling } }],
        maxTokens: 64,
      });
      const run = (pooling: 1 | 2 | 3): Float32Array => {
        const g = backend.createGraph(spec(pooling) as never);
        const out = new Float32Array(cols);
        g.runSync({
          nTokens: n,
          nPast: 0,
          inputs: [{ tensor: 0, data: x.subarray(0, n * cols) }],
          outputs: [{ tensor: 1, data: out }],
        });
        g.dispose();
        return out;
      };
      const mean = Array.from({ length: cols }, (_, c) => {
        let s = 0;
        for (let r = 0; r < n; r++) s += x[r * cols + c]!;
        return fround(s / n);
      });
      expectClose(run(1), mean, () => 0, `pool mean n=${n}`);
      expect(Array.from(run(2))).toEqual(Array.from(x.subarray(0, cols)));
      expect(Array.from(run(3))).toEqual(Array.from(x.subarray((n - 1) * cols, n * cols)));
      b.dispose();
    }
  }
  const b = be1.allocate(256);
  expect(() =>
    be1.createGraph({
      tensors: [
        { buffer: b, offset: 0, type: 0, cols: 4, rows: 2 },
        { buffer: b, offset: 64, type: 0, cols: 4, rows: 1 },
      ],
      nodes: [{ op: 'pool', src: [0], dst: 1, params: { pooling: 4 } }],
      maxTokens: 1,
    } as never),
  ).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }) as Error);
});
