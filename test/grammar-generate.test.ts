/**
 * Constrained generation: GBNF grammars for arithmetic, a list format and
 * JSON (our own equivalents of llama.cpp's examples) constrain random-weight
 * models to their language — checked by parsers written here, independent of
 * the grammar engine; end of generation only where the grammar is complete;
 * code points split across byte tokens; special tokens never leak; the
 * logitsProcessor hook; streaming; option checks.
 */
import { Grammar } from '../lib/grammar/grammar';
import { loadModel, type Model } from '../lib/model/model';
import { fixture } from './helpers/model-refs';
import { vocabModel } from './helpers/vocab-model';

const ARITHMETIC = `
# One or two equations like "(12 + -3)*4 = 60", each on its own line; parentheses one level deep.
root     ::= equation{1,2}
equation ::= expr " = " "-"? [0-9]{1,6} "\\n"
expr     ::= term (ws [-+] ws term){0,2}
term     ::= factor (ws [*/] ws factor){0,1}
factor   ::= "-"? ([0-9]{1,4} | "(" inner ")")
inner    ::= iterm (ws [-+] ws iterm){0,2}
iterm    ::= ifactor (ws [*/] ws ifactor){0,1}
ifactor  ::= "-"? [0-9]{1,4}
ws       ::= " "?
`;

const LIST = `
# A bulleted list of one to five short items.
root ::= item{1,5}
item ::= "- " [A-Za-z] [a-z ]{0,15} "\\n"
`;

const JSON_GBNF = `
# JSON values, like llama.cpp's json.gbnf but bounded so a random model always finishes.
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws
object ::= "{" ws ( string ":" ws value ("," ws string ":" ws value){0,3} )? "}" ws
array  ::= "[" ws ( value ("," ws value){0,3} )? "]" ws
string ::= "\\"" ( [^"\\\\\\x7F\\x00-\\x1F] | "\\\\" (["\\\\/bfnrt] | "u" [0-9a-fA-F]{4}) ){0,10} "\\"" ws
number ::= ("-"? ([0-9] | [1-9] [0-9]{0,6})) ("." [0-9]{1,6})? ([eE] [-+]? [0-9]{1,2})? ws
ws     ::= | " " | "\\n" [ \\t]{0,4}
`;

/** Independent recursive-descent check of one arithmetic equation line set. */
function isArithmetic(text: string): boolean {
  const lines = text.split('\n');
  if (lines.pop() !== '' || lines.length < 1 || lines.length > 2) return false;
  return lines.every((line) => {
    let i = 0;
    const ws = (): void => {
      if (line[i] === ' ') i++;
    };
    const digits = (min: number, max: number): boolean => {
      const s = i;
      while (i < line.length && line[i]! >= '0' && line[i]! <= '9') i++;
      return i - s >= min && i - s <= max;
    };
    const factor = (depth: number): boolean => {
      if (line[i] === '-') i++;
      if (line[i] === '(') {
        if (depth > 0) return false; // one level of parentheses
        i++;
        if (!expr(depth + 1) || line[i] !== ')') return false;
        i++;
        return true;
      }
      return digits(1, 4);
    };
    const sequence = (ops: string, max: number, item: () => boolean): boolean => {
      if (!item()) return false;
      for (let n = 0; n < max; n++) {
        const save = i;
        ws();
        if (line[i] === undefined || !ops.includes(line[i]!)) {
          i = save;
          return true;
        }
        i++;
        ws();
        if (!item()) return false;
      }
      return true;
    };
    const term = (depth: number): boolean => sequence('*/', 1, () => factor(depth));
    const expr = (depth: number): boolean => sequence('+-', 2, () => term(depth));
    if (!expr(0) || line.slice(i, i + 3) !== ' = ') return false;
    i += 3;
    if (line[i] === '-') i++;
    return digits(1, 6) && i === line.length;
  });
}

