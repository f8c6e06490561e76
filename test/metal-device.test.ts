/**
 * The real `metal` backend against the CPU backend, on a Mac with an Apple7+
 * GPU (skipped everywhere else, with a message), so the first Mac run says
 * precisely what differs: every kernel family on random inputs (every weight
 * type through the decode, batched-decode and GEMM matmul paths; get_rows;
 * rms_norm; softmax; rope; attention, decode and prefill, f32 and f16 caches,
 * GQA; store_rows; add/mul/swiglu), then whole models against llama.cpp's
 * reference logits and the CPU backend's greedy continuations.
 *
 * The kernels run with no CPU fallback (createBackend's `fallback: false`), so
 * a node the plans refuse is an ERR_UNSUPPORTED, not a silent CPU result.
 *
 * Tolerances on the GPU (Metal compiles with fast math: exp/sin/cos are the
 * fast variants; sums run in another order than the CPU's): s = sum |x_k w_k|
 * of a matmul output, m = max |value| of the result.
 *   matmul: 2e-5 * s (f16/bf16 activations rounded on both sides; quantized
 *     weights meet activations on the CPU's q8_0 / q8_K grid on both sides,
 *     kernels/act_quant.h, its divisions corrected to exact under fast math),
 *     q4_1 / q5_1 4e-4 * s (the CPU's q8_1 block sums are fp16, see
 *     metal-kernels.test.ts);
 *   get_rows, store_rows, add, mul: exact; swiglu, rms_norm: 1e-5 relative;
 *   softmax: 1e-5 absolute; rope: 1e-5 * m (fast sin/cos at positions < 200);
 *   attention: 1e-4 * max|v| + 1e-6;
 *   whole models: the CPU backend's tolerances (helpers/model-tolerances.ts,
 *     which metal-sim meets), doubled.
 */
import * as fs from 'node:fs';
import { Backend } from '../lib/backend';
import { loadModel } from '../lib/model/model';
import { native, type NativeBackend } from '../lib/native';
import * as ops from '../lib/ops';
import { fixture, maxAbsDiff, refCases } from './helpers/model-refs';
import { LOGIT_TOL } from './helpers/model-tolerances';
import { dequantize, floatToHalf, quantize, randomFloats, type TypeName } from './helpers/reference';
import { maxAbs } from './helpers/close';

const hasMetal = Backend.available().includes('metal');
if (!hasMetal) console.warn('metal-device: no Metal GPU here; the real-Metal tests are skipped (they run on macOS)');
const d = hasMetal ? describe : describe.skip;

const BackendCtor = Backend as unknown as new (name: string, nb: NativeBackend) => Backend;
let gpu: Backend;
let cpu: Backend;
if (hasMetal) {
  beforeAll(() => {
    gpu = new BackendCtor('metal', native().createBackend('metal', { threads: 2, fallback: false }));
    cpu = Backend.create('cpu', { threads: 2 });
  });
  afterAll(() => Promise.all([gpu.dispose(), cpu.dispose()]));
}

/** Throws naming the first element out of tolerance and the largest difference. */
function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: (i: number) => number, what: string): void {
  expect(got.length).toBe(want.length);
  let worst = 0,
    at = -1;
  for (let i = 0; i < want.length; i++) {
    const diff = Math.abs(got[i]! - want[i]!);
    if (!(diff <= tol(i)) && (at < 0 || diff > worst)) {
      worst = diff;
      at = i;
    }
  }
  if (at >= 0) {
    throw new Error(`${what}: element ${at}: metal ${got[at]}, cpu ${want[at]} (|diff| ${worst} > ${tol(at)})`);
  }
}

const KERNEL_TYPES: TypeName[] = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q4_K', 'Q5_K', 'Q6_K'];

