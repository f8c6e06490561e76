/**
 * tokenizer.json / config.json / tokenizer_config.json mutations on a real
 * byte-level BPE tokenizer (gutenberg-16m) and a real SPM-style one (llama2):
 * vocab and added-token ids, merges, normalizers, pre-tokenizers (regexes
 * included), decoders, post-processors, special-token settings. Each mutated
 * folder is loaded with loadTokenizer; when it loads, text is tokenized and
 * detokenized. Loading may fail only with ERR_BAD_MODEL / ERR_UNSUPPORTED.
 *
 * Families listed in OPEN (none today) are built but not run.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadTokenizer } from '../../lib/tokenizer';
import { describe, hostileValue, type Rng } from './rng';
import type { FuzzSuite } from './suite';

const FIXTURES = path.join(__dirname, '..', 'fixtures');
const SOURCES = [
  { dir: path.join(FIXTURES, 'models', 'gutenberg-16m-hf'), files: ['tokenizer.json', 'config.json'] },
  { dir: path.join(FIXTURES, 'tokenizer', 'hf', 'llama2'), files: ['tokenizer.json', 'tokenizer_config.json'] },
];

/**
 * Mutation families that still hang or kill the process, built (so the seeds
 * stay stable) but not run until their fix lands. Empty: issue 11's tokenizer
 * items (huge ids, empty regex matches, backtracking regexes, Metaspace "",
 * deep Sequences) are fixed, so every family runs.
 */
export const OPEN = new Set<string>();

type Json = Record<string, unknown>;
interface State {
  dir: string;
  sources: Array<{ files: Record<string, Json> }>;
}

const TEXTS = [
  'Hello, world! It was the best of times.',
  'ünïcödé 😀👩‍👩‍👧 \u0000 \ud800 tabs\tand\nnewlines',
  '<|endoftext|> <s> </s> [INST] special',
  'a'.repeat(2000),
  '',
];

const PRE_TOKENIZERS: Array<[string, () => unknown]> = [
  [
    'split-regex',
    () => ({ type: 'Split', pattern: { Regex: "'s|'t| ?\\p{L}+| ?\\p{N}+" }, behavior: 'Isolated', invert: false }),
  ],
  ['split-string', () => ({ type: 'Split', pattern: { String: ' ' }, behavior: 'Removed', invert: false })],
  ['empty-match-split', () => ({ type: 'Split', pattern: { Regex: 'x*' }, behavior: 'Isolated', invert: false })],
  ['empty-match-split', () => ({ type: 'Split', pattern: { String: '' }, behavior: 'Isolated', invert: false })],
  ['backtracking-regex', () => ({ type: 'Split', pattern: { Regex: '(a+)+b' }, behavior: 'Isolated', invert: false })],
  ['bad-regex', () => ({ type: 'Split', pattern: { Regex: '(unclosed' }, behavior: 'Isolated', invert: false })],
  ['odd-behavior', () => ({ type: 'Split', pattern: { String: 'a' }, behavior: 'Sideways', invert: 'yes' })],
  ['metaspace', () => ({ type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true })],
  ['metaspace-empty', () => ({ type: 'Metaspace', replacement: '', prepend_scheme: 'always', split: true })],
  ['metaspace-odd', () => ({ type: 'Metaspace', replacement: '▁▁', prepend_scheme: 'sometimes' })],
  ['whitespace', () => ({ type: 'Whitespace' })],
  ['digits', () => ({ type: 'Digits', individual_digits: true })],
  ['punctuation', () => ({ type: 'Punctuation', behavior: 'Isolated' })],
  ['unknown-type', () => ({ type: 'NoSuchPreTokenizer' })],
  ['not-object', () => 'ByteLevel'],
  [
    'sequence',
    () => ({
      type: 'Sequence',
      pretokenizers: [
        { type: 'Digits', individual_digits: false },
        { type: 'ByteLevel', add_prefix_space: false, use_regex: true },
      ],
    }),
  ],
  ['deep-sequence', () => nest('pretokenizers', 10000, { type: 'ByteLevel', add_prefix_space: false })],
  ['shallow-sequence', () => nest('pretokenizers', 20, { type: 'ByteLevel', add_prefix_space: false })],
  ['sequence-null', () => ({ type: 'Sequence', pretokenizers: [null, 3] })],
];

