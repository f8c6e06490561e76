/**
 * Every non-matmul CPU op against the scalar TS reference on random inputs of
 * awkward sizes. Tolerances (stated per op) cover float32 vs float64 rounding:
 *   get_rows: exact (same dequantization); rms_norm, add, mul, swiglu: 1e-6 relative;
 *   rope: 5e-4 absolute for |x| <= 1 at positions up to 151 (ggml's float32 cumulative angle);
 *   softmax: 1e-6 absolute; attention: 1e-5 * max|v| (f16 cache: values rounded to f16 first).
 */
import { Backend } from '../lib/backend';
import { add, attention, getRows, mul, rmsNorm, rope, softmax, storeRows, swiglu } from '../lib/ops';
import {
  WEIGHT_TYPES,
  bf16ToFloat,
  TYPES,
  dequantize,
  floatToBf16,
  floatToHalf,
  fround,
  halfToFloat,
  quantize,
  randomFloats,
  rng,
} from './helpers/reference';
import { expectClose } from './helpers/close';

const be1 = Backend.create('cpu', { threads: 1 });
const be2 = Backend.create('cpu', { threads: 2 });
afterAll(() => Promise.all([be1.dispose(), be2.dispose()]));

describe.each(WEIGHT_TYPES)('get_rows %s', (t) => {
  test('matches the reference dequantization exactly', () => {
    const cols = TYPES[t].block === 256 ? 512 : TYPES[t].block === 32 ? 96 : 45;
    const rows = 23;
    const data = quantize(t, randomFloats(rows * cols, 5, 3), 5);
    const ref = dequantize(t, data, rows * cols);
    const ids = Int32Array.from([22, 0, 7, 7, 13]);
    for (const backend of [be1, be2]) {
      const got = getRows({ data, type: t, rows, cols }, ids, { backend });
      const want: number[] = [];
      for (const id of ids) for (let c = 0; c < cols; c++) want.push(fround(ref[id * cols + c]!));
      expectClose(got, want, (i) => 1e-6 * Math.abs(want[i]!), `get_rows ${t}`);
    }
  });
});

test('rms_norm with and without weight, odd sizes', () => {
  for (const [rows, cols] of [
    [1, 1],
    [3, 7],
    [17, 333],
    [64, 64],
  ] as const) {
    const x = randomFloats(rows * cols, rows + cols, 4);
    const w = randomFloats(cols, 3);
    for (const weight of [undefined, w]) {
      const got = rmsNorm(x, cols, { eps: 1e-6, weight, backend: be2 });
      const want = new Float64Array(rows * cols);
      for (let r = 0; r < rows; r++) {
        let ss = 0;
        for (let c = 0; c < cols; c++) ss += x[r * cols + c]! ** 2;
        const s = 1 / Math.sqrt(ss / cols + 1e-6);
        for (let c = 0; c < cols; c++) want[r * cols + c] = x[r * cols + c]! * s * (weight ? weight[c]! : 1);
      }
      expectClose(got, want, (i) => 1e-6 * Math.abs(want[i]!) + 1e-7, 'rms_norm');
    }
  }
});

function ropeRef(
  x: Float32Array,
  pos: Int32Array,
  nHead: number,
  headDim: number,
  nRot: number,
  neox: boolean,
  base: number,
  freqScale: number,
  ff?: Float32Array,
): Float64Array {
  const y = Float64Array.from(x);
  const cols = nHead * headDim;
  for (let r = 0; r < pos.length; r++) {
    for (let h = 0; h < nHead; h++) {
      for (let i = 0; i < nRot / 2; i++) {
        let theta = pos[r]! * Math.pow(base, (-2 * i) / nRot) * freqScale;
        if (ff) theta /= ff[i]!;
        const [i0, i1] = neox ? [i, i + nRot / 2] : [2 * i, 2 * i + 1];
        const o = r * cols + h * headDim;
        const a = x[o + i0]!,
          b = x[o + i1]!;
        y[o + i0] = a * Math.cos(theta) - b * Math.sin(theta);
        y[o + i1] = a * Math.sin(theta) + b * Math.cos(theta);
      }
    }
  }
  return y;
}

