/**
 * Sliding-window layers' ring KV caches (gemma3: 5 of 6 layers, gemma2: every
 * other one; window 16 in the tiny fixtures) against the full-size cache the
 * same context would otherwise hold: contexts several windows long, prompts
 * run in chunks that cross the ring's end, decoding across many wraps, going
 * back to a cached prefix (still in the ring, or no longer: recomputed),
 * perplexity (all logits), parallel sequences (batched decode over ring slots,
 * a copied shared prefix longer than the ring), on the CPU and metal-sim.
 * Greedy tokens and logits must be identical, bit for bit (the same keys,
 * in the same order and runs), except where the ring recomputes a lost prefix
 * in other batches (3e-3 of the largest logit). The KV bytes of a
 * Gemma-3-1B-shaped context are checked from the layout.
 */
import { DType } from '../lib/dtype';
import { kvLayout } from '../lib/model/kv-cache';
import { gemma3 } from '../lib/model/arch/gemma3';
import type { GemmaHParams } from '../lib/model/arch/gemma3';
import type { Context } from '../lib/model/context';
import { loadModel, type Model } from '../lib/model/model';
import { native } from '../lib/native';
import { fixture } from './helpers/model-refs';

jest.setTimeout(120_000);

const argmax = (x: Float32Array): number => x.reduce((b, v, i, a) => (v > a[b]! ? i : b), 0);
const maxAbs = (x: Float32Array): number => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** Within `rel` of the largest logit (0: the same bits). */
function expectNear(got: Float32Array, want: Float32Array, what: string, rel: number): void {
  expect(got.length).toBe(want.length);
  const tol = rel * Math.max(1, maxAbs(want));
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  if (!(worst <= tol)) throw new Error(`${what}: max |diff| ${worst} > ${tol}`);
}

function tokens(vocab: number, n: number, seed: number): number[] {
  return Array.from({ length: n }, (_, k) => 1 + ((seed * 7919 + k * 104729 + k * k * 31) % (vocab - 1)));
}

/** Greedy decoding of `steps` tokens after `prompt`, each step's logits kept. */
async function greedy(
  ctx: Context,
  prompt: number[],
  steps: number,
): Promise<{ ids: number[]; logits: Float32Array[] }> {
  const ids = [...prompt];
  const logits: Float32Array[] = [];
  for (let s = 0; s < steps; s++) {
    const l = await ctx.evaluate(ids);
    logits.push(l);
    ids.push(argmax(l));
  }
  return { ids, logits };
}

/** A ring context (prefill runs of `batch` tokens) and the full-cache one, compared call by call. */
async function compareContexts(
  model: Model,
  contextSize: number,
  batch: number,
  steps: number,
  rel: number,
  /** Where the ring recomputes from 0 what the full cache reuses: other batch boundaries (Metal: other kernels). */
  relRecomputed = rel,
): Promise<void> {
  const ring = model.createContextWithLayout(contextSize, { maxTokens: batch });
  const full = model.createContextWithLayout(contextSize, { maxTokens: batch, fullKv: true });
  try {
    const window = ring.ring.window;
    expect(window).toBe(16);
    expect(ring.ring.rows).toBe(window + batch); // window + batch: several wraps below
    expect(full.ring.rows).toBe(0);
    expect(ring.kvBytes).toBeLessThan(full.kvBytes);
    const vocab = model.info.vocabSize;

    // A prompt of several rings, in chunks that cross the ring's end; then decoding across wraps.
    const prompt = tokens(vocab, 3 * ring.ring.rows + 5, 1);
    const a = await greedy(ring, prompt, steps);
    const b = await greedy(full, prompt, steps);
    expect(a.ids).toEqual(b.ids);
    for (let s = 0; s < steps; s++) expectNear(a.logits[s]!, b.logits[s]!, `decode step ${s}`, rel);

    // Back to a prefix still in the ring (the last window of it intact), then to one the ring lost.
    for (const keep of [a.ids.length - 3, Math.floor(prompt.length / 2)]) {
      const next = [...a.ids.slice(0, keep), ...tokens(vocab, 7, keep)];
      const r = keep < prompt.length ? relRecomputed : rel;
      expectNear(await ring.evaluate(next), await full.evaluate(next), `resume after ${keep} tokens`, r);
      const again = [...next, 5];
      expectNear(await ring.evaluate(again), await full.evaluate(again), `and decode after ${keep}`, r);
    }
    expect(ring.prefixLength([...a.ids.slice(0, 10), 1, 2])).toBe(0); // the ring no longer holds position 9's window

    // Perplexity: every row's logits, the all-rows graph over the rings.
    const text = tokens(vocab, contextSize - 3, 2);
    expectNear(
      await ring.evaluate(text, { allLogits: true }),
      await full.evaluate(text, { allLogits: true }),
      'all logits',
      rel,
    );
  } finally {
    await Promise.all([ring.dispose(), full.dispose()]);
  }
}

