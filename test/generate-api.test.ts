/**
 * The generation API on stories260K: abort, stop strings, seeds, streams,
 * dispose, concurrency, context reuse and overflow, option validation.
 */
import { loadModel, type Model } from '../lib/model/model';
import { MiniMacLLMError } from '../lib/errors';
import { fixture } from './helpers/model-refs';

let model: Model;
beforeAll(async () => {
  model = await loadModel(fixture('models', 'stories260K.gguf'), { backend: 'cpu', contextSize: 256 });
});
afterAll(async () => {
  await model.dispose();
});

const code = async (p: Promise<unknown> | (() => unknown)): Promise<string | undefined> => {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(MiniMacLLMError);
    return (e as MiniMacLLMError).code;
  }
  return undefined;
};

test('same seed, same output; other seed, other output', async () => {
  const a = await model.generate('Once upon a time', { seed: 42, maxTokens: 40 });
  const b = await model.generate('Once upon a time', { seed: 42, maxTokens: 40 });
  const c = await model.generate('Once upon a time', {
    seed: 43,
    maxTokens: 40,
    temperature: 1.5,
    topK: 0,
    topP: 1,
    minP: 0,
  });
  expect(a.text).toBe(b.text);
  expect(a.tokens).toEqual(b.tokens);
  expect(c.text).not.toBe(a.text);
});

test('result shape, timings and onToken', async () => {
  const pieces: string[] = [];
  const r = await model.generate('Once upon a time', {
    maxTokens: 20,
    temperature: 0,
    onToken: (c) => pieces.push(c.text),
  });
  expect(r.finishReason).toBe('length');
  expect(r.tokens).toHaveLength(20);
  expect(pieces.join('')).toBe(r.text);
  expect(r.text).toBe(model.detokenize(r.tokens));
  expect(r.usage.promptTokens).toBe(model.tokenize('Once upon a time').length);
  for (const k of ['promptMs', 'generateMs', 'promptTokensPerSecond', 'generateTokensPerSecond'] as const) {
    expect(Number.isFinite(r.timings[k])).toBe(true);
  }
});

test('stop strings end generation and never appear in the text, even split across tokens', async () => {
  const full = await model.generate([1], { maxTokens: 60, temperature: 0 });
  // "little girl" spans several tokens.
  expect(model.tokenize('little girl', { addSpecial: false }).length).toBeGreaterThan(1);
  const at = full.text.indexOf('little girl');
  expect(at).toBeGreaterThan(0);
  const streamed: string[] = [];
  const r = await model.generate([1], {
    maxTokens: 60,
    temperature: 0,
    stop: ['little girl', 'zzz'],
    onToken: (c) => streamed.push(c.text),
  });
  expect(r.finishReason).toBe('stop');
  expect(r.text).toBe(full.text.slice(0, at));
  expect(streamed.join('')).toBe(r.text);
  // A stop string that starts mid-token: "ily." as well.
  const r2 = await model.generate([1], { maxTokens: 60, temperature: 0, stop: 'ily' });
  expect(r2.text).toBe(full.text.slice(0, full.text.indexOf('ily')));
  expect(r2.text).not.toContain('ily');
});

test('abort: finishReason "abort" with the text so far', async () => {
  const ac = new AbortController();
  let n = 0;
  const r = await model.generate('Once upon a time', {
    maxTokens: 200,
    signal: ac.signal,
    seed: 1,
    onToken: () => {
      if (++n === 5) ac.abort();
    },
  });
  expect(r.finishReason).toBe('abort');
  expect(r.tokens).toHaveLength(5);
  const pre = new AbortController();
  pre.abort();
  const r0 = await model.generate('Once upon a time', { signal: pre.signal });
  expect(r0.finishReason).toBe('abort');
  expect(r0.tokens).toHaveLength(0);
});

test('stream yields tokens; breaking out stops generation and frees the model for the next call', async () => {
  const greedy = await model.generate('Once upon a time', { maxTokens: 30, temperature: 0 });
  const seen: number[] = [];
  for await (const chunk of model.stream('Once upon a time', { maxTokens: 30, temperature: 0 })) {
    seen.push(chunk.token);
    if (seen.length === 10) break;
  }
  expect(seen).toEqual(greedy.tokens.slice(0, 10));
  // The lock was released: this would hang otherwise.
  const after = await model.generate('Once upon a time', { maxTokens: 5, temperature: 0 });
  expect(after.tokens).toEqual(greedy.tokens.slice(0, 5));
  let text = '';
  for await (const c of model.stream('Once upon a time', { maxTokens: 30, temperature: 0 })) text += c.text;
  expect(text).toBe(greedy.text);
});