test.each([
  ['normal', false],
  ['neox', true],
] as const)('rope %s: full and partial rotation, freq scale and factors', (mode, neox) => {
  const r = rng(7);
  for (const [nHead, headDim, nRot] of [
    [3, 8, 8],
    [2, 64, 64],
    [4, 10, 6],
  ] as const) {
    const n = 5;
    const x = randomFloats(n * nHead * headDim, nHead * headDim);
    const pos = Int32Array.from({ length: n }, (_, i) => i * 37 + 3);
    const ff = Float32Array.from({ length: nRot / 2 }, () => 1 + r() * 4);
    for (const [freqScale, factors] of [
      [1, undefined],
      [0.25, ff],
    ] as const) {
      const got = rope(x, pos, {
        nHead,
        headDim,
        nRot,
        mode,
        freqBase: 10000,
        freqScale,
        freqFactors: factors,
        backend: be2,
      });
      const want = ropeRef(x, pos, nHead, headDim, nRot, neox, 10000, freqScale, factors);
      // ggml's cumulative float32 angle (theta *= scale per pair) drifts by ~pos * i * 6e-8 rad: 3e-4 at pos 151
      expectClose(got, want, () => 5e-4, `rope ${mode}`);
    }
  }
});

test('softmax plain and causal with nPast', () => {
  for (const [rows, cols, past, causal] of [
    [1, 1, 0, false],
    [4, 37, 0, false],
    [5, 12, 7, true],
    [3, 3, 0, true],
  ] as const) {
    const x = randomFloats(rows * cols, cols, 6);
    const got = softmax(x, cols, { scale: 0.7, causal, nPast: past, backend: be2 });
    const want = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      const vis = causal ? Math.min(cols, past + r + 1) : cols;
      let mx = -Infinity,
        sum = 0;
      for (let c = 0; c < vis; c++) mx = Math.max(mx, x[r * cols + c]! * 0.7);
      for (let c = 0; c < vis; c++) sum += Math.exp(x[r * cols + c]! * 0.7 - mx);
      for (let c = 0; c < vis; c++) want[r * cols + c] = Math.exp(x[r * cols + c]! * 0.7 - mx) / sum;
    }
    expectClose(got, want, () => 1e-6, 'softmax');
  }
});

function attentionRef(
  q: Float32Array,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  n: number,
  past: number,
  nHead: number,
  nKv: number,
  D: number,
): Float64Array {
  const out = new Float64Array(n * nHead * D);
  const scale = 1 / Math.sqrt(D);
  for (let i = 0; i < n; i++) {
    for (let h = 0; h < nHead; h++) {
      const kvh = Math.floor(h / (nHead / nKv));
      const nk = past + i + 1;
      const s = new Float64Array(nk);
      let mx = -Infinity;
      for (let j = 0; j < nk; j++) {
        let d = 0;
        for (let c = 0; c < D; c++) d += q[i * nHead * D + h * D + c]! * k[j * nKv * D + kvh * D + c]!;
        s[j] = d * scale;
        mx = Math.max(mx, s[j]!);
      }
      let sum = 0;
      for (let j = 0; j < nk; j++) sum += s[j] = Math.exp(s[j]! - mx);
      for (let c = 0; c < D; c++) {
        let acc = 0;
        for (let j = 0; j < nk; j++) acc += s[j]! * v[j * nKv * D + kvh * D + c]!;
        out[i * nHead * D + h * D + c] = acc / sum;
      }
    }
  }
  return out;
}

