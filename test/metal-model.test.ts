/**
 * Whole models under backend 'metal-sim' (every node on the Metal kernels,
 * run by the emulator through the Metal dispatch plans) against the CPU
 * backend and the llama.cpp references:
 *  - stories260K: logits at every position, greedy continuations and the
 *    200-step llama2.c greedy text identical;
 *  - the random tiny llama/qwen2/qwen3/gemma3/gemma2/phi3 files in every weight type: logits at
 *    every position (f32/f16: greedy continuations equal too);
 *  - gutenberg-16m Q8_0: logits of a reference case, greedy continuation equal
 *    to the CPU backend's.
 *
 * Tolerances: the kernels keep activations in f32 (as ggml's Metal backend
 * does), while the CPU backend and llama.cpp's CPU reference quantize them to
 * q8_0 / q8_K for quantized weights, so quantized files differ by that
 * rounding, amplified by the random networks (the tiny Q4_K file's logits
 * reach 80; at the matmul level the kernels are within 1e-7 of exact, see
 * metal-kernels.test.ts). Measured max |Δ logit| vs llama.cpp: f32 0.006,
 * f16 0.010, q8_0 0.18, q4_0 0.11, q6_k 0.38, q4_k 27, qwen2 q8_0 0.15,
 * qwen3 f16 0.004; stories260K vs the CPU 1.2e-2 (f16 KV cache roundings, see below);
 * gutenberg Q8_0 vs the CPU 0.30. The low-bit files (every node on Metal kernels)
 * are also held to the nrmse (Q2_K <= 0.08, IQ4 <= 0.05) and top-1
 * agreement where llama.cpp is confident; measured max |Δ| / nrmse: q2_k
 * 0.28 / 0.030, iq4_xs 0.25 / 0.026, iq4_nl 0.16 / 0.019; gemma3 f16 0.008 /
 * 0.0006, q4_k_m 0.26 / 0.013; phi3 f16 0.015 / 0.0013, q3_k_m 0.34 / 0.032.
 */
import * as fs from 'node:fs';
import { loadModel, type Model } from '../lib/model/model';
import { expectGreedy, fixture, logitStats, maxAbsDiff, readJson, refCases } from './helpers/model-refs';

const TOL_VS_LLAMA_CPP: Record<string, number> = {
  f32: 0.02,
  f16: 0.03,
  q8_0: 0.4,
  q4_0: 0.3,
  q6_k: 0.8,
  q4_k: 40,
  q2_k: 0.6,
  iq4_xs: 0.5,
  iq4_nl: 0.35,
  q4_k_m: 0.45,
  q3_k_m: 0.5,
};
const NRMSE: Record<string, number> = {
  f16: 0.01,
  q2_k: 0.08,
  iq4_xs: 0.05,
  iq4_nl: 0.05,
  q4_k_m: 0.05,
  q3_k_m: 0.05,
};
const EXACT_GREEDY = new Set(['f32', 'f16']);

describe('stories260K under metal-sim', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(fixture('models', 'stories260K.gguf'), { backend: 'metal-sim', threads: 2 });
  });
  afterAll(() => model.dispose());

  test('runs on metal-sim', () => {
    expect(model.info.backend).toBe('metal-sim');
  });

  test('logits at every position match llama.cpp and the CPU backend, greedy continuations equal', async () => {
    const cpu = await loadModel(fixture('models', 'stories260K.gguf'), { backend: 'cpu', threads: 2 });
    try {
      const ctx = model.createContext({ contextSize: 128 });
      const cctx = cpu.createContext({ contextSize: 128 });
      for (const c of refCases('reference', 'stories260K.ref.json')) {
        const logits = await ctx.evaluate(c.tokens, { allLogits: true });
        const d = maxAbsDiff(logits, c.logits, 512);
        expect(d.maxDiff).toBeLessThan(0.02);
        expect(d.argmaxAgree).toBe(1);
        const base = await cctx.evaluate(c.tokens, { allLogits: true });
        let m = 0;
        for (let i = 0; i < base.length; i++) m = Math.max(m, Math.abs(base[i]! - logits[i]!));
        // Not tighter: the f16 KV cache turns f32 summation-order differences (1e-6) into
        // flipped half roundings of cached keys/values; with an f32 cache the two backends
        // agree to 1e-5 on these cases (measured), with f16 to 1.2e-2.
        expect(m).toBeLessThan(0.02);
        const g = await model.generate(c.tokens, { maxTokens: c.greedy.length, temperature: 0 });
        expect(g.tokens).toEqual(c.greedy);
      }
      await ctx.dispose();
      await cctx.dispose();
    } finally {
      await cpu.dispose();
    }
  });

  test('greedy from BOS for 200 steps reproduces the llama2.c reference exactly', async () => {
    const ref = readJson<{ expected_text: string }>('reference', 'stories260K-greedy-200.json');
    const r = await model.generate([1], { maxTokens: 200, temperature: 0 });
    expect(r.text).toBe(ref.expected_text);
  });
});

const randomFiles = fs
  .readdirSync(fixture('random'))
  .filter((f) => f.endsWith('.gguf'))
  .sort();

describe.each(randomFiles)('%s under metal-sim', (file) => {
  const type = /-([a-z0-9_]+)\.gguf$/.exec(file)![1]!;
  test(`logits within ${TOL_VS_LLAMA_CPP[type]} of llama.cpp${EXACT_GREEDY.has(type) ? ', greedy continuations equal' : ''}`, async () => {
    const model = await loadModel(fixture('random', file), { backend: 'metal-sim', threads: 2 });
    try {
      const ctx = model.createContext({ contextSize: 128 });
      const vocab = model.info.vocabSize;
      for (const c of refCases('random', file.replace(/\.gguf$/, '.ref.json'))) {
        const logits = await ctx.evaluate(c.tokens, { allLogits: true });
        const d = maxAbsDiff(logits, c.logits, vocab);
        expect(d.maxDiff).toBeLessThan(TOL_VS_LLAMA_CPP[type]!);
        if (NRMSE[type] !== undefined) {
          const st = logitStats(logits, c.logits, vocab);
          expect(st.nrmse).toBeLessThanOrEqual(NRMSE[type]);
          expect(st.top1Agree).toBeGreaterThanOrEqual(0.95);
        }
        if (EXACT_GREEDY.has(type)) await expectGreedy(model, c);
      }
    } finally {
      await model.dispose();
    }
  });
});

test('gutenberg-16m Q8_0 under metal-sim: logits near llama.cpp, greedy continuation equal to the CPU backend', async () => {
  const file = fixture('models', 'gutenberg-16m-q8_0.gguf');
  const sim = await loadModel(file, { backend: 'metal-sim', threads: 2 });
  const cpu = await loadModel(file, { backend: 'cpu', threads: 2 });
  try {
    const c = refCases('reference', 'gutenberg-16m-q8_0.ref.json')[0]!;
    const ctx = sim.createContext({ contextSize: 64 });
    const d = maxAbsDiff(await ctx.evaluate(c.tokens, { allLogits: true }), c.logits, 8192);
    expect(d.maxDiff).toBeLessThan(0.6);
    expect(d.argmaxAgree).toBeGreaterThanOrEqual(0.9);
    await ctx.dispose();
    const prompt = 'The old house stood';
    const a = await sim.generate(prompt, { maxTokens: 12, temperature: 0 });
    const b = await cpu.generate(prompt, { maxTokens: 12, temperature: 0 });
    expect(a.tokens).toEqual(b.tokens);
  } finally {
    await Promise.all([sim.dispose(), cpu.dispose()]);
  }
});
