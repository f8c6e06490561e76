/**
 * A tokenizer.json larger than 1 MB is parsed by a worker thread (lib/tokenizer/json-parts.ts), which
 * sends the merges back as the token ids of their two sides (spec.ts mergeIds) instead of 151k pairs of
 * strings. The ids must be exactly those the builder resolves from the strings (the vocabulary, then the
 * added tokens over it; -1 for a side that is no token), and the tokens exactly those of the same file
 * parsed in place. A malformed merge makes the worker send the merges as they are, for the builder to name.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadTokenizer, Tokenizer } from '../lib';
import { parseTokenizerJson } from '../lib/tokenizer/json-parts';
import { fixture, hfTokenizer } from './tokenizer-helpers';

type Json = Record<string, unknown>;

const TEXTS = [
  'Hello world! The quick brown fox jumps over the lazy dog, 1234567890 times.',
  "  leading spaces, tabs\tand\nnewlines\n\n  don't we'll they're I'M",
  'naïve café ünïcödé Ελληνικά русский 中文没有空格的句子 日本語のテキスト 한국어 🦙🦙 👩‍👩‍👧',
  'def f(x):\n    return {"a": [1, 2.5, -3e10]}  # comment\n',
  '<|im_start|>user\nhi<|im_end|> </s> <s> <|endoftext|> <unk>',
  'a'.repeat(300) + ' ' + 'ab'.repeat(200),
];

const bytesOf = (j: unknown): Buffer => Buffer.from(JSON.stringify(j));

/** The merges' sides as the in-place build resolves them (its tokenToId), -1 for no token. */
function expectedIds(merges: unknown[], t: Tokenizer): Int32Array {
  const out = new Int32Array(merges.length * 2);
  merges.forEach((e, i) => {
    let a: string | undefined;
    let b: string | undefined;
    if (typeof e === 'string') {
      const sp = e.indexOf(' ', 1);
      if (sp >= 0) [a, b] = [e.slice(0, sp), e.slice(sp + 1)];
    } else [a, b] = e as [string, string];
    out[2 * i] = (a === undefined ? undefined : t.tokenId(a)) ?? -1;
    out[2 * i + 1] = (b === undefined ? undefined : t.tokenId(b)) ?? -1;
  });
  return out;
}

function expectSameTokens(got: Tokenizer, want: Tokenizer): void {
  expect(got.vocabSize).toBe(want.vocabSize);
  for (const text of TEXTS)
    for (const parseSpecial of [false, true])
      expect(got.tokenize(text, { parseSpecial })).toEqual(want.tokenize(text, { parseSpecial }));
}

describe('real files: the merges come back as ids, the tokens are those of the file parsed in place', () => {
  // qwen2: [left, right] pairs (tokenizers >= 0.20); llama3 and llama2: "left right" strings.
  it.each([['qwen2'], ['llama3'], ['llama2']])('%s', async (name) => {
    const file = fixture('hf', name, 'tokenizer.json');
    const json = JSON.parse(fs.readFileSync(file, 'utf8')) as Json;
    const merges = (json.model as Json).merges as unknown[];
    const parts = await parseTokenizerJson(fs.readFileSync(file), file);
    expect(parts.merges).toBeUndefined();
    expect(parts.mergeIds).toBeDefined();
    const sync = hfTokenizer(name);
    expect(Buffer.from(parts.mergeIds!.buffer).equals(Buffer.from(expectedIds(merges, sync).buffer))).toBe(true);
    expectSameTokens(await loadTokenizer(fixture('hf', name)), sync);
  });
});

describe('what the worker resolves, on a file made to hold each case', () => {
  const base = JSON.parse(fs.readFileSync(fixture('hf', 'gutenberg-16m', 'tokenizer.json'), 'utf8')) as Json;
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mm-json-parts-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The file padded past the 1 MB the worker starts at (an unknown key the builder ignores). */
  const big = (j: Json): Json => ({ ...j, padding: 'x'.repeat(1 << 20) });
  const mutated = (f: (j: Json, model: Json) => void): Json => {
    const j = JSON.parse(JSON.stringify(base)) as Json;
    f(j, j.model as Json);
    return big(j);
  };

  const cases: Array<[string, (j: Json, model: Json) => void]> = [
    [
      // The added token's id wins over the vocabulary's for the same text, in merges too.
      'an added token that gives a vocabulary text a new id',
      (j) => (j.added_tokens as Json[]).push({ id: 8192, content: 'Ġt', special: false }),
    ],
    [
      'merges whose sides are no token, or a string with no space',
      (_j, m) => (m.merges as unknown[]).unshift(['zzq', 'Ġt'], ['Ġt', 'no-such-token'], 'nospace', 'Ġ t'),
    ],
    ['merges as "left right" strings', (_j, m) => (m.merges = (m.merges as string[][]).map((p) => p.join(' ')))],
    ['no added tokens at all', (j) => delete j.added_tokens],
  ];
  it.each(cases)('%s', async (_name, f) => {
    const j = mutated(f);
    const parts = await parseTokenizerJson(bytesOf(j), 'x.json');
    expect(parts.merges).toBeUndefined();
    const sync = Tokenizer.fromTokenizerJson(j);
    const merges = (j.model as Json).merges as unknown[];
    expect(Buffer.from(parts.mergeIds!.buffer).equals(Buffer.from(expectedIds(merges, sync).buffer))).toBe(true);
    expectSameTokens(await Tokenizer.fromTokenizerJsonPartsAsync(parts), sync);
    // The same through the public loader, from a file.
    const file = path.join(dir, 'tokenizer.json');
    fs.writeFileSync(file, JSON.stringify(j));
    expectSameTokens(await loadTokenizer(file), sync);
  });

  it('a malformed merge: the merges come back as they are, and the builder names the entry', async () => {
    for (const bad of [null, 5, ['a'], [null, 'b'], { a: 1 }]) {
      const j = mutated((_j, m) => (m.merges as unknown[]).splice(3, 0, bad));
      const parts = await parseTokenizerJson(bytesOf(j), 'x.json');
      expect(parts.mergeIds).toBeUndefined();
      expect(parts.merges).toHaveLength(7936);
      await expect(Tokenizer.fromTokenizerJsonPartsAsync(parts)).rejects.toMatchObject({
        code: 'ERR_BAD_MODEL',
        message: expect.stringMatching(/merges\[3\]/) as unknown,
      });
    }
  });

  it('a vocabulary that is not an object: no ids, and the build fails as in place', async () => {
    const j = mutated((_j, m) => (m.vocab = ['a', 'b']));
    const parts = await parseTokenizerJson(bytesOf(j), 'x.json');
    expect(parts.mergeIds).toBeUndefined();
    await expect(Tokenizer.fromTokenizerJsonPartsAsync(parts)).rejects.toMatchObject({ code: 'ERR_BAD_MODEL' });
    expect(() => Tokenizer.fromTokenizerJson(j)).toThrow(expect.objectContaining({ code: 'ERR_BAD_MODEL' }));
  });
});
