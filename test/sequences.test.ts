/**
 * Parallel sequences (loadModel's maxSequences): concurrent generations run in
 * batched decode steps, and a greedy generation is the same token for token
 * whether it runs alone or among others, on the F32 stories260K and the F16
 * gutenberg-16m models; more requests than slots queue; a paused or abandoned
 * stream never stalls the others; dispose() completes; a cached prefix is
 * reused. About 20 s.
 */
import { loadModel, type Model } from '../lib/model/model';
import { fixture } from './helpers/model-refs';

const STORIES = [
  'Once upon a time',
  'The little dog',
  'Lily wanted to play',
  'One day, a bird',
  'Tom and Sue went to the park',
  'The sun was hot and',
  'A big red ball',
  'Mom said',
];

async function aloneThenTogether(model: Model, prompts: string[], maxTokens: number): Promise<void> {
  const alone: number[][] = [];
  for (const p of prompts) alone.push((await model.generate(p, { temperature: 0, maxTokens })).tokens);
  const before = { ...model.sequenceStats! };
  const together = await Promise.all(prompts.map((p) => model.generate(p, { temperature: 0, maxTokens })));
  expect(together.map((r) => r.tokens)).toEqual(alone);
  const after = model.sequenceStats!;
  // Batched: fewer decode steps than decoded tokens.
  const rows = after.decodeRows - before.decodeRows;
  const steps = after.decodeSteps - before.decodeSteps;
  expect(rows).toBeGreaterThan(0);
  expect(steps).toBeLessThan(rows / 2);
}

