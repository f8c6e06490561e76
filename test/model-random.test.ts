/**
 * Random-weight llama / qwen2 / qwen3 models in every weight type against
 * llama.cpp: logits at every position within a per-type tolerance; greedy
 * continuations equal for the F32 and F16 files.
 */
import * as fs from 'node:fs';
import { loadModel } from '../lib/model/model';
import { fixture, maxAbsDiff, refCases } from './helpers/model-refs';

// Max |Δ logit| allowed, per weight type. llama.cpp quantizes activations
// (q8_0 / q8_K; f16 for F16 weights, which we reproduce); the rest is
// summation order and rounding ties. Measured: F32 0.006, F16 0.008,
// Q8_0 0.15, Q4_0 0.10, Q6_K 0.17, Q4_K 2.4 (that file's logits reach 80).
const TOL: Record<string, number> = { f32: 0.02, f16: 0.02, q8_0: 0.25, q4_0: 0.2, q6_k: 0.3, q4_k: 4.0 };
const EXACT_GREEDY = new Set(['f32', 'f16']);

const files = fs
  .readdirSync(fixture('random'))
  .filter((f) => f.endsWith('.gguf'))
  .sort();

test('every random model has a reference', () => {
  expect(files.length).toBeGreaterThanOrEqual(8);
  for (const f of files) expect(fs.existsSync(fixture('random', f.replace(/\.gguf$/, '.ref.json')))).toBe(true);
});

describe.each(files)('%s', (file) => {
  const type = /-([a-z0-9_]+)\.gguf$/.exec(file)![1]!;
  test(`logits within ${TOL[type]} of llama.cpp${EXACT_GREEDY.has(type) ? ', greedy continuations equal' : ''}`, async () => {
    const model = await loadModel(fixture('random', file), { backend: 'cpu' });
    try {
      const arch = /tiny-([a-z0-9]+)-/.exec(file)![1];
      expect(model.info.architecture).toBe(arch);
      const vocab = model.info.vocabSize;
      const ctx = model.createContext({ contextSize: 128 });
      for (const c of refCases('random', file.replace(/\.gguf$/, '.ref.json'))) {
        expect(model.tokenize(c.text)).toEqual(c.tokens);
        const logits = await ctx.evaluate(c.tokens, { allLogits: true });
        const d = maxAbsDiff(logits, c.logits, vocab);
        expect(d.maxDiff).toBeLessThan(TOL[type]!);
        if (EXACT_GREEDY.has(type)) {
          const g = await model.generate(c.tokens, { maxTokens: c.greedy.length, temperature: 0 });
          expect(g.tokens).toEqual(c.greedy);
        }
      }
    } finally {
      await model.dispose();
    }
  });
});