const NORMALIZERS: Array<[string, () => unknown]> = [
  ['nfc', () => ({ type: r0(['NFC', 'NFD', 'NFKC', 'NFKD', 'Lowercase', 'Strip']) })],
  ['replace', () => ({ type: 'Replace', pattern: { String: ' ' }, content: '▁' })],
  ['replace-regex', () => ({ type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' })],
  ['backtracking-regex', () => ({ type: 'Replace', pattern: { Regex: '(a|a)+$' }, content: '' })],
  ['replace-empty', () => ({ type: 'Replace', pattern: { String: '' }, content: 'x' })],
  ['prepend', () => ({ type: 'Prepend', prepend: '▁' })],
  ['prepend-odd', () => ({ type: 'Prepend', prepend: 42 })],
  ['deep-sequence', () => nest('normalizers', 10000, { type: 'NFC' })],
  ['unknown-type', () => ({ type: 'Precompiled', precompiled_charsmap: 'AAAA' })],
];

const DECODERS: Array<[string, () => unknown]> = [
  ['bytelevel', () => ({ type: 'ByteLevel' })],
  ['replace', () => ({ type: 'Replace', pattern: { String: '▁' }, content: ' ' })],
  ['strip', () => ({ type: 'Strip', content: ' ', start: 1e9, stop: -1 })],
  ['metaspace', () => ({ type: 'Metaspace', replacement: '', prepend_scheme: 'always' })],
  ['deep-sequence', () => nest('decoders', 10000, { type: 'Fuse' })],
  ['unknown-type', () => ({ type: 'CTC' })],
  ['null', () => null],
];

let pickFn: ((items: readonly string[]) => string) | undefined;
const r0 = (items: readonly string[]): string => (pickFn ? pickFn(items) : items[0]!);

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * `{type: 'Sequence', [key]: [...]}` nested `depth` deep around `leaf`. Kept as
 * a marker and written out as text (toText): JSON.stringify recurses, and
 * overflows the stack long before 10,000 levels; JSON.parse does not.
 */
class Nest {
  constructor(
    readonly key: string,
    readonly depth: number,
    readonly leaf: unknown,
  ) {}
  toText(): string {
    const open = `{"type":"Sequence",${JSON.stringify(this.key)}:[`;
    return `${open.repeat(this.depth)}${JSON.stringify(this.leaf)}${']}'.repeat(this.depth)}`;
  }
}

function nest(key: string, depth: number, leaf: unknown): unknown {
  if (depth > 100) return new Nest(key, depth, leaf);
  let v = leaf;
  for (let i = 0; i < depth; i++) v = { type: 'Sequence', [key]: [v] };
  return v;
}

/** The file's text; BigInts become numbers, deep nests are spliced in as text. */
function fileText(json: Json): string {
  const nests: string[] = [];
  const text = JSON.stringify(json, (_, v: unknown) =>
    typeof v === 'bigint' ? Number(v) : v instanceof Nest ? `\u0000nest${nests.push(v.toText()) - 1}` : v,
  );
  return text.replace(/"\\u0000nest(\d+)"/g, (_, i: string) => nests[Number(i)]!);
}

/** Applies one mutation to the parsed files; returns [family, description]. */
function mutate(r: Rng, files: Record<string, Json>): [string, string] {
  const tok = files['tokenizer.json']!;
  if (!isObject(tok.model)) tok.model = {};
  const model = tok.model as Json;
  if (!isObject(model.vocab)) model.vocab = {};
  const vocab = model.vocab as Record<string, number>;
  const keys = Object.keys(vocab);
  if (keys.length === 0) keys.push('a');
  switch (r.int(0, 11)) {
    case 0: {
      const k = r.pick(keys);
      const v = r.pick<unknown>([2 ** 31, 2 ** 53, 1e300, -1, 1.5, 'x', null, keys.length + 5, vocab[r.pick(keys)]]);
      vocab[k] = v as number;
      const family = typeof v === 'number' && v >= 2 ** 31 ? 'huge-id' : 'vocab-id';
      return [family, `vocab[${JSON.stringify(k)}] = ${describe(v)}`];
    }
    case 1: {
      const added = (tok.added_tokens as Json[] | undefined) ?? [];
      const v = r.pick<unknown>([2 ** 31, 2 ** 53, 1e300, -3, keys.length, keys.length + 1000, 'seven']);
      added.push({
        id: v,
        content: r.pick(['<x>', '', '<|endoftext|>', 'hello']),
        special: r.chance(0.5),
        normalized: false,
      });
      tok.added_tokens = added;
      return [typeof v === 'number' && v >= 2 ** 31 ? 'huge-id' : 'added-token', `added token id ${describe(v)}`];
    }
    case 2: {
      const merges = model.merges as unknown[] | undefined;
      if (!merges || merges.length === 0) return ['none', 'no merges to mutate'];
      const v = r.pick<unknown>([null, 42, 'a b c', 'nosuch token', ['a'], ['Ġ', 'Ġ'], '', ' ']);
      merges[r.int(0, merges.length - 1)] = v;
      return ['merges', `a merge = ${describe(v)}`];
    }
    case 3: {
      const [family, make] = r.pick(PRE_TOKENIZERS);
      tok.pre_tokenizer = make();
      return [family, `pre_tokenizer ${family}`];
    }
    case 4: {
      const [family, make] = r.pick(NORMALIZERS);
      tok.normalizer = make();
      return [family, `normalizer ${family}`];
    }
    case 5: {
      const [family, make] = r.pick(DECODERS);
      tok.decoder = make();
      return [family, `decoder ${family}`];
    }
    case 6: {
      const k = r.pick([
        'type',
        'unk_token',
        'byte_fallback',
        'ignore_merges',
        'vocab',
        'merges',
        'continuing_subword_prefix',
        'dropout',
      ]);
      const v = hostileValue(r);
      model[k] = v;
      return ['model-field', `model.${k} = ${describe(v)}`];
    }
    case 7: {
      const k = r.pick(Object.keys(tok));
      const v = hostileValue(r);
      tok[k] = v;
      return ['top-field', `${k} = ${describe(v)}`];
    }
    case 8: {
      tok.post_processor = r.pick<unknown>([
        { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<nosuch>', type_id: 0 } }], special_tokens: {} },
        { type: 'TemplateProcessing', single: 'nope' },
        { type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 0] },
        { type: 'Sequence', processors: [null] },
      ]);
      return ['post-processor', `post_processor ${describe(tok.post_processor)}`];
    }
    case 9: {
      const cfg = files['config.json'] ?? (files['config.json'] = {});
      const k = r.pick(['vocab_size', 'bos_token_id', 'eos_token_id']);
      const v = r.pick<unknown>([0, 1, keys.length - 1, keys.length + 1, 2 ** 31, -1, [0, 2 ** 40], 'x', null]);
      cfg[k] = v;
      return [
        k === 'vocab_size' || (typeof v === 'number' && v >= 2 ** 31) ? 'huge-id' : 'config',
        `config.json ${k} = ${describe(v)}`,
      ];
    }
    case 10: {
      const cfg = files['tokenizer_config.json'] ?? (files['tokenizer_config.json'] = {});
      const k = r.pick([
        'bos_token',
        'eos_token',
        'add_bos_token',
        'add_eos_token',
        'chat_template',
        'model_max_length',
      ]);
      const v = r.chance(0.5) ? r.pick<unknown>(['<nosuch>', { content: 42 }, '{% for %}', 1e30]) : hostileValue(r);
      cfg[k] = v;
      return ['tokenizer-config', `tokenizer_config.json ${k} = ${describe(v)}`];
    }
    default: {
      const k = r.pick(keys);
      delete vocab[k];
      return ['vocab-hole', `vocab entry ${JSON.stringify(k)} removed`];
    }
  }
}

export const tokenizerSuite: FuzzSuite<State> = {
  name: 'tokenizer',
  count: 120,
  batch: 120,
  caseTimeoutMs: 10000,
  allowed: ['ERR_BAD_MODEL', 'ERR_UNSUPPORTED'],
  setup: () =>
    Promise.resolve({
      dir: fs.mkdtempSync(path.join(os.tmpdir(), 'mm-fuzz-tok-')),
      sources: SOURCES.map((s) => ({
        files: Object.fromEntries(
          s.files.map((f) => [f, JSON.parse(fs.readFileSync(path.join(s.dir, f), 'utf8')) as Json]),
        ),
      })),
    }),
  teardown: (st) => {
    fs.rmSync(st.dir, { recursive: true, force: true });
    return Promise.resolve();
  },
  make(i, r, st) {
    // The llama2 tokenizer (32k tokens, 61k merges) costs several times more to load: one case in four.
    const src = st.sources[r.chance(0.25) ? 1 : 0]!;
    const files = structuredClone(src.files);
    pickFn = (items) => r.pick(items);
    const changes: Array<[string, string]> = [];
    for (let k = r.int(1, 2); k > 0; k--) changes.push(mutate(r, files));
    pickFn = undefined;
    const open = changes.find(([family]) => OPEN.has(family));
    const desc = changes.map(([, d]) => d).join('; ');
    const texts = [r.pick(TEXTS), r.pick(TEXTS)];
    return {
      desc: open ? `${desc} (skipped: ${open[0]} is open in issue 11)` : desc,
      run: async () => {
        if (open) return;
        const dir = path.join(st.dir, `case-${i}`);
        fs.mkdirSync(dir);
        try {
          for (const [name, json] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), fileText(json));
          const tok = await loadTokenizer(dir);
          for (const t of texts) {
            const ids = tok.tokenize(t);
            tok.detokenize(ids);
            tok.tokenize(t, { addSpecial: false, parseSpecial: true });
          }
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  },
};
