/**
 * The native ops of batched decoding, on the CPU: store_rows with a row index
 * (each row's key/value into its own slot) and attention with per-row spans
 * (each row over its own slot). Checked against a float64 reference (1e-5 ×
 * max|v|, f16 cache values rounded first) and bit for bit against the same
 * row run alone (batch invariance); bad indices are ERR_INVALID_ARG, never a
 * read or write out of bounds; matmul's rowwise param gives every row the
 * result it has alone. About 1 s.
 */
import { Backend, type TensorSpec } from '../lib/backend';
import { DType } from '../lib/dtype';
import { MiniMacLLMError } from '../lib/errors';
import { floatToHalf, halfToFloat, quantize, randomFloats, rng } from './helpers/reference';

const be = Backend.create('cpu', { threads: 2 });
afterAll(() => be.dispose());

const nHead = 8,
  nKv = 2,
  D = 64,
  slotRows = 40,
  slots = 4;
const kvCols = nKv * D,
  qCols = nHead * D;

/** A graph: new k/v rows stored at `rows`, then attention of q over `spans` of an f16 cache [slots*slotRows, kvCols]. */
function batchGraph(cacheK: Uint16Array, cacheV: Uint16Array, maxRows: number) {
  const cacheBytes = slots * slotRows * kvCols * 2;
  const kBuf = be.allocate(cacheBytes);
  const vBuf = be.allocate(cacheBytes);
  be.upload(kBuf, 0, cacheK);
  be.upload(vBuf, 0, cacheV);
  const per = (cols: number, type: number = DType.F32): TensorSpec => ({
    buffer: be.allocate(maxRows * cols * 4),
    offset: 0,
    type,
    cols,
    rows: 0,
    rowsPerToken: 1,
  });
  const cache = (buffer: TensorSpec['buffer']): TensorSpec => ({
    buffer,
    offset: 0,
    type: DType.F16,
    cols: kvCols,
    rows: slots * slotRows,
  });
  const tensors = [
    per(qCols),
    per(kvCols),
    per(kvCols),
    per(1, DType.I32),
    per(2, DType.I32),
    cache(kBuf),
    cache(vBuf),
    per(qCols),
  ];
  const graph = be.createGraph({
    tensors,
    nodes: [
      { op: 'store_rows', src: [1, 3], dst: 5 },
      { op: 'store_rows', src: [2, 3], dst: 6 },
      {
        op: 'attention',
        src: [0, 5, 6, 4],
        dst: 7,
        params: { nHead, nKvHead: nKv, headDim: D, scale: 1 / Math.sqrt(D) },
      },
    ],
    maxTokens: maxRows,
  });
  const run = async (
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    rows: Int32Array,
    spans: Int32Array,
  ): Promise<Float32Array> => {
    const out = new Float32Array(rows.length * qCols);
    await graph.run({
      nTokens: rows.length,
      nPast: 0,
      inputs: [
        { tensor: 0, data: q },
        { tensor: 1, data: k },
        { tensor: 2, data: v },
        { tensor: 3, data: rows },
        { tensor: 4, data: spans },
      ],
      outputs: [{ tensor: 7, data: out }],
    });
    return out;
  };
  const readCache = (): [Uint16Array, Uint16Array] => {
    const k = new Uint16Array(slots * slotRows * kvCols);
    const v = new Uint16Array(slots * slotRows * kvCols);
    be.download(kBuf, 0, k);
    be.download(vBuf, 0, v);
    return [k, v];
  };
  return { run, readCache, dispose: () => graph.dispose() };
}

function attendRef(q: Float32Array, k: Uint16Array, v: Uint16Array, first: number, n: number): Float64Array {
  const out = new Float64Array(qCols);
  for (let h = 0; h < nHead; h++) {
    const kvh = Math.floor(h / (nHead / nKv));
    const s = new Float64Array(n);
    let mx = -Infinity;
    for (let j = 0; j < n; j++) {
      let d = 0;
      for (let c = 0; c < D; c++) d += q[h * D + c]! * halfToFloat(k[(first + j) * kvCols + kvh * D + c]!);
      s[j] = d / Math.sqrt(D);
      mx = Math.max(mx, s[j]!);
    }
    let sum = 0;
    for (let j = 0; j < n; j++) sum += s[j] = Math.exp(s[j]! - mx);
    for (let c = 0; c < D; c++) {
      let acc = 0;
      for (let j = 0; j < n; j++) acc += s[j]! * halfToFloat(v[(first + j) * kvCols + kvh * D + c]!);
      out[h * D + c] = acc / sum;
    }
  }
  return out;
}

