/**
 * Phi-3 LongRoPE against llama.cpp: tiny-phi3-longrope-f16 (test/fixtures/longrope,
 * made by random/tools/make-tiny-phi3-longrope.cjs: rope_factors_long/short tensors,
 * original context 4096, rope.scaling.attn_factor) with llama.cpp's logits and
 * greedy continuations in an 8192-token context, where llama.cpp uses the long
 * factors. Ours in an 8192 context: logits within 0.05 (nrmse <= 0.01; measured
 * 0.026 / 0.002), greedy equal. In a 4096 context the short factors apply (as in
 * llama.cpp): the logits are far from the long-factor reference (measured nrmse 0.98).
 */
import { loadModel } from '../lib/model/model';
import { fixture, logitStats, maxAbsDiff, refCases } from './helpers/model-refs';

const FILE = fixture('longrope', 'tiny-phi3-longrope-f16.gguf');
const cases = refCases('longrope', 'tiny-phi3-longrope-f16.ref.json');

test('an 8192-token context uses the long factors: logits and greedy continuations as llama.cpp', async () => {
  const model = await loadModel(FILE, { backend: 'cpu', contextSize: 8192 });
  try {
    const ctx = model.createContext({ contextSize: 8192 });
    for (const c of cases) {
      expect(model.tokenize(c.text)).toEqual(c.tokens);
      const logits = await ctx.evaluate(c.tokens, { allLogits: true });
      expect(maxAbsDiff(logits, c.logits, 512).maxDiff).toBeLessThan(0.05);
      const s = logitStats(logits, c.logits, 512);
      expect(s.nrmse).toBeLessThanOrEqual(0.01);
      expect(s.top1Agree).toBeGreaterThanOrEqual(0.95);
      const g = await model.generate(c.tokens, { maxTokens: c.greedy.length, temperature: 0 });
      expect(g.tokens).toEqual(c.greedy);
    }
  } finally {
    await model.dispose();
  }
});

test('a context up to the original 4096 uses the short factors', async () => {
  const model = await loadModel(FILE, { backend: 'cpu' });
  try {
    const c = cases[0]!;
    const logits = await model.createContext({ contextSize: 4096 }).evaluate(c.tokens, { allLogits: true });
    expect(logitStats(logits, c.logits, 512).nrmse).toBeGreaterThan(0.5);
  } finally {
    await model.dispose();
  }
});