d('every kernel on the GPU against the CPU backend', () => {
  describe.each(KERNEL_TYPES)('matmul %s', (t) => {
    const k = t.endsWith('_K') ? 768 : t.startsWith('Q') ? 320 : 203;
    const m = 131;
    const data = quantize(t, randomFloats(m * k, 11, 1), 3);
    const w = dequantize(t, data, m * k);
    test.each([1, 3, 8, 37])('%i rows (matvec, batched matvec, GEMM)', (n) => {
      const x = randomFloats(n * k, 100 + n, 1);
      const weight = { data, type: t, rows: m, cols: k };
      const got = ops.matmul(x, weight, { backend: gpu });
      const want = ops.matmul(x, weight, { backend: cpu });
      const s = new Float64Array(n * m);
      for (let i = 0; i < n; i++)
        for (let j = 0; j < m; j++)
          for (let c = 0; c < k; c++) s[i * m + j]! += Math.abs(x[i * k + c]! * w[j * k + c]!);
      const rel = t === 'Q4_1' || t === 'Q5_1' ? 4e-4 : 2e-5;
      expectClose(got, want, (i) => rel * s[i]! + 1e-30, `matmul ${t} n=${n}`);
    });
  });

  test.each(KERNEL_TYPES)('get_rows %s: exact', (t) => {
    const cols = t.endsWith('_K') ? 512 : t.startsWith('Q') ? 96 : 45;
    const table = { data: quantize(t, randomFloats(23 * cols, 7, 2), 5), type: t, rows: 23, cols };
    const ids = Int32Array.from([22, 0, 7, 7, 13]);
    expect(Array.from(ops.getRows(table, ids, { backend: gpu }))).toEqual(
      Array.from(ops.getRows(table, ids, { backend: cpu })),
    );
  });

  test('rms_norm, softmax (causal, n_past), rope (normal, neox, freq factors)', () => {
    for (const [rows, cols] of [
      [3, 7],
      [5, 333],
      [2, 4096],
    ] as const) {
      const x = randomFloats(rows * cols, rows + cols, 3);
      const w = randomFloats(cols, 9, 1);
      const want = ops.rmsNorm(x, cols, { weight: w, backend: cpu });
      expectClose(
        ops.rmsNorm(x, cols, { weight: w, backend: gpu }),
        want,
        (i) => 1e-5 * Math.abs(want[i]!) + 1e-7,
        'rms_norm',
      );
      for (const o of [{}, { causal: true, nPast: 3, scale: 1.3 }]) {
        const sm = ops.softmax(x, cols, { ...o, backend: cpu });
        expectClose(ops.softmax(x, cols, { ...o, backend: gpu }), sm, () => 1e-5, `softmax ${cols}`);
      }
    }
    const positions = Int32Array.from([0, 1, 17, 64, 151]);
    for (const headDim of [64, 128]) {
      const x = randomFloats(5 * 4 * headDim, headDim, 1);
      for (const mode of ['normal', 'neox'] as const) {
        const o = { nHead: 4, headDim, nRot: headDim, mode, freqBase: 500000 };
        const want = ops.rope(x, positions, { ...o, backend: cpu });
        const m = maxAbs(want);
        expectClose(ops.rope(x, positions, { ...o, backend: gpu }), want, () => 1e-5 * m, `rope ${headDim} ${mode}`);
      }
    }
  });

  test.each([
    [4, 4, 64, 1, 0],
    [8, 2, 64, 1, 300],
    [8, 2, 64, 2, 1100], // keys split over threadgroups, merged by attn_combine_f32
    [8, 2, 128, 37, 0],
    [6, 2, 128, 9, 70],
  ] as const)(
    'attention n_head=%i n_kv_head=%i head_dim=%i, %i rows at n_past %i',
    (nHead, nKvHead, headDim, n, nPast) => {
      const q = randomFloats(n * nHead * headDim, 1, 1);
      const k = randomFloats((nPast + n) * nKvHead * headDim, 2, 1);
      const v = randomFloats((nPast + n) * nKvHead * headDim, 3, 1);
      const half = (x: Float32Array): Uint16Array => Uint16Array.from(x, (f) => floatToHalf(f));
      const o = { nHead, nKvHead, headDim, nPast };
      for (const [name, kc, vc] of [
        ['f32', k, v],
        ['f16', half(k), half(v)],
      ] as const) {
        const want = ops.attention(q, kc, vc, { ...o, backend: cpu });
        const got = ops.attention(q, kc, vc, { ...o, backend: gpu });
        expectClose(got, want, () => 1e-4 * maxAbs(v) + 1e-6, `attention ${name} cache`);
      }
    },
  );

  test('swiglu, add, mul; store_rows to f32/f16/bf16 caches', () => {
    const cols = 301;
    const a = randomFloats(4 * cols, 1, 6),
      b = randomFloats(4 * cols, 2, 3);
    const sw = ops.swiglu(a, b, { backend: cpu });
    expectClose(ops.swiglu(a, b, { backend: gpu }), sw, (i) => 1e-5 * Math.abs(sw[i]!) + 1e-30, 'swiglu');
    expect(Array.from(ops.add(a, b, cols, { backend: gpu }))).toEqual(
      Array.from(ops.add(a, b, cols, { backend: cpu })),
    );
    expect(Array.from(ops.mul(a, b, cols, { backend: gpu }))).toEqual(
      Array.from(ops.mul(a, b, cols, { backend: cpu })),
    );
    for (const type of ['F32', 'F16', 'BF16'] as const) {
      const cache = { data: new Uint8Array(ops.matrixBytes(type, 12, cols)), type, rows: 12, cols };
      expect(Buffer.from(ops.storeRows(a, cache, 5, { backend: gpu }))).toEqual(
        Buffer.from(ops.storeRows(a, cache, 5, { backend: cpu })),
      );
    }
  });
});