describe('GBNF grammars constrain random models to their language', () => {
  let llama: Model, qwen: Model;
  beforeAll(async () => {
    llama = await loadModel(fixture('random', 'tiny-llama-q8_0.gguf'), { backend: 'cpu', contextSize: 1024 });
    qwen = await loadModel(vocabModel({ vocab: 'qwen2' }), { backend: 'cpu', contextSize: 1024 });
  });
  afterAll(async () => {
    await llama.dispose();
    await qwen.dispose();
  });

  const cases: Array<[string, string, (s: string) => boolean]> = [
    ['arithmetic', ARITHMETIC, isArithmetic],
    ['list', LIST, (s) => /^(- [A-Za-z][a-z ]{0,15}\n){1,5}$/.test(s)],
    [
      'json',
      JSON_GBNF,
      (s) => {
        try {
          const v: unknown = JSON.parse(s);
          return typeof v === 'object' && v !== null && !Array.isArray(v);
        } catch {
          return false;
        }
      },
    ],
  ];

  test.each(cases)('%s', async (_name, gbnf, check) => {
    const grammar = new Grammar(gbnf);
    for (const [model, seeds] of [
      [llama, 20],
      [qwen, 6],
    ] as const) {
      for (let seed = 1; seed <= seeds; seed++) {
        const r = await model.generate('Output:', { grammar, temperature: 1, seed, maxTokens: 600 });
        expect([seed, r.finishReason, check(r.text), r.text]).toEqual([seed, 'eos', true, r.text]);
        expect(grammar.matches(r.text)).toBe(true);
      }
    }
  });

  test('end of generation only where the grammar is complete, however much the model wants it', async () => {
    for (const model of [llama, qwen]) {
      const eog = model.tokenizer.eogIds;
      const wantsToStop = (logits: Float32Array): void => {
        for (const t of eog) logits[t] = 1e4;
      };
      for (let seed = 1; seed <= 5; seed++) {
        const r = await model.generate('x', {
          grammar: 'root ::= "abc" [x-z]{2}',
          logitsProcessor: wantsToStop,
          temperature: 1,
          seed,
        });
        expect(r.finishReason).toBe('eos');
        expect(r.text).toMatch(/^abc[x-z]{2}$/);
      }
      // With a grammar that may stop early, it stops as soon as allowed: after one token ("a", "aa", ...).
      const r = await model.generate('x', { grammar: 'root ::= "a"+', logitsProcessor: wantsToStop, seed: 1 });
      expect([r.tokens.length, r.finishReason]).toEqual([1, 'eos']);
      expect(r.text).toMatch(/^a+$/);
    }
  });

  test('special tokens never appear in constrained text, even when the model prefers them', async () => {
    for (const model of [llama, qwen]) {
      const tok = model.tokenizer;
      const special: number[] = [];
      for (let id = 0; id < tok.vocabSize; id++) if (tok.isSpecial(id) && !tok.isEog(id)) special.push(id);
      expect(special.length).toBeGreaterThan(0);
      const prefersSpecial = (logits: Float32Array): void => {
        for (const t of special) logits[t] = 1e4;
      };
      const free = await model.generate('x', { logitsProcessor: prefersSpecial, maxTokens: 5, seed: 1 });
      expect(free.tokens.some((t) => tok.isSpecial(t))).toBe(true); // the hook really pushes them
      for (let seed = 1; seed <= 5; seed++) {
        const r = await model.generate('x', {
          grammar: 'root ::= [^\\x00]{1,40} "."',
          logitsProcessor: prefersSpecial,
          temperature: 1,
          seed,
          maxTokens: 60,
        });
        expect(r.tokens.filter((t) => tok.isSpecial(t))).toEqual([]);
        expect(r.text).not.toMatch(/<\||<s>|<\/s>|<unk>/);
      }
    }
  });

  test('a code point split across tokens: byte tokens spell characters the vocabulary lacks', async () => {
    const tok = llama.tokenizer;
    const grammar = new Grammar('root ::= "«" [à-ÿ]{3} "»" | "日本"');
    let splitSeen = false;
    for (let seed = 1; seed <= 8; seed++) {
      const r = await llama.generate('x', { grammar, temperature: 1, seed });
      expect(r.finishReason).toBe('eos');
      expect(r.text).toMatch(/^(«[à-ÿ]{3}»|日本)$/);
      // Each character took several single-byte tokens.
      if (r.tokens.some((t) => tok.tokenBytes(t).length === 1 && tok.tokenBytes(t)[0]! >= 0x80)) splitSeen = true;
    }
    expect(splitSeen).toBe(true);
  });

  test("the first token may bring SentencePiece's leading space, which the output drops", async () => {
    expect(llama.tokenizer.stripsLeadingSpace).toBe(true);
    const first = llama.tokenizer.tokenize('hello', { addSpecial: false })[0]!; // "▁he"
    expect(llama.tokenizer.tokenBytes(first)[0]).toBe(0x20);
    // Push the model to start with a space-prefixed token: the grammar still sees "hello...".
    const r = await llama.generate('x', {
      grammar: 'root ::= "hello" | "help"',
      logitsProcessor: (logits, c) => {
        if (c.generated === 0) logits[first] = 1e4;
      },
      seed: 1,
    });
    expect(r.tokens[0]).toBe(first);
    expect(r.text).toMatch(/^hel(lo|p)$/);
  });
});

