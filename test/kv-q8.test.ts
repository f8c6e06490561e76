/**
 * The q8_0 KV cache (kvType 'q8_0', llama.cpp's -ctk q8_0 -ctv q8_0):
 *  - store_rows rounds rows to q8_0 blocks exactly as the reference quantizer
 *    (ggml's quantize_row_q8_0_ref: f16 scale amax / 127, round to nearest);
 *  - attention over q8_0 K and V, at every CPU kernel level (scalar, AVX2,
 *    AVX-VNNI / AVX-512 where the CPU has them, NEON on arm64), against a
 *    float64 reference that reads what the kernels read (the query rounded to
 *    q8_0, the blocks dequantized): decode (by KV head and key range, long
 *    contexts split over threads), prefill (the block kernel on x86), GQA,
 *    windows, soft-capping, ring caches whose chunks wrap;
 *  - the public option: validation, ERR_UNSUPPORTED (head_dim % 32, metal),
 *    the cache's bytes, perplexity of gutenberg-16m within 0.5% of f16 KV,
 *    parallel sequences (batched decode over q8_0 slots, a copied prefix) equal
 *    to running alone, and a ring (sliding-window) model equal to its full cache.
 */
import * as fs from 'node:fs';
import { Backend } from '../lib/backend';
import { perplexity } from '../lib/generate/perplexity';
import type { Context } from '../lib/model/context';
import { loadModel } from '../lib/model/model';
import { native } from '../lib/native';
import { attention, storeRows } from '../lib/ops';
import { fixture, readJson } from './helpers/model-refs';
import { attentionReference, dequantize, quantize, quantizeActivations, randomFloats } from './helpers/reference';

jest.setTimeout(120_000);

const be1 = Backend.create('cpu', { threads: 1 });
const be2 = Backend.create('cpu', { threads: 2 });
afterAll(() => Promise.all([be1.dispose(), be2.dispose()]));
afterEach(() => native().setCpuSimd('auto'));

test('store_rows into a q8_0 cache: the reference quantizer, rows at nPast, the rest untouched', () => {
  const cols = 96,
    rows = 9,
    n = 4,
    past = 3,
    rb = (cols / 32) * 34;
  const src = randomFloats(n * cols, 11, 3);
  src.fill(0, 0, 32); // an all-zero block: scale 0
  for (const backend of [be1, be2]) {
    const cache = new Uint8Array(rows * rb).fill(0x5a);
    const out = storeRows(src, { data: cache, type: 'Q8_0', rows, cols }, past, { backend });
    const want = quantize('Q8_0', src);
    expect(Buffer.from(out.subarray(past * rb, (past + n) * rb)).equals(Buffer.from(want))).toBe(true);
    expect(out.subarray(0, past * rb).every((b) => b === 0x5a)).toBe(true);
    expect(out.subarray((past + n) * rb).every((b) => b === 0x5a)).toBe(true);
  }
  expect(() =>
    storeRows(src.subarray(0, 2 * 48), { data: new Uint8Array(0), type: 'Q8_0', rows: 0, cols: 48 }, 0),
  ).toThrow();
});

interface Case {
  nHead: number;
  nKv: number;
  D: number;
  n: number;
  past: number;
  window?: number;
  softcap?: number;
  ring?: number;
}

const CASES: Case[] = [
  { nHead: 4, nKv: 4, D: 32, n: 1, past: 0 },
  { nHead: 8, nKv: 2, D: 64, n: 1, past: 40 },
  { nHead: 9, nKv: 3, D: 64, n: 1, past: 1600 }, // key ranges split over the threads, joined by their maxima
  { nHead: 32, nKv: 8, D: 128, n: 1, past: 700 },
  { nHead: 6, nKv: 3, D: 64, n: 7, past: 5 },
  { nHead: 4, nKv: 1, D: 32, n: 9, past: 0 },
  { nHead: 9, nKv: 3, D: 64, n: 70, past: 100 }, // several key chunks, uneven query blocks
  { nHead: 2, nKv: 2, D: 128, n: 20, past: 0, softcap: 30 },
  { nHead: 8, nKv: 2, D: 64, n: 1, past: 300, window: 128 },
  { nHead: 8, nKv: 2, D: 64, n: 12, past: 300, window: 100 },
  // ring caches (a windowed layer's): position j at row j % ring, chunks cut where the ring wraps
  { nHead: 8, nKv: 2, D: 64, n: 1, past: 333, window: 100, ring: 140 },
  { nHead: 4, nKv: 2, D: 32, n: 1, past: 2000, window: 900, ring: 1000 },
  { nHead: 8, nKv: 2, D: 64, n: 24, past: 333, window: 100, ring: 140 },
];

