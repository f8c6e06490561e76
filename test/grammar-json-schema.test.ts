/**
 * JSON Schema → grammar: the supported keywords, ERR_UNSUPPORTED for the
 * rest, strict formats (leap years, month lengths, RFC 3339 offsets), exact
 * integer ranges, bounded whitespace and digits — then constrained
 * generation with random-weight models at temperature 1 over many seeds:
 * every output must parse, validate with ajv (+ ajv-formats, an independent
 * validator) and end with 'eos'.
 */
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { Grammar } from '../lib/grammar/grammar';
import { jsonSchemaToGbnf } from '../lib/grammar/json-schema';
import { loadModel, type Model } from '../lib/model/model';
import { fixture } from './helpers/model-refs';
import { vocabModel } from './helpers/vocab-model';

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);

const lang = (schema: unknown, yes: string[], no: string[]): void => {
  const g = Grammar.fromJsonSchema(schema);
  for (const s of yes) expect([s, g.matches(s)]).toEqual([s, true]);
  for (const s of no) expect([s, g.matches(s)]).toEqual([s, false]);
};

describe('JSON Schema keywords', () => {
  test('types, type arrays, enum, const', () => {
    lang({ type: 'boolean' }, ['true', 'false '], ['1', '"true"']);
    lang({ type: ['string', 'null'] }, ['"x"', 'null'], ['1']);
    lang({ enum: ['a', 1, null, { b: [true] }] }, ['"a"', '1', 'null', '{"b":[true]}'], ['"b"', '2']);
    lang({ const: 'x"y' }, ['"x\\"y"'], ['"xy"']);
    lang({ type: 'string', enum: ['a', 2] }, ['"a"'], ['2']); // enum values of another type can't validate
    lang({}, ['1', '"s"', '[{"a":null}]', '{}'], ['nope']);
  });

  test('objects: required, optional, order, additionalProperties false / true / schema', () => {
    const s = {
      type: 'object',
      properties: { a: { type: 'integer' }, b: { type: 'string' }, c: { type: 'boolean' } },
      required: ['b'],
    };
    lang(
      s,
      ['{"b":"x"}', '{"a":1,"b":"x"}', '{"a":1,"b":"x","c":true}', '{"b":"x","c":false}'],
      ['{}', '{"a":1}', '{"b":"x","d":1}', '{"c":true,"b":"x"}'],
    );
    const open = { ...s, additionalProperties: { type: 'integer' } };
    lang(
      open,
      ['{"b":"x","zz":1}', '{"b":"x","zz":1,"y":2}', '{"a":1,"b":"x","q":3}'],
      ['{"b":"x","zz":"s"}', '{"b":"x","a":1}', '{"b":"x","c":1}'],
    );
    // A required property that is not in properties takes the additionalProperties schema.
    lang(
      { type: 'object', required: ['k'], additionalProperties: { type: 'null' } },
      ['{"k":null}'],
      ['{"k":1}', '{}'],
    );
    lang({ type: 'object', properties: {}, additionalProperties: true }, ['{}', '{"x":[1]}'], []);
  });

  test('arrays: items, minItems / maxItems, prefixItems, draft-07 tuples', () => {
    lang(
      { type: 'array', items: { type: 'integer' }, minItems: 1, maxItems: 3 },
      ['[1]', '[1,2,3]'],
      ['[]', '[1,2,3,4]', '[1,"a"]'],
    );
    lang({ type: 'array', maxItems: 0 }, ['[]'], ['[1]']);
    lang(
      { type: 'array', prefixItems: [{ type: 'string' }, { type: 'integer' }], items: false },
      ['[]', '["a"]', '["a",1]'],
      ['[1]', '["a",1,2]'],
    );
    lang(
      { type: 'array', prefixItems: [{ const: 1 }], items: { type: 'boolean' }, minItems: 2, maxItems: 3 },
      ['[1,true]', '[1,true,false]'],
      ['[1]', '[1,true,true,true]'],
    );
    lang({ type: 'array', items: [{ type: 'null' }], additionalItems: false }, ['[]', '[null]'], ['[null,null]']);
  });

  test('anyOf / oneOf, allOf of objects, $ref with $defs / definitions, recursion', () => {
    lang({ anyOf: [{ type: 'integer' }, { type: 'string', maxLength: 1 }] }, ['1', '"a"'], ['"ab"', 'true']);
    lang(
      {
        allOf: [
          { type: 'object', properties: { a: { type: 'integer' } }, required: ['a'] },
          { properties: { b: { type: 'null' } } },
        ],
      },
      ['{"a":1}', '{"a":1,"b":null}'],
      ['{"b":null}'],
    );
    const tree = {
      $ref: '#/definitions/node',
      definitions: {
        node: {
          type: 'object',
          properties: { v: { type: 'integer' }, kids: { type: 'array', items: { $ref: '#/definitions/node' } } },
          required: ['v'],
        },
      },
    };
    lang(tree, ['{"v":1}', '{"v":1,"kids":[{"v":2,"kids":[{"v":3}]},{"v":4}]}'], ['{"v":1,"kids":[{}]}']);
    lang({ type: 'object', properties: { self: { $ref: '#' } } }, ['{}', '{"self":{"self":{}}}'], ['{"self":1}']);
  });

  test('strings: lengths count characters (escapes and multi-byte ones as one)', () => {
    lang(
      { type: 'string', minLength: 2, maxLength: 3 },
      ['"ab"', '"a\\nb"', '"日本語"', '"\\u00e9é"'],
      ['"a"', '"abcd"', '"\\ud83d\\ude00"'],
    );
  });

  test('pattern: a regex subset, anchored or searched, JSON-escaped', () => {
    lang({ type: 'string', pattern: '^[A-Z]{2}-\\d{3}$' }, ['"AB-123"'], ['"AB-12"', '"ab-123"', '"xAB-123"']);
    lang({ type: 'string', pattern: 'cat|dog' }, ['"a cat!"', '"dog"'], ['"cow"']);
    lang({ type: 'string', pattern: '^"\\\\(?:x|y)+\\s$' }, ['"\\"\\\\xy\\n"', '"\\"\\\\x "'], ['"\\"\\\\ "']);
    lang({ type: 'string', pattern: '^.$' }, ['"é"', '"\\""'], ['"\\n"', '"ab"']);
  });

  test('formats: dates with month lengths and leap years', () => {
    const yes = [
      '2024-02-29',
      '2000-02-29',
      '1600-02-29',
      '0000-02-29',
      '2023-02-28',
      '2023-01-31',
      '2023-04-30',
      '1999-12-31',
    ];
    const no = [
      '2023-02-29',
      '1900-02-29',
      '2100-02-29',
      '2023-04-31',
      '2023-06-31',
      '2023-13-01',
      '2023-00-10',
      '2023-01-00',
      '2023-1-01',
    ];
    lang(
      { type: 'string', format: 'date' },
      yes.map((d) => `"${d}"`),
      no.map((d) => `"${d}"`),
    );
    // The grammar agrees with ajv-formats on every day of a 400-year cycle's edge years.
    const g = Grammar.fromJsonSchema({ type: 'string', format: 'date' });
    const check = ajv.compile({ type: 'string', format: 'date' });
    for (const year of ['1900', '1996', '2000', '2001', '2004', '2100', '2400']) {
      for (let m = 1; m <= 12; m++)
        for (let d = 28; d <= 31; d++) {
          const s = `${year}-${String(m).padStart(2, '0')}-${d}`;
          expect([s, g.matches(JSON.stringify(s))]).toEqual([s, check(s)]);
        }
    }
  });

  test('formats: time and date-time need an RFC 3339 offset; uuid', () => {
    const t = { type: 'string', format: 'time' };
    lang(
      t,
      ['"23:59:59Z"', '"00:00:00.123+05:30"', '"12:00:00-23:59"'],
      ['"12:00:00"', '"24:00:00Z"', '"12:60:00Z"', '"12:00:00+24:00"', '"12:00:00+0530"'],
    );
    lang(
      { type: 'string', format: 'date-time' },
      ['"2024-02-29T10:00:00Z"'],
      ['"2023-02-29T10:00:00Z"', '"2024-01-01T10:00:00"'],
    );
    lang(
      { type: 'string', format: 'uuid' },
      ['"123e4567-e89b-12d3-a456-426614174000"'],
      ['"123e4567e89b12d3a456426614174000"'],
    );
  });

  test('integer minimum / maximum (and exclusive ones) are exact', () => {
    const cases: Array<[Record<string, number>, number, number]> = [
      [{ minimum: -123, maximum: 4567 }, -200, 5000],
      [{ exclusiveMinimum: 9, exclusiveMaximum: 101 }, -5, 120],
      [{ minimum: 0 }, -20, 1200],
      [{ maximum: -7.5 }, -1200, 10],
      [{ minimum: 990, maximum: 1010 }, 900, 1100],
    ];
    for (const [bounds, from, to] of cases) {
      const schema = { type: 'integer', ...bounds };
      const g = Grammar.fromJsonSchema(schema);
      const check = ajv.compile(schema);
      for (let i = from; i <= to; i++) expect([schema, i, g.matches(String(i))]).toEqual([schema, i, check(i)]);
      expect(g.matches('-0')).toBe(false);
      expect(g.matches('007')).toBe(false);
    }
  });

  test('bounded whitespace and digits: generation of a bounded schema always ends', () => {
    lang(
      { type: 'object', properties: { a: { type: 'number' } } },
      ['{"a": 1}', '{\n' + ' '.repeat(20) + '"a": 1}'],
      ['{\n' + ' '.repeat(21) + '"a": 1}', '{  "a": 1}'],
    );
    lang(
      { type: 'number' },
      ['1234567890123456', '-0.1234567890123456', '1e99', '1.5E-7'],
      ['12345678901234567', '0.12345678901234567', '1e100', '01'],
    );
    lang({ type: 'integer' }, ['-1234567890123456'], ['12345678901234567', '1.0']);
  });

  test('an extra key can never spell a declared property (not even with escapes)', () => {
    const s = { type: 'object', properties: { ab: { type: 'integer' } }, additionalProperties: { type: 'string' } };
    lang(
      s,
      ['{"a":"x"}', '{"abc":"x"}', '{"ab":1,"b":"x"}', '{"":"x"}'],
      ['{"ab":"x"}', '{"\\u0061b":"x"}', '{"ab":1,"ab":"x"}'],
    );
  });

  test.each([
    [{ type: 'string', format: 'email' }, /format "email"/],
    [{ not: { type: 'string' } }, /keyword "not"/],
    [{ type: 'array', uniqueItems: true }, /uniqueItems: true/],
    [{ type: 'number', minimum: 1 }, /"minimum" on a number/],
    [{ type: 'object', patternProperties: { '^a': {} } }, /keyword "patternProperties"/],
    [{ type: 'integer', multipleOf: 2 }, /keyword "multipleOf"/],
    [{ if: {}, then: {} }, /keyword "if"/],
    [{ $ref: 'https://example.com/s.json' }, /\$ref "https:\/\/example.com\/s.json"/],
    [{ type: 'string', pattern: '(?=a)b' }, /lookaround/],
    [{ type: 'string', pattern: '\\bword' }, /word boundaries/],
    [{ type: 'string', pattern: '^a$', maxLength: 3 }, /pattern together with minLength/],
    [{ type: 'object', properties: { x: { type: 'array', contains: {} } } }, /#\/properties\/x: keyword "contains"/],
  ])('ERR_UNSUPPORTED names what is not supported: %j', (schema, message) => {
    let err: unknown;
    try {
      jsonSchemaToGbnf(schema);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_UNSUPPORTED' });
    expect((err as Error).message).toMatch(message);
  });

  test('invalid schemas are ERR_INVALID_ARG', () => {
    expect(() => jsonSchemaToGbnf({ type: 'integer', minimum: 5, maximum: 4 })).toThrow(/no integer/);
    expect(() => jsonSchemaToGbnf({ type: 'strin' })).toThrow(/unknown type "strin"/);
    expect(() => jsonSchemaToGbnf({ $ref: '#/$defs/missing' })).toThrow(/points at nothing/);
    expect(() => jsonSchemaToGbnf(false)).toThrow(/matches nothing/);
  });
});

/** The schemas generated with: every kind the issue lists, all bounded so generation must end. */
const SCHEMAS: Record<string, Record<string, unknown>> = {
  nested: {
    type: 'object',
    properties: {
      user: {
        type: 'object',
        properties: { name: { type: 'string', maxLength: 12 }, age: { type: 'integer', minimum: 0, maximum: 120 } },
        required: ['name', 'age'],
        additionalProperties: false,
      },
      score: { type: 'number' },
    },
    required: ['user', 'score'],
    additionalProperties: false,
  },
  enums: {
    type: 'object',
    properties: {
      color: { enum: ['red', 'green', 'blue'] },
      size: { type: 'string', enum: ['S', 'M', 'L'] },
      n: { const: 3 },
    },
    required: ['color', 'size', 'n'],
  },
  boundedArrays: {
    type: 'object',
    properties: {
      tags: { type: 'array', items: { type: 'string', maxLength: 6 }, minItems: 1, maxItems: 3 },
      point: { type: 'array', prefixItems: [{ type: 'integer' }, { type: 'integer' }], items: false, minItems: 2 },
    },
    required: ['tags', 'point'],
  },
  optional: {
    type: 'object',
    properties: {
      a: { type: 'boolean' },
      b: { type: ['string', 'null'], maxLength: 5 },
      c: { type: 'integer', minimum: -5, maximum: 5 },
      d: { type: 'null' },
    },
  },
  anyOf: {
    type: 'object',
    properties: {
      value: {
        anyOf: [
          { type: 'integer', maximum: 999, minimum: -999 },
          { type: 'string', maxLength: 4 },
          { type: 'object', properties: { kind: { const: 'box' } }, required: ['kind'], additionalProperties: false },
        ],
      },
    },
    required: ['value'],
  },
  recursive: {
    $defs: {
      item: {
        type: 'object',
        properties: { id: { type: 'integer', minimum: 0, maximum: 9 }, next: { $ref: '#/$defs/item' } },
        required: ['id'],
        additionalProperties: false,
      },
    },
    $ref: '#/$defs/item',
  },
  formats: {
    type: 'object',
    properties: {
      day: { type: 'string', format: 'date' },
      at: { type: 'string', format: 'time' },
      when: { type: 'string', format: 'date-time' },
      id: { type: 'string', format: 'uuid' },
    },
    required: ['day', 'at', 'when', 'id'],
  },
};

async function generateAll(model: Model, seeds: number): Promise<void> {
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    const validate = ajv.compile(schema);
    for (let seed = 1; seed <= seeds; seed++) {
      const r = await model.generate('JSON:', { jsonSchema: schema, temperature: 1, seed, maxTokens: 600 });
      const value: unknown = JSON.parse(r.text);
      const ok = validate(value);
      expect([name, seed, r.finishReason, ok ? 'valid' : ajv.errorsText(validate.errors), r.text]).toEqual([
        name,
        seed,
        'eos',
        'valid',
        r.text,
      ]);
      expect(r.json).toEqual(value);
    }
  }
}

describe('constrained generation: random-weight models, temperature 1, many seeds', () => {
  test('SentencePiece vocabulary (512 tokens, byte fallback, leading-space stripping)', async () => {
    const model = await loadModel(fixture('random', 'tiny-llama-q8_0.gguf'), { backend: 'cpu', contextSize: 1024 });
    try {
      await generateAll(model, 25);
    } finally {
      await model.dispose();
    }
  });

  test('Qwen2 vocabulary (151,669 byte-level BPE tokens)', async () => {
    const model = await loadModel(vocabModel({ vocab: 'qwen2' }), { backend: 'cpu', contextSize: 1024 });
    try {
      await generateAll(model, 8);
    } finally {
      await model.dispose();
    }
  });
});
