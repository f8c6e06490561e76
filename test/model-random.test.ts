/**
 * Random-weight llama / qwen2 / qwen3 / gemma3 / gemma2 / phi3 models in every weight type against
 * llama.cpp: logits at every position within a per-type tolerance (max |Δ| and
 * nrmse), top-1 agreement where llama.cpp is confident; greedy continuations
 * equal for the F32 and F16 files. The low-bit files (Q2_K, IQ4_XS, IQ4_NL)
 * hold the type mixtures llama.cpp's quantizer writes (Q2_K with Q3_K and Q6_K
 * rows; IQ4 with a Q6_K output).
 */
import * as fs from 'node:fs';
import { loadModel } from '../lib/model/model';
import { expectGreedy, fixture, logitStats, maxAbsDiff, refCases } from './helpers/model-refs';
import { LOGIT_TOL, logitNrmse } from './helpers/model-tolerances';

// Tolerances: helpers/model-tolerances.ts (one table for the CPU and metal-sim).
const TOL = LOGIT_TOL;
const NRMSE = logitNrmse;
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
  const what = `logits within ${TOL[type]} (nrmse ${NRMSE(type)}) of llama.cpp, top-1 agreement >= 95% where it is confident`;
  test(`${what}${EXACT_GREEDY.has(type) ? ', greedy continuations equal' : ''}`, async () => {
    const model = await loadModel(fixture('random', file), { backend: 'cpu' });
    try {
      const arch = /tiny-([a-z]+[0-9]?)(?:256)?-/.exec(file)![1];
      expect(model.info.architecture).toBe(arch);
      const vocab = model.info.vocabSize;
      const ctx = model.createContext({ contextSize: 128 });
      for (const c of refCases('random', file.replace(/\.gguf$/, '.ref.json'))) {
        expect(model.tokenize(c.text)).toEqual(c.tokens);
        const logits = await ctx.evaluate(c.tokens, { allLogits: true });
        const d = maxAbsDiff(logits, c.logits, vocab);
        expect(d.maxDiff).toBeLessThan(TOL[type]!);
        const s = logitStats(logits, c.logits, vocab);
        expect(s.nrmse).toBeLessThanOrEqual(NRMSE(type));
        expect(s.top1Agree).toBeGreaterThanOrEqual(0.95);
        if (EXACT_GREEDY.has(type)) await expectGreedy(model, c);
      }
    } finally {
      await model.dispose();
    }
  });
});