interface Prepared {
  c: Case;
  q: Float32Array;
  kc: Uint8Array;
  vc: Uint8Array;
  want: Float64Array;
}

/** Each case's inputs and float64 reference, computed once for every kernel level. */
let prepared: Prepared[] | undefined;
function prepare(): Prepared[] {
  prepared ??= CASES.map((c) => {
    const { nHead, nKv, D, n, past } = c;
    const total = past + n;
    const rowBytes = ((nKv * D) / 32) * 34;
    const q = randomFloats(n * nHead * D, nHead * 7 + D + n, 1.5);
    const kf = randomFloats(total * nKv * D, 2 + D + past, 1);
    const vf = randomFloats(total * nKv * D, 3 + D + past, 1);
    const kq = quantize('Q8_0', kf);
    const vq = quantize('Q8_0', vf);
    // What the kernels read: the cache's blocks, and each query head rounded to q8_0.
    const want = attentionReference(
      quantizeActivations('q8_0', q),
      dequantize('Q8_0', kq, kf.length),
      dequantize('Q8_0', vq, vf.length),
      {
        n,
        nPast: past,
        nHead,
        nKvHead: nKv,
        headDim: D,
        ...(c.window !== undefined && { window: c.window }),
        ...(c.softcap !== undefined && { softcap: c.softcap }),
      },
    );
    if (!c.ring) return { c, q, kc: kq, vc: vq, want };
    // Only the last `ring` positions are kept, position j at row j % ring.
    const kc = new Uint8Array(c.ring * rowBytes);
    const vc = new Uint8Array(c.ring * rowBytes);
    for (let j = Math.max(0, total - c.ring); j < total; j++) {
      kc.set(kq.subarray(j * rowBytes, (j + 1) * rowBytes), (j % c.ring) * rowBytes);
      vc.set(vq.subarray(j * rowBytes, (j + 1) * rowBytes), (j % c.ring) * rowBytes);
    }
    return { c, q, kc, vc, want };
  });
  return prepared;
}

// 'auto' is the best this CPU has (AVX-512 / AVX-VNNI q8_0 tiles, or NEON's q8_0 dots on arm64);
// 'avx2' and 'avx-vnni' mean 'auto' where the CPU lacks them.
test.each(['scalar', 'avx2', 'avx-vnni', 'auto'] as const)(
  'attention over a q8_0 cache (%s kernels): decode, prefill, GQA, window, softcap, ring == reference',
  (simd) => {
    native().setCpuSimd(simd);
    for (const { c, q, kc, vc, want } of prepare()) {
      for (const backend of [be1, be2]) {
        const got = attention(q, kc, vc, {
          nHead: c.nHead,
          nKvHead: c.nKv,
          headDim: c.D,
          nPast: c.past,
          backend,
          ...(c.window !== undefined && { window: c.window }),
          ...(c.softcap !== undefined && { softcap: c.softcap }),
          ...(c.ring !== undefined && { ring: c.ring }),
        });
        expect(got.length).toBe(want.length);
        // float32 sums (|v| <= 1): 2e-6. A reference with the query unrounded is 2e-4 to 2e-3 off.
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
        if (!(worst <= 2e-6)) throw new Error(`${simd} threads=${backend.threads} ${JSON.stringify(c)}: ${worst}`);
      }
    }
  },
);