describe('logitsProcessor', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(fixture('random', 'tiny-llama-q8_0.gguf'), { backend: 'cpu', contextSize: 256 });
  });
  afterAll(() => model.dispose());

  test('changes the logits before sampling; sees the tokens so far', async () => {
    const target = model.tokenize('once upon a time', { addSpecial: false });
    const seen: Array<[number, number]> = [];
    const prompt = model.tokenize('Hi');
    const r = await model.generate(prompt, {
      maxTokens: target.length,
      logitsProcessor: (logits, c) => {
        seen.push([c.tokens.length, c.generated]);
        expect(logits.length).toBe(model.info.vocabSize);
        logits.fill(-Infinity);
        logits[target[c.generated]!] = 0;
      },
    });
    expect(r.tokens).toEqual(target);
    expect(seen).toEqual(target.map((_, i) => [prompt.length + i, i]));
  });

  test('runs before the grammar mask, which always wins', async () => {
    const a = model.tokenize('a', { addSpecial: false });
    const r = await model.generate('x', {
      grammar: 'root ::= [0-9]{3}',
      logitsProcessor: (logits) => {
        for (const t of a) logits[t] = 1e4;
      },
      seed: 3,
    });
    expect(r.text).toMatch(/^[0-9]{3}$/);
  });

  test('an error thrown by the hook ends the generation with it; the model stays usable', async () => {
    const boom = new Error('boom');
    await expect(
      model.generate('x', {
        logitsProcessor: () => {
          throw boom;
        },
      }),
    ).rejects.toBe(boom);
    const r = await model.generate('x', { maxTokens: 3, seed: 1 });
    expect(r.tokens.length).toBe(3);
  });
});

describe('constrained generation API', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(fixture('random', 'tiny-qwen3-f16.gguf'), { backend: 'cpu', contextSize: 512 });
  });
  afterAll(() => model.dispose());

  const schema = {
    type: 'object',
    properties: { ok: { type: 'boolean' }, n: { type: 'integer', minimum: 1, maximum: 3 } },
    required: ['ok', 'n'],
  };

  test('stream() with a JSON schema: the chunks make the JSON', async () => {
    let text = '';
    for await (const c of model.stream('x', { jsonSchema: schema, seed: 5, temperature: 1 })) text += c.text;
    const v = JSON.parse(text) as { ok: boolean; n: number };
    expect(typeof v.ok).toBe('boolean');
    expect([1, 2, 3]).toContain(v.n);
  });

  test('json: true gives an object; json is undefined when cut short', async () => {
    const r = await model.generate('x', { json: true, seed: 2, temperature: 1, maxTokens: 300 });
    expect(r.finishReason).toBe('eos');
    expect(r.json).toEqual(JSON.parse(r.text));
    expect(typeof r.json).toBe('object');
    const cut = await model.generate('x', { jsonSchema: schema, maxTokens: 2, seed: 1 });
    expect(cut.finishReason).toBe('length');
    expect(cut.json).toBeUndefined();
    const plain = await model.generate('x', { maxTokens: 2, seed: 1 });
    expect('json' in plain).toBe(false);
  });

  test('one Grammar serves models with different vocabularies', async () => {
    const g = new Grammar('root ::= "yes" | "no"');
    const other = await loadModel(fixture('random', 'tiny-llama-q8_0.gguf'), { backend: 'cpu', contextSize: 64 });
    try {
      for (const m of [model, other])
        expect(['yes', 'no']).toContain((await m.generate('x', { grammar: g, seed: 1 })).text);
    } finally {
      await other.dispose();
    }
  });

  test('option checks', async () => {
    await expect(model.generate('x', { grammar: 'root ::= "a"', json: true })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: 'give only one of grammar and json',
    });
    await expect(model.generate('x', { grammar: 5 as unknown as string })).rejects.toThrow(/GBNF text or a Grammar/);
    await expect(model.generate('x', { grammar: 'root ::= "a\n' })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
      line: 1,
      column: 10,
    });
    await expect(model.generate('x', { jsonSchema: [] as unknown as boolean })).rejects.toThrow(/JSON Schema object/);
    await expect(model.generate('x', { jsonSchema: { not: {} } })).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED' });
    await expect(model.generate('x', { logitsProcessor: 1 as unknown as () => void })).rejects.toThrow(
      /logitsProcessor must be a function/,
    );
    await expect(model.generate('x', { json: 'yes' as unknown as boolean })).rejects.toThrow(/json must be a boolean/);
  });
});