describe.each(['tiny-gemma3-f16.gguf', 'tiny-gemma2-f16.gguf', 'tiny-gemma3-q4_k_m.gguf'])('%s', (file) => {
  afterEach(() => native().setCpuSimd('auto'));
  // A ring takes the same keys in the same order, in the same runs (a chunk it wraps is gathered):
  // the same bits at every kernel level. Only a prefix the ring lost and recomputes from 0 runs
  // other batches than the full cache's reuse (other matmul row blocks): within 3e-3 there.
  test.each(['scalar', 'auto'] as const)(
    'CPU (%s SIMD): a ring context equals the full cache (chunks across the ring end, decode across wraps)',
    async (simd) => {
      native().setCpuSimd(simd);
      const model = await loadModel(fixture('random', file), { backend: 'cpu', threads: 2 });
      try {
        await compareContexts(model, 200, 8, simd === 'scalar' ? 40 : 90, 0, 3e-3);
        if (simd === 'auto') await compareContexts(model, 300, 37, 40, 0, 3e-3);
      } finally {
        await model.dispose();
      }
    },
  );
});

test('metal-sim: a ring context equals the full cache (tiny-gemma3-f16)', async () => {
  const model = await loadModel(fixture('random', 'tiny-gemma3-f16.gguf'), { backend: 'metal-sim', threads: 2 });
  try {
    // Only the rows read and written move: the same bits.
    await compareContexts(model, 112, 8, 20, 0, 3e-3);
  } finally {
    await model.dispose();
  }
});

test.each(['tiny-gemma3-f16.gguf', 'tiny-gemma2-f16.gguf'])(
  '%s: parallel sequences over ring slots (batched decode across wraps, a copied prefix longer than the ring) == alone',
  async (file) => {
    // Slots prefill 128 tokens a run: rings of 16 + 128 rows in a context of 400.
    const one = await loadModel(fixture('random', file), { backend: 'cpu', contextSize: 400 });
    const model = await loadModel(fixture('random', file), { backend: 'cpu', contextSize: 400, maxSequences: 3 });
    try {
      const vocab = model.info.vocabSize;
      const shared = tokens(vocab, 230, 3);
      const prompts = [[...shared, 11], tokens(vocab, 150, 4), [...shared, 12, 13]];
      const ref: number[][] = [];
      for (const p of prompts) ref.push((await one.generate(p, { temperature: 0, maxTokens: 120 })).tokens);
      // The first runs alone (its cache then holds the shared prefix), then all three at once.
      const first = await model.generate(prompts[0]!, { temperature: 0, maxTokens: 120 });
      expect(first.tokens).toEqual(ref[0]);
      const together = await Promise.all(prompts.map((p) => model.generate(p, { temperature: 0, maxTokens: 120 })));
      expect(together.map((r) => r.tokens)).toEqual(ref);
      const stats = model.sequenceStats!;
      expect(stats.sharedTokens).toBeGreaterThan(144); // a prefix longer than the ring was copied
      expect(stats.decodeSteps).toBeLessThan(stats.decodeRows);
    } finally {
      await Promise.all([one.dispose(), model.dispose()]);
    }
  },
);

test('the KV cache of a Gemma-3-1B-shaped context of 8192 tokens', () => {
  // google/gemma-3-1b: 26 layers, 1 KV head of 256, window 512, every 6th layer global.
  const hp = {
    nLayer: 26,
    nKvHead: 1,
    headDim: 256,
    slidingWindow: 512,
    slidingWindowPattern: 6,
  } as GemmaHParams;
  const o = { contextSize: 8192, maxTokens: 512, slots: 1, type: DType.F16 } as const;
  const full = kvLayout(hp, gemma3, { ...o, fullKv: true });
  const ring = kvLayout(hp, gemma3, o);
  const row = 256 * 2; // bytes per position per layer, K or V
  expect(full.bytes).toBe(26 * 2 * 8192 * row); // 218,103,808 bytes
  // 4 global layers (5, 11, 17, 23) keep 8192 positions, 22 windowed ones 512 + 512.
  expect(ring.layers.filter((l) => l.ring === 0).length).toBe(4);
  expect(ring.bytes).toBe(4 * 2 * 8192 * row + 22 * 2 * 1024 * row); // 56,623,104 bytes
  expect(ring.ringRows).toBe(1024);
  // Parallel sequences' slots prefill 128 tokens a run: rings of 640 rows.
  expect(kvLayout(hp, gemma3, { ...o, maxTokens: 128, slots: 4 }).bytes).toBe(4 * (4 * 2 * 8192 + 22 * 2 * 640) * row);
});