test('concurrent generate() calls queue and give the same results as sequential ones', async () => {
  const prompts = ['Once upon a time', 'Lily and Ben', 'The dog', 'One day'];
  const sequential = [];
  for (const p of prompts) sequential.push((await model.generate(p, { maxTokens: 25, seed: 7 })).text);
  const concurrent = await Promise.all(prompts.map((p) => model.generate(p, { maxTokens: 25, seed: 7 })));
  expect(concurrent.map((r) => r.text)).toEqual(sequential);
});

test('contexts: evaluate, prefix reuse, reset, allLogits, overflow', async () => {
  const ctx = model.createContext({ contextSize: 64 });
  const ids = model.tokenize('Once upon a time, there was a little girl');
  const fresh = await ctx.evaluate(ids);
  expect(fresh).toHaveLength(512);
  const freshCopy = fresh.slice();
  expect(ctx.cachedTokens).toEqual(ids);
  // Extending reuses the cached prefix and gives the same logits as a fresh run.
  const longer = [...ids, ...model.tokenize(' named Lily', { addSpecial: false })];
  const reused = await ctx.evaluate(longer);
  // Each call resolves with an array of its own: a later call leaves an earlier result alone.
  expect(reused).not.toBe(fresh);
  expect(fresh).toEqual(freshCopy);
  const other = model.createContext({ contextSize: 64 });
  const scratch = await other.evaluate(longer);
  for (let i = 0; i < 512; i++) expect(reused[i]).toBeCloseTo(scratch[i]!, 4);
  // allLogits rows equal last-row logits at each prefix.
  const all = await other.evaluate(ids, { allLogits: true });
  expect(all).toHaveLength(ids.length * 512);
  const lastRow = all.subarray((ids.length - 1) * 512);
  for (let i = 0; i < 512; i++) expect(lastRow[i]).toBeCloseTo(fresh[i]!, 4);
  ctx.reset();
  expect(ctx.cachedTokens).toEqual([]);
  expect(await code(ctx.evaluate(new Array(65).fill(5)))).toBe('ERR_CONTEXT_OVERFLOW');
  expect(await code(ctx.evaluate([]))).toBe('ERR_INVALID_ARG');
  expect(await code(ctx.evaluate([1, 512]))).toBe('ERR_INVALID_ARG');
  await ctx.dispose();
  await other.dispose();
  expect(await code(ctx.evaluate([1]))).toBe('ERR_DISPOSED');
  expect(() => ctx.reset()).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
});

test('a prompt longer than the context is ERR_CONTEXT_OVERFLOW; generation stops at a full context', async () => {
  const long = new Array(257).fill(300);
  expect(await code(model.generate(long))).toBe('ERR_CONTEXT_OVERFLOW');
  const r = await model.generate(new Array(250).fill(300), { maxTokens: 100, temperature: 0 });
  expect(r.finishReason === 'length' || r.finishReason === 'eos').toBe(true);
  expect(r.usage.promptTokens + r.usage.completionTokens).toBeLessThanOrEqual(257);
});

test('options are validated with precise messages', async () => {
  const msg = async (o: object): Promise<string> => {
    try {
      await model.generate('x', o);
    } catch (e) {
      expect((e as MiniMacLLMError).code).toBe('ERR_INVALID_ARG');
      return (e as Error).message;
    }
    throw new Error('no error');
  };
  expect(await msg({ maxTokens: -1 })).toBe('maxTokens must be a positive integer, got -1');
  expect(await msg({ maxTokens: 1.5 })).toBe('maxTokens must be a positive integer, got 1.5');
  expect(await msg({ temperature: -0.1 })).toBe('temperature must be a number >= 0, got -0.1');
  expect(await msg({ topK: 'a' })).toBe('topK must be an integer >= 0, got "a"');
  expect(await msg({ topP: 0 })).toBe('topP must be a number in (0, 1], got 0');
  expect(await msg({ minP: 2 })).toBe('minP must be a number in [0, 1], got 2');
  expect(await msg({ repeatPenalty: 0 })).toBe('repeatPenalty must be a number > 0, got 0');
  expect(await msg({ repeatLastN: -2 })).toBe('repeatLastN must be an integer >= -1, got -2');
  expect(await msg({ seed: -1 })).toBe('seed must be a non-negative safe integer, got -1');
  expect(await msg({ stop: 5 })).toBe('stop must be a string or an array of strings, got 5');
  expect(await msg({ signal: {} })).toBe('signal must be an AbortSignal, got an object');
  expect(await msg({ maxToken: 5 })).toBe('unknown option "maxToken"');
  expect(await code(loadModel(fixture('models', 'stories260K.gguf'), { backend: 'gpu' as never }))).toBe(
    'ERR_INVALID_ARG',
  );
  expect(await code(loadModel(fixture('models', 'stories260K.gguf'), { threads: -1 }))).toBe('ERR_INVALID_ARG');
  expect(await code(loadModel(fixture('models', 'stories260K.gguf'), { contextSize: 0 }))).toBe('ERR_INVALID_ARG');
});