test.each([
  ['f32', false],
  ['f16', true],
] as const)('attention with a %s cache: GQA ratios, nPast, several query rows', (_name, half) => {
  // (Several rows with head_dim % 16 == 0 take the block kernel on x86: key chunks of 64 with
  // the causal limit inside a chunk, uneven query blocks. One row over an f16 cache: by KV head
  // and key range, long contexts split over the threads.)
  for (const [nHead, nKv, D, n, past] of [
    [4, 4, 8, 1, 0],
    [8, 2, 16, 1, 40],
    [6, 3, 64, 7, 5],
    [4, 1, 32, 9, 0],
    [9, 3, 64, 70, 100],
    [8, 2, 32, 13, 3],
    [2, 2, 128, 20, 0],
    // decode over a long cache: key ranges split over the threads (flash-decoding), joined by their maxima
    [9, 3, 64, 1, 1600],
    [32, 8, 64, 1, 700],
    [4, 1, 32, 1, 1100],
  ] as const) {
    const q = randomFloats(n * nHead * D, nHead + D, 1);
    const kf = randomFloats((past + n) * nKv * D, 2 + D, 1);
    const vf = randomFloats((past + n) * nKv * D, 3 + D, 1);
    const kc = half ? Uint16Array.from(kf, floatToHalf) : kf;
    const vc = half ? Uint16Array.from(vf, floatToHalf) : vf;
    const kr = half ? Array.from(kc, halfToFloat) : kf;
    const vr = half ? Array.from(vc, halfToFloat) : vf;
    for (const backend of [be1, be2]) {
      const got = attention(q, kc, vc, { nHead, nKvHead: nKv, headDim: D, nPast: past, backend });
      const want = attentionRef(q, kr, vr, n, past, nHead, nKv, D);
      expectClose(got, want, () => 1e-5, `attention ${nHead}/${nKv} D=${D} n=${n} past=${past}`);
    }
  }
});

test('swiglu, add, mul (with a broadcast row)', () => {
  const cols = 37,
    rows = 9;
  const a = randomFloats(rows * cols, 1, 5),
    b = randomFloats(rows * cols, 2, 5),
    row = randomFloats(cols, 3);
  const silu = (g: number): number => g / (1 + Math.exp(-g));
  expectClose(
    swiglu(a, b, { backend: be2 }),
    Array.from(a, (g, i) => silu(g) * b[i]!),
    (i) => 1e-6 * (1 + Math.abs(silu(a[i]!) * b[i]!)),
    'swiglu',
  );
  expectClose(
    add(a, b, cols, { backend: be2 }),
    Array.from(a, (x, i) => fround(x + b[i]!)),
    () => 0,
    'add',
  );
  expectClose(
    mul(a, b, cols, { backend: be2 }),
    Array.from(a, (x, i) => fround(x * b[i]!)),
    () => 0,
    'mul',
  );
  expectClose(
    add(a, row, cols, { backend: be2 }),
    Array.from(a, (x, i) => fround(x + row[i % cols]!)),
    () => 0,
    'add broadcast',
  );
  expectClose(
    mul(a, row, cols, { backend: be2 }),
    Array.from(a, (x, i) => fround(x * row[i % cols]!)),
    () => 0,
    'mul broadcast',
  );
});

test.each(['F32', 'F16', 'BF16'] as const)('store_rows into a %s cache at nPast', (type) => {
  const cols = 24,
    rows = 10,
    n = 3,
    past = 6;
  const bytes = type === 'F32' ? 4 : 2;
  const cache = new Uint8Array(rows * cols * bytes).fill(0x11);
  const src = randomFloats(n * cols, 4, 3);
  const out = storeRows(src, { data: cache, type, rows, cols }, past, { backend: be1 });
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const o = (r * cols + c) * bytes;
      if (r < past || r >= past + n) {
        expect(out[o]).toBe(0x11); // untouched
        continue;
      }
      const x = src[(r - past) * cols + c]!;
      const got =
        type === 'F32'
          ? dv.getFloat32(o, true)
          : type === 'F16'
            ? halfToFloat(dv.getUint16(o, true))
            : bf16ToFloat(dv.getUint16(o, true));
      const want =
        type === 'F32' ? fround(x) : type === 'F16' ? halfToFloat(floatToHalf(x)) : bf16ToFloat(floatToBf16(x));
      expect(got).toBe(want);
    }
  }
});
