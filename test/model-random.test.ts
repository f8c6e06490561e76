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

// Max |Δ logit| allowed, per weight type. llama.cpp quantizes activations
// (q8_0 / q8_K; f16 for F16 weights, which we reproduce); its CPU flash
// attention also rounds queries to f16 and sums the weighted values in f16,
// which we don't copy (the largest share of phi3 F16's error: copying it in
// an experiment took it from 0.015 to 0.005); the rest is summation order
// and rounding ties. Measured: F32 0.006, F16 0.008,
// Q8_0 0.15, Q4_0 0.10, Q6_K 0.17, Q4_K 2.4 (that file's logits reach 80).
// Q2_K 0.20, IQ4_XS 0.16, IQ4_NL 0.12; gemma3 F16 0.009, Q4_K_M 0.29;
// phi3 F16 0.015, Q3_K_M 0.24. phi3 F16's reference is llama.cpp on this
// project's x86-64 VM (test/fixtures/README.md: the shared one was made elsewhere).
const TOL: Record<string, number> = {
  f32: 0.02,
  f16: 0.02,
  q8_0: 0.25,
  q4_0: 0.2,
  q6_k: 0.3,
  q4_k: 4.0,
  q2_k: 0.4,
  iq4_xs: 0.3,
  iq4_nl: 0.25,
  q4_k_m: 0.45,
  q3_k_m: 0.4,
};
// nrmse = RMS(Δ logit) / SD(llama.cpp's logits), the measure (F16 <= 0.01,
// low-bit <= 0.05, Q2_K <= 0.08). Measured: F32 / F16 0.0004, Q8_0 0.015,
// Q4_0 0.014, Q6_K 0.022, Q4_K 0.007, Q2_K 0.023, IQ4_XS 0.021, IQ4_NL 0.017;
// gemma3 F16 0.0006, Q4_K_M 0.016; phi3 F16 0.0013, Q3_K_M 0.023
// (random weights carry rounding differences through every layer).
const NRMSE = (type: string): number => (type === 'f32' || type === 'f16' ? 0.01 : type === 'q2_k' ? 0.08 : 0.05);
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