d('whole models on the GPU', () => {
  test('stories260K: logits within 0.04 of llama.cpp, greedy continuations as the reference', async () => {
    const model = await loadModel(fixture('models', 'stories260K.gguf'), { backend: 'metal', threads: 2 });
    try {
      expect(model.info.backend).toBe('metal');
      const ctx = model.createContext({ contextSize: 128 });
      for (const c of refCases('reference', 'stories260K.ref.json')) {
        const logits = await ctx.evaluate(c.tokens, { allLogits: true });
        const diff = maxAbsDiff(logits, c.logits, 512);
        expect({ case: c.text, maxDiff: diff.maxDiff < 0.04 ? 'ok' : diff.maxDiff }).toEqual({
          case: c.text,
          maxDiff: 'ok',
        });
        const g = await model.generate(c.tokens, { maxTokens: c.greedy.length, temperature: 0 });
        expect(g.tokens).toEqual(c.greedy);
      }
      await ctx.dispose();
    } finally {
      await model.dispose();
    }
  });

  const files = fs.existsSync(fixture('random'))
    ? fs.readdirSync(fixture('random')).filter((f) => /^tiny-(llama|qwen2|qwen3)-[a-z0-9_]+\.gguf$/.test(f))
    : [];
  test.each(files)('%s: logits against llama.cpp', async (file) => {
    const type = /-([a-z0-9_]+)\.gguf$/.exec(file)![1]!;
    const tol = 2 * LOGIT_TOL[type]!;
    const model = await loadModel(fixture('random', file), { backend: 'metal', threads: 2 });
    try {
      const ctx = model.createContext({ contextSize: 128 });
      for (const c of refCases('random', file.replace(/\.gguf$/, '.ref.json'))) {
        const logits = await ctx.evaluate(c.tokens, { allLogits: true });
        const diff = maxAbsDiff(logits, c.logits, model.info.vocabSize);
        expect({ file, maxDiff: diff.maxDiff < tol ? 'ok' : diff.maxDiff }).toEqual({ file, maxDiff: 'ok' });
      }
      await ctx.dispose();
    } finally {
      await model.dispose();
    }
  });
});