describe('stories260K (F32), maxSequences 4', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(fixture('models', 'stories260K.gguf'), {
      backend: 'cpu',
      contextSize: 256,
      maxSequences: 4,
    });
  });
  afterAll(async () => {
    await model.dispose();
  });

  test('info.maxSequences, and option validation', async () => {
    expect(model.info.maxSequences).toBe(4);
    await expect(loadModel(fixture('models', 'stories260K.gguf'), { maxSequences: 0 })).rejects.toThrow(
      /maxSequences must be an integer in \[1, 256\], got 0/,
    );
    await expect(
      loadModel(fixture('models', 'stories260K.gguf'), { maxSequences: 256, contextSize: 1 << 24 }),
    ).rejects.toThrow(/below 2\^31 cache rows/);
  });

  test('8 concurrent greedy generations (queued beyond 4) equal each run alone, in batched steps', async () => {
    await aloneThenTogether(model, STORIES, 40);
  });

  test('equal to the one-sequence model', async () => {
    const one = await loadModel(fixture('models', 'stories260K.gguf'), { backend: 'cpu', contextSize: 256 });
    try {
      for (const p of STORIES.slice(0, 3)) {
        const a = await one.generate(p, { temperature: 0, maxTokens: 30 });
        const b = await model.generate(p, { temperature: 0, maxTokens: 30 });
        expect(b.tokens).toEqual(a.tokens);
      }
    } finally {
      await one.dispose();
    }
  });

  test('a paused stream does not stall others; streams in lock-step do not deadlock', async () => {
    const paused = model.stream('Once upon a time', { temperature: 0, maxTokens: 100 })[Symbol.asyncIterator]();
    expect((await paused.next()).done).toBe(false);
    // Hold the paused stream's next chunk back while others run.
    const others = await Promise.all(
      STORIES.slice(0, 6).map((p) => model.generate(p, { temperature: 0, maxTokens: 20 })),
    );
    expect(others.every((r) => r.tokens.length > 0)).toBe(true);
    const a = model.stream('The little dog', { temperature: 0, maxTokens: 15 })[Symbol.asyncIterator]();
    const b = model.stream('Mom said', { temperature: 0, maxTokens: 15 })[Symbol.asyncIterator]();
    const ta: number[] = [];
    const tb: number[] = [];
    for (;;) {
      const [ra, rb] = await Promise.all([a.next(), b.next()]);
      if (!ra.done && ra.value.token >= 0) ta.push(ra.value.token);
      if (!rb.done && rb.value.token >= 0) tb.push(rb.value.token);
      if (ra.done && rb.done) break;
    }
    expect(ta).toEqual((await model.generate('The little dog', { temperature: 0, maxTokens: 15 })).tokens);
    expect(tb).toEqual((await model.generate('Mom said', { temperature: 0, maxTokens: 15 })).tokens);
    // The paused one resumes where it was.
    const rest: number[] = [];
    for (let r = await paused.next(); !r.done; r = await paused.next())
      if (r.value.token >= 0) rest.push(r.value.token);
    expect(rest.length).toBeGreaterThan(0);
  });

  test('abort ends one generation, not the others', async () => {
    const ac = new AbortController();
    const cut = model.generate('Once upon a time', {
      temperature: 0,
      maxTokens: 200,
      signal: ac.signal,
      onToken: () => ac.abort(),
    });
    const fine = model.generate('The sun was hot and', { temperature: 0, maxTokens: 20 });
    expect((await cut).finishReason).toBe('abort');
    expect((await fine).finishReason).not.toBe('abort');
  });

  test('explicit sequences keep their cache between calls, batch with others, free their slot on dispose', async () => {
    const seq = await model.createSequence();
    const a = await seq.generate('Once upon a time', { temperature: 0, maxTokens: 12 });
    expect(seq.cachedTokens.length).toBeGreaterThan(a.tokens.length);
    const cached = [...seq.cachedTokens];
    const before = model.sequenceStats!.prefillTokens;
    // Continue from where it stopped: only the new tokens are processed.
    const [b, other] = await Promise.all([
      seq.generate([...cached, ...model.tokenize(' The', { addSpecial: false })], { temperature: 0, maxTokens: 8 }),
      model.generate('The little dog', { temperature: 0, maxTokens: 8 }),
    ]);
    expect(b.tokens.length).toBeGreaterThan(0);
    expect(other.tokens.length).toBeGreaterThan(0);
    expect(model.sequenceStats!.prefillTokens - before).toBeLessThan(cached.length);
    await seq.dispose();
    expect(seq.disposed).toBe(true);
    await expect(seq.generate('x')).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
    // All 4 slots are free again.
    const seqs = await Promise.all([1, 2, 3, 4].map(() => model.createSequence()));
    await Promise.all(seqs.map((s) => s[Symbol.asyncDispose]()));
    expect(seqs.every((s) => s.disposed)).toBe(true);
  });

  test('a cached prefix is reused: the next chat turn prefills only its new tokens', async () => {
    const messages = [{ role: 'user', content: 'Tell me about a cat named Tom who liked to jump.' }];
    const first = await model.chat(messages, { temperature: 0, maxTokens: 10 });
    const before = model.sequenceStats!.prefillTokens;
    const next = [
      ...messages,
      { role: 'assistant', content: first.message.content },
      { role: 'user', content: 'More.' },
    ];
    const r = await model.chat(next, { temperature: 0, maxTokens: 5 });
    const prefilled = model.sequenceStats!.prefillTokens - before;
    expect(prefilled).toBeLessThan(r.usage.promptTokens / 2);
  });
});

test('gutenberg-16m (F16): concurrent greedy generations equal each run alone', async () => {
  const model = await loadModel(fixture('models', 'gutenberg-16m-hf'), {
    backend: 'cpu',
    contextSize: 256,
    maxSequences: 4,
  });
  try {
    await aloneThenTogether(model, ['The old man', 'It was a dark night', 'She opened the door', 'In the morning'], 24);
  } finally {
    await model.dispose();
  }
});

test('dispose() completes with a stream abandoned mid-way', async () => {
  const model = await loadModel(fixture('models', 'stories260K.gguf'), {
    backend: 'cpu',
    contextSize: 128,
    maxSequences: 2,
  });
  const it = model.stream('Once upon a time', { temperature: 0, maxTokens: 100 })[Symbol.asyncIterator]();
  await it.next();
  await model.dispose();
  expect(model.disposed).toBe(true);
  const r = await it.next();
  expect(r.done ? r.value.finishReason : 'more').toBe('abort');
});

