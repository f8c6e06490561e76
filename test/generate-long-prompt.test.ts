/**
 * Long prompts in generate / stream / chat (issue 11 item 11): tokenizing never
 * holds the event loop for long, and a prompt that cannot fit the context is
 * rejected as soon as that is known, without tokenizing all of it.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadModel, type Model } from '../lib/model/model';
import { fixture } from './helpers/model-refs';

const TEN_MB = 'Once upon a time, a little girl named Lily went to the park. '.repeat((10 * 1024 * 1024) / 61);

async function withDelayMonitor(f: () => Promise<unknown>): Promise<{ ms: number; maxDelayMs: number }> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const t0 = performance.now();
  await f();
  const ms = performance.now() - t0;
  h.disable();
  return { ms, maxDelayMs: h.max / 1e6 };
}

describe('a 10 MB prompt', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(fixture('models', 'stories260K.gguf'), { backend: 'cpu', contextSize: 256 });
  });
  afterAll(() => model.dispose());

  it('generate(): ERR_CONTEXT_OVERFLOW at once, the event loop free meanwhile', async () => {
    const r = await withDelayMonitor(() =>
      expect(model.generate(TEN_MB, { maxTokens: 4 })).rejects.toMatchObject({ code: 'ERR_CONTEXT_OVERFLOW' }),
    );
    // Tokenizing all 10 MB took 14-16 s and blocked throughout; slices are ~10 ms.
    expect(r.ms).toBeLessThan(2000);
    expect(r.maxDelayMs).toBeLessThan(200);
  });

  it('stream() and chat(): the same', async () => {
    const s = await withDelayMonitor(async () => {
      const it = model.stream(TEN_MB, { maxTokens: 4 })[Symbol.asyncIterator]();
      await expect(it.next()).rejects.toMatchObject({ code: 'ERR_CONTEXT_OVERFLOW' });
    });
    expect(s.maxDelayMs).toBeLessThan(200);
    const c = await withDelayMonitor(() =>
      expect(model.chat([{ role: 'user', content: TEN_MB }], { maxTokens: 4 })).rejects.toMatchObject({
        code: 'ERR_CONTEXT_OVERFLOW',
      }),
    );
    expect(c.maxDelayMs).toBeLessThan(400); // includes rendering the plain chat format (one string concatenation)
  });

  it('a prompt that fits gives the same tokens as tokenize()', async () => {
    const prompt = TEN_MB.slice(0, 600);
    const r = await model.generate(prompt, { maxTokens: 3, temperature: 0 });
    expect(r.usage.promptTokens).toBe(model.tokenize(prompt).length);
  });

  it('an aborted signal ends with finishReason "abort" before any tokenizing', async () => {
    const ac = new AbortController();
    ac.abort();
    const r = await model.generate(TEN_MB, { maxTokens: 4, signal: ac.signal });
    expect(r.finishReason).toBe('abort');
    expect(r.tokens).toEqual([]);
  });
});