test('attention option checks for a q8_0 cache', () => {
  const q = new Float32Array(2 * 16);
  expect(() =>
    attention(q, new Uint8Array(18), new Uint8Array(18), { nHead: 2, nKvHead: 1, headDim: 16, nPast: 0 }),
  ).toThrow(/q8_0 cache needs headDim a multiple of 32, got 16/);
  const q32 = new Float32Array(32);
  expect(() =>
    attention(q32, new Uint8Array(34), new Uint16Array(32), { nHead: 1, nKvHead: 1, headDim: 32, nPast: 0 }),
  ).toThrow(/same type/);
  expect(() =>
    attention(q32, new Uint8Array(33), new Uint8Array(34), { nHead: 1, nKvHead: 1, headDim: 32, nPast: 0 }),
  ).toThrow(/1 rows of 34 bytes/);
});

const GUTENBERG = fixture('models', 'gutenberg-16m-q8_0.gguf');

test('kvType: validation, info, the cache bytes, ERR_UNSUPPORTED for head_dim % 32 and on metal-sim', async () => {
  await expect(loadModel(GUTENBERG, { kvType: 'q4_0' as never })).rejects.toMatchObject({
    code: 'ERR_INVALID_ARG',
    message: 'kvType must be one of f16, q8_0, f32, got "q4_0"',
  });
  // stories260K: head_dim 8, not a whole q8_0 block.
  await expect(
    loadModel(fixture('models', 'stories260K.gguf'), { backend: 'cpu', kvType: 'q8_0' }),
  ).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED', message: expect.stringMatching(/head_dim is 8/) });
  await expect(loadModel(GUTENBERG, { backend: 'metal-sim', kvType: 'q8_0' })).rejects.toMatchObject({
    code: 'ERR_UNSUPPORTED',
    message: expect.stringMatching(/not supported on the metal-sim backend/),
  });
  const sim = await loadModel(GUTENBERG, { backend: 'metal-sim', contextSize: 64 });
  try {
    expect(() => sim.createContext({ kvType: 'q8_0' })).toThrow(/not supported on the metal-sim backend/);
  } finally {
    await sim.dispose();
  }

  const model = await loadModel(GUTENBERG, { backend: 'cpu', contextSize: 128, kvType: 'q8_0' });
  try {
    expect(model.info.kvType).toBe('q8_0');
    const q8 = model.createContext();
    const f16 = model.createContext({ kvType: 'f16' });
    const f32 = model.createContext({ kvType: 'f32' });
    // Per row: head_dim / 32 blocks of 34 bytes per head against 2 bytes per value.
    expect(q8.kvBytes / f16.kvBytes).toBeCloseTo(34 / 64, 2);
    expect(f32.kvBytes).toBe(2 * f16.kvBytes);
    expect(() => model.createContext({ kvType: 'Q8_0' as never })).toThrow(/kvType must be one of f16, q8_0, f32/);
    const ids = model.tokenize('It was a bright cold day');
    const a = await q8.evaluate(ids);
    const b = await f16.evaluate(ids);
    expect(a).not.toEqual(b); // the q8_0 cache is what the q8_0 context reads
    await Promise.all([q8.dispose(), f16.dispose(), f32.dispose()]);
    // generate() runs on the default context, q8_0 here.
    const r = await model.generate('The old man', { temperature: 0, maxTokens: 8 });
    expect(r.tokens.length).toBe(8);
  } finally {
    await model.dispose();
  }
});

test('gutenberg-16m: perplexity with a q8_0 KV cache within 0.5% of the f16 cache (ctx 256, 8 windows)', async () => {
  const ref = readJson<{ results: Array<{ model: string; ctx: number; windows: number }> }>(
    'reference',
    'perplexity.json',
  );
  const { ctx, windows } = ref.results.find((r) => r.model.endsWith('gutenberg-16m-q8_0.gguf'))!;
  const text = fs.readFileSync(fixture('reference', 'pride-and-prejudice-ch1-10.txt'), 'utf8');
  const ppl: Record<string, number> = {};
  for (const kvType of ['f16', 'q8_0'] as const) {
    const model = await loadModel(GUTENBERG, { backend: 'cpu', contextSize: ctx, kvType });
    try {
      ppl[kvType] = (await perplexity(model, text, { ctx, windows })).ppl;
    } finally {
      await model.dispose();
    }
  }
  // Measured: f16 27.9536, q8_0 27.8931 (-0.22%).
  expect(Math.abs(ppl['q8_0']! - ppl['f16']!) / ppl['f16']!).toBeLessThan(0.005);
  expect(ppl['q8_0']).not.toBe(ppl['f16']);
});