test('a prefix another running sequence holds is copied, not recomputed, with the same result', async () => {
  const system =
    'Once upon a time there was a little girl named Lily. She liked to play outside in the sun with her dog.';
  const one = await loadModel(fixture('models', 'stories260K.gguf'), { backend: 'cpu', contextSize: 128 });
  const alone = (await one.generate(`${system} One day`, { temperature: 0, maxTokens: 20 })).tokens;
  await one.dispose();
  const model = await loadModel(fixture('models', 'stories260K.gguf'), {
    backend: 'cpu',
    contextSize: 128,
    maxSequences: 2,
  });
  try {
    // A holds the shared prefix in slot 0 while B starts in the empty slot 1.
    const a = model.stream(`${system} The dog`, { temperature: 0, maxTokens: 30 })[Symbol.asyncIterator]();
    await a.next();
    const before = { ...model.sequenceStats! };
    const [b] = await Promise.all([
      model.generate(`${system} One day`, { temperature: 0, maxTokens: 20 }),
      (async () => {
        for (let r = await a.next(); !r.done; r = await a.next());
      })(),
    ]);
    expect(b.tokens).toEqual(alone);
    const shared = model.sequenceStats!.sharedTokens - before.sharedTokens;
    const computed = model.sequenceStats!.prefillTokens - before.prefillTokens;
    expect(shared).toBeGreaterThanOrEqual(model.tokenize(system).length - 3);
    expect(shared + computed).toBe(b.usage.promptTokens);
  } finally {
    await model.dispose();
  }
});

test('metal-sim (the Metal kernels emulated): parallel sequences run one decode per sequence, same tokens as alone', async () => {
  const model = await loadModel(fixture('models', 'stories260K.gguf'), {
    backend: 'metal-sim',
    contextSize: 64,
    maxSequences: 2,
  });
  try {
    const prompts = ['Once upon a time', 'The little dog'];
    const alone: number[][] = [];
    for (const p of prompts) alone.push((await model.generate(p, { temperature: 0, maxTokens: 6 })).tokens);
    const together = await Promise.all(prompts.map((p) => model.generate(p, { temperature: 0, maxTokens: 6 })));
    expect(together.map((r) => r.tokens)).toEqual(alone);
    // No batched graph there: as many decode runs as rows.
    expect(model.sequenceStats!.decodeSteps).toBe(model.sequenceStats!.decodeRows);
  } finally {
    await model.dispose();
  }
});

test.each(['tiny-gemma2-f16.gguf', 'tiny-gemma3-f16.gguf', 'tiny-phi3-f16.gguf'])(
  '%s (sliding windows, softcaps, partial rope): concurrent == alone == the one-sequence model',
  async (file) => {
    const one = await loadModel(fixture('random', file), { backend: 'cpu', contextSize: 64 });
    const model = await loadModel(fixture('random', file), { backend: 'cpu', contextSize: 64, maxSequences: 4 });
    try {
      const vocab = model.info.vocabSize;
      const prompts = [0, 1, 2, 3].map((i) =>
        Array.from({ length: 5 + i * 3 }, (_, k) => 1 + ((i * 37 + k * 11) % (vocab - 1))),
      );
      const ref: number[][] = [];
      for (const p of prompts) ref.push((await one.generate(p, { temperature: 0, maxTokens: 20 })).tokens);
      const together = await Promise.all(prompts.map((p) => model.generate(p, { temperature: 0, maxTokens: 20 })));
      expect(together.map((r) => r.tokens)).toEqual(ref);
      expect(model.sequenceStats!.decodeSteps).toBeLessThan(model.sequenceStats!.decodeRows);
    } finally {
      await Promise.all([one.dispose(), model.dispose()]);
    }
  },
);
