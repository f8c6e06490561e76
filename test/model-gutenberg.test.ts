/**
 * gutenberg-16m (real trained llama): HF folder (fp16 safetensors, used in
 * place) against HF transformers' greedy continuations; the Q8_0 GGUF against
 * llama.cpp's logits; perplexity against llama.cpp's.
 */
import * as fs from 'node:fs';
import { perplexity } from '../lib/generate/perplexity';
import { loadModel } from '../lib/model/model';
import { fixture, maxAbsDiff, readJson, refCases } from './helpers/model-refs';
import { GUTENBERG_Q8_LOGIT_TOL } from './helpers/model-tolerances';

// helpers/model-tolerances.ts says what it allows and why (shared with metal-model.test.ts).
const Q8_LOGIT_TOL = GUTENBERG_Q8_LOGIT_TOL;

test('HF folder: greedy 64-token continuations equal transformers for all 3 prompts', async () => {
  const model = await loadModel(fixture('models', 'gutenberg-16m-hf'), { backend: 'cpu' });
  try {
    expect(model.info).toMatchObject({
      format: 'hf',
      architecture: 'llama',
      nLayer: 8,
      nHead: 6,
      nKvHead: 2,
      vocabSize: 8192,
      quantization: 'F16',
    });
    const ref = readJson<Array<{ prompt: string; tokens: number[]; greedy: number[] }>>(
      'reference',
      'gutenberg-16m-hf.json',
    );
    expect(ref).toHaveLength(3);
    for (const c of ref) {
      expect(model.tokenize(c.prompt)).toEqual(c.tokens);
      const r = await model.generate(c.prompt, { maxTokens: 64, temperature: 0 });
      expect(r.tokens).toEqual(c.greedy);
    }
  } finally {
    await model.dispose();
  }
});

test('Q8_0 GGUF: logits at every position within tolerance of llama.cpp', async () => {
  const model = await loadModel(fixture('models', 'gutenberg-16m-q8_0.gguf'), { backend: 'cpu' });
  try {
    const ctx = model.createContext({ contextSize: 64 });
    for (const c of refCases('reference', 'gutenberg-16m-q8_0.ref.json')) {
      expect(model.tokenize(c.text)).toEqual(c.tokens);
      const logits = await ctx.evaluate(c.tokens, { allLogits: true });
      const d = maxAbsDiff(logits, c.logits, 8192);
      expect(d.maxDiff).toBeLessThan(Q8_LOGIT_TOL);
      expect(d.argmaxAgree).toBeGreaterThanOrEqual(0.9);
    }
  } finally {
    await model.dispose();
  }
});

test('Q8_0 GGUF: perplexity on pride-and-prejudice (ctx 256, 8 windows) within 0.5% of llama.cpp', async () => {
  const ref = readJson<{
    results: Array<{ model: string; ctx: number; windows: number; tokens: number; ppl: number }>;
  }>('reference', 'perplexity.json');
  const expected = ref.results.find((r) => r.model.endsWith('gutenberg-16m-q8_0.gguf'))!;
  const model = await loadModel(fixture('models', 'gutenberg-16m-q8_0.gguf'), { backend: 'cpu', contextSize: 256 });
  try {
    const text = fs.readFileSync(fixture('reference', 'pride-and-prejudice-ch1-10.txt'), 'utf8');
    const r = await perplexity(model, text, { ctx: expected.ctx, windows: expected.windows });
    expect(r.tokens).toBe(expected.tokens);
    expect(Math.abs(r.ppl - expected.ppl) / expected.ppl).toBeLessThan(0.005);
  } finally {
    await model.dispose();
  }
});