test('penalties change the output; repeatPenalty 1 and zero penalties are no-ops', async () => {
  const base = await model.generate('Once upon a time', { maxTokens: 40, temperature: 0 });
  const same = await model.generate('Once upon a time', {
    maxTokens: 40,
    temperature: 0,
    repeatPenalty: 1,
    presencePenalty: 0,
    frequencyPenalty: 0,
  });
  const pen = await model.generate('Once upon a time', {
    maxTokens: 40,
    temperature: 0,
    repeatPenalty: 1.5,
    frequencyPenalty: 1,
  });
  expect(same.tokens).toEqual(base.tokens);
  expect(pen.tokens).not.toEqual(base.tokens);
});

describe('loading and disposing', () => {
  test('sha256, metal availability, progress, abort', async () => {
    const stages: string[] = [];
    const m = await loadModel(fixture('models', 'stories260K.gguf'), {
      backend: 'cpu',
      sha256: '270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d',
      onProgress: (p) => stages.push(p.stage),
    });
    expect(stages).toEqual(['checksum', 'map', 'ready']);
    await m.dispose();
    expect(
      await code(loadModel(fixture('models', 'stories260K.gguf'), { backend: 'cpu', sha256: '0'.repeat(64) })),
    ).toBe('ERR_CHECKSUM');
    expect(await code(loadModel(fixture('models', 'stories260K.gguf'), { backend: 'metal' }))).toBe('ERR_UNSUPPORTED');
    const ac = new AbortController();
    ac.abort();
    expect(await code(loadModel(fixture('models', 'stories260K.gguf'), { backend: 'cpu', signal: ac.signal }))).toBe(
      'ERR_ABORTED',
    );
    expect(await code(loadModel(fixture('nope.gguf'), { backend: 'cpu' }))).toBe('ERR_IO');
  });

  // The Mac-only warning and quiet are tested in test/logger.test.ts.
  test("'auto' falls back to the CPU, silently off a Mac", async () => {
    const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const a = await loadModel(fixture('models', 'stories260K.gguf'));
      if (process.platform !== 'darwin') {
        expect(a.info.backend).toBe('cpu');
        expect(err).not.toHaveBeenCalled();
      }
      await a.dispose();
    } finally {
      err.mockRestore();
    }
  });

  test('dispose waits for in-flight work; everything after is ERR_DISPOSED', async () => {
    const m = await loadModel(fixture('models', 'stories260K.gguf'), { backend: 'cpu' });
    const ctx = m.createContext({ contextSize: 32 });
    const running = m.generate('Once upon a time', { maxTokens: 100, seed: 3 });
    const queued = m.generate('Lily', { maxTokens: 10, seed: 3 });
    await m.dispose();
    // Started and queued work finished first.
    const [r1, r2] = await Promise.all([running, queued]);
    expect(r1.usage.completionTokens).toBeGreaterThan(0);
    expect(r2.usage.completionTokens).toBeGreaterThan(0);
    expect(ctx.disposed).toBe(true);
    expect(await code(m.generate('x'))).toBe('ERR_DISPOSED');
    expect(await code(() => m.stream('x'))).toBe('ERR_DISPOSED');
    expect(await code(() => m.tokenize('x'))).toBe('ERR_DISPOSED');
    expect(await code(() => m.createContext())).toBe('ERR_DISPOSED');
    expect(await code(ctx.evaluate([1]))).toBe('ERR_DISPOSED');
    expect(await code(m.chat([{ role: 'user', content: 'hi' }]))).toBe('ERR_DISPOSED');
    await m.dispose(); // idempotent
  });
});