// The f16-weight model: its batched decode matmuls are row by row (a quantized model's batched tiles
// round in another order, so its greedy tokens may differ batched or alone whatever the KV type).
const GUTENBERG_HF = fixture('models', 'gutenberg-16m-hf');

test('q8_0 KV, parallel sequences: batched greedy generations and a copied prefix equal each run alone', async () => {
  const opts = { backend: 'cpu', contextSize: 256, kvType: 'q8_0' } as const;
  const system = 'It was the best of times, it was the worst of times, it was the age of wisdom, and';
  const prompts = ['The old man', 'It was a dark night', `${system} the house`, `${system} she said`];
  const one = await loadModel(GUTENBERG_HF, opts);
  const alone: number[][] = [];
  try {
    for (const p of prompts) alone.push((await one.generate(p, { temperature: 0, maxTokens: 20 })).tokens);
  } finally {
    await one.dispose();
  }
  const model = await loadModel(GUTENBERG_HF, { ...opts, maxSequences: 4 });
  try {
    const together = await Promise.all(prompts.map((p) => model.generate(p, { temperature: 0, maxTokens: 20 })));
    expect(together.map((r) => r.tokens)).toEqual(alone);
    const s = model.sequenceStats!;
    expect(s.decodeSteps).toBeLessThan(s.decodeRows);
  } finally {
    await model.dispose();
  }
  // A holds the shared prefix in slot 0 while B starts in the empty slot 1: the rows (q8_0 blocks) are copied.
  const two = await loadModel(GUTENBERG_HF, { ...opts, maxSequences: 2 });
  try {
    const a = two.stream(`${system} the house`, { temperature: 0, maxTokens: 30 })[Symbol.asyncIterator]();
    await a.next();
    const before = two.sequenceStats!.sharedTokens;
    const [b] = await Promise.all([
      two.generate(`${system} she said`, { temperature: 0, maxTokens: 20 }),
      (async () => {
        for (let r = await a.next(); !r.done; r = await a.next());
      })(),
    ]);
    expect(two.sequenceStats!.sharedTokens - before).toBeGreaterThan(10);
    expect(b.tokens).toEqual(alone[3]);
  } finally {
    await two.dispose();
  }
});

test('q8_0 KV on a sliding-window model (tiny-gemma3): the ring context equals the full cache', async () => {
  const model = await loadModel(fixture('random', 'tiny-gemma3-f16.gguf'), {
    backend: 'cpu',
    threads: 2,
    kvType: 'q8_0',
  });
  const argmax = (x: Float32Array): number => x.reduce((b, v, i, arr) => (v > arr[b]! ? i : b), 0);
  const ring = model.createContextWithLayout(160, { maxTokens: 8, kvType: 'q8_0' });
  const full = model.createContextWithLayout(160, { maxTokens: 8, fullKv: true, kvType: 'q8_0' });
  try {
    expect(ring.ring.rows).toBe(ring.ring.window + 8);
    expect(full.ring.rows).toBe(0);
    const vocab = model.info.vocabSize;
    const run = async (ctx: Context): Promise<Float32Array[]> => {
      const ids = Array.from({ length: 3 * ring.ring.rows + 5 }, (_, k) => 1 + ((k * 104729 + 7) % (vocab - 1)));
      const out: Float32Array[] = [];
      for (let s = 0; s < 40; s++) {
        const l = await ctx.evaluate(ids);
        out.push(l);
        ids.push(argmax(l));
      }
      return out;
    };
    // The same q8_0 keys in the same order and runs (a wrapped chunk is gathered): the same bits.
    expect(await run(ring)).toEqual(await run(full));
  } finally {
    await Promise.all([ring.dispose(), full.dispose(), model.dispose()]);
  }
});