test('indexed store_rows + attention spans: reference, and each row equal to it alone', async () => {
  const cacheK = Uint16Array.from(randomFloats(slots * slotRows * kvCols, 11, 1), floatToHalf);
  const cacheV = Uint16Array.from(randomFloats(slots * slotRows * kvCols, 12, 1), floatToHalf);
  const g = batchGraph(cacheK, cacheV, slots);
  try {
    // Four sequences at positions 3, 17, 0, 39 of slots 2, 0, 3, 1.
    const slotOf = [2, 0, 3, 1],
      posOf = [3, 17, 0, 39];
    const n = 4;
    const q = randomFloats(n * qCols, 13, 1);
    const k = randomFloats(n * kvCols, 14, 1);
    const v = randomFloats(n * kvCols, 15, 1);
    const rows = Int32Array.from(slotOf.map((s, i) => s * slotRows + posOf[i]!));
    const spans = Int32Array.from(slotOf.flatMap((s, i) => [s * slotRows, posOf[i]! + 1]));
    const batched = await g.run(q, k, v, rows, spans);
    const [kc, vc] = g.readCache();
    let maxV = 0;
    for (const x of vc) maxV = Math.max(maxV, Math.abs(halfToFloat(x)));
    for (let i = 0; i < n; i++) {
      // The new rows landed where asked (f16), nowhere else.
      for (let c = 0; c < kvCols; c++) expect(kc[rows[i]! * kvCols + c]).toBe(floatToHalf(k[i * kvCols + c]!));
      const want = attendRef(q.subarray(i * qCols, (i + 1) * qCols), kc, vc, spans[2 * i]!, spans[2 * i + 1]!);
      for (let c = 0; c < qCols; c++)
        expect(Math.abs(batched[i * qCols + c]! - want[c]!)).toBeLessThanOrEqual(1e-5 * maxV);
    }
    for (let i = 0; i < n; i++) {
      const one = (a: Float32Array, cols: number): Float32Array => a.slice(i * cols, (i + 1) * cols);
      const alone = await g.run(
        one(q, qCols),
        one(k, kvCols),
        one(v, kvCols),
        rows.slice(i, i + 1),
        spans.slice(2 * i, 2 * i + 2),
      );
      expect(Buffer.from(alone.buffer).equals(Buffer.from(batched.buffer, i * qCols * 4, qCols * 4))).toBe(true);
    }
    const untouched = cacheK.slice(5 * kvCols, 6 * kvCols); // slot 0 row 5: no sequence wrote there
    expect(kc.slice(5 * kvCols, 6 * kvCols)).toEqual(untouched);
  } finally {
    g.dispose();
  }
});

test('out-of-range rows and spans are ERR_INVALID_ARG', async () => {
  const zeros = new Uint16Array(slots * slotRows * kvCols);
  const g = batchGraph(zeros, zeros, 2);
  const q = new Float32Array(qCols),
    k = new Float32Array(kvCols),
    v = new Float32Array(kvCols);
  const code = async (rows: number[], spans: number[]): Promise<string | undefined> => {
    try {
      await g.run(q, k, v, Int32Array.from(rows), Int32Array.from(spans));
    } catch (e) {
      expect(e).toBeInstanceOf(MiniMacLLMError);
      return (e as MiniMacLLMError).code;
    }
    return undefined;
  };
  try {
    expect(await code([0], [0, 1])).toBeUndefined();
    expect(await code([slots * slotRows], [0, 1])).toBe('ERR_INVALID_ARG');
    expect(await code([-1], [0, 1])).toBe('ERR_INVALID_ARG');
    expect(await code([0], [0, 0])).toBe('ERR_INVALID_ARG');
    expect(await code([0], [slots * slotRows - 1, 2])).toBe('ERR_INVALID_ARG');
    expect(await code([0], [-3, 2])).toBe('ERR_INVALID_ARG');
  } finally {
    g.dispose();
  }
});

test.each(['F32', 'F16', 'Q8_0'] as const)(
  'matmul rowwise: each of 12 rows equals the row alone (%s)',
  async (type) => {
    const K = 256,
      M = 96,
      n = 12;
    const wf = randomFloats(M * K, 21, 0.1);
    const wData = type === 'F32' ? wf : type === 'F16' ? Uint16Array.from(wf, floatToHalf) : quantize('Q8_0', wf);
    const wBytes = new Uint8Array(wData.buffer, wData.byteOffset, wData.byteLength);
    const wBuf = be.allocate(wBytes.byteLength);
    be.upload(wBuf, 0, wBytes);
    const x = Float32Array.from({ length: n * K }, rng(22));
    const graph = be.createGraph({
      tensors: [
        { buffer: be.allocate(n * K * 4), offset: 0, type: DType.F32, cols: K, rows: 0, rowsPerToken: 1 },
        { buffer: wBuf, offset: 0, type: DType[type], cols: K, rows: M },
        { buffer: be.allocate(n * M * 4), offset: 0, type: DType.F32, cols: M, rows: 0, rowsPerToken: 1 },
      ],
      nodes: [{ op: 'matmul', src: [0, 1], dst: 2, params: { rowwise: true } }],
      maxTokens: n,
    });
    const mm = async (rows: Float32Array): Promise<Float32Array> => {
      const out = new Float32Array((rows.length / K) * M);
      await graph.run({
        nTokens: rows.length / K,
        nPast: 0,
        inputs: [{ tensor: 0, data: rows }],
        outputs: [{ tensor: 2, data: out }],
      });
      return out;
    };
    try {
      const all = await mm(x);
      let same = 0,
        maxDiff = 0,
        maxOut = 0;
      for (let i = 0; i < n; i++) {
        const one = await mm(x.slice(i * K, (i + 1) * K));
        if (Buffer.from(one.buffer).equals(Buffer.from(all.buffer, i * M * 4, M * 4))) same++;
        for (let m = 0; m < M; m++) {
          maxDiff = Math.max(maxDiff, Math.abs(one[m]! - all[i * M + m]!));
          maxOut = Math.max(maxOut, Math.abs(one[m]!));
        }
      }
      // Quantized tile kernels may sum a row in another order when more rows share a tile (README): close, not equal.
      if (type === 'Q8_0') expect(maxDiff).toBeLessThanOrEqual(1e-5 * maxOut);
      else expect(same).toBe(n);
    } finally {
      graph.dispose();
      wBuf.dispose();
    }
  },
);
