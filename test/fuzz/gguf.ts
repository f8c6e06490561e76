/**
 * GGUF mutations beyond the header: hyper-parameters, tokenizer arrays and
 * special ids, chat templates, the architecture, random byte flips anywhere
 * in the file (weights included) and truncations, applied to stories260K.
 * Each mutated file is loaded and, when it loads, generated from, tokenized,
 * detokenized and chatted with: every step must succeed or fail with a coded
 * error saying the model is bad or unsupported.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readGGUFSync, type GGUFFile } from '../../lib/gguf/reader';
import { GGUFValueType, type GGUFValueTypeId } from '../../lib/gguf/types';
import { typed, writeGGUFSync, type GGUFWriteValue } from '../../lib/gguf/writer';
import { loadModel } from '../../lib/model/model';
import { describe, type Rng } from './rng';
import type { FuzzSuite } from './suite';

const SOURCE = path.join(__dirname, '..', 'fixtures', 'models', 'stories260K.gguf');

interface State {
  dir: string;
  file: GGUFFile;
  bytes: Buffer;
}

type Meta = Record<string, GGUFWriteValue>;
const T = GGUFValueType;

/** A hostile replacement for a numeric hyper-parameter, with an explicit GGUF type. */
function hostileNumber(r: Rng): GGUFWriteValue {
  return r.pick<() => GGUFWriteValue>([
    () => typed(T.UINT32, r.pick([0, 1, 2, 3, 7, 63, 65, 4096, 65535, 2 ** 31, 2 ** 32 - 1])),
    () => typed(T.INT32, r.pick([-1, -(2 ** 31), 0, 5])),
    () => typed(T.UINT64, r.pick([0n, 2n ** 53n, 2n ** 64n - 1n])),
    () => typed(T.INT64, -1n),
    () => typed(T.FLOAT32, r.pick([NaN, Infinity, -0, 1e-30, 3.5, 1e30])),
    () => typed(T.FLOAT64, r.pick([NaN, 1e308, 64.000001])),
    () => typed(T.BOOL, true),
    () => 'sixty-four',
    () => typed(T.ARRAY, new Uint32Array([64, 64, 64, 64, 64])),
    () => typed(T.ARRAY, new Uint32Array([8, 8, 4, 8, 8])),
    () => typed(T.ARRAY, new Uint32Array(0)),
  ])();
}

const TEMPLATES = [
  '{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}',
  '{{ bos_token }}{% for m in messages %}{{ m["content"] | upper }}{% endfor %}',
  '{{ messages[5].content }}',
  '{{ raise_exception("no") }}',
  '{% for m in messages %}{{ undefined_thing.x.y }}{% endfor %}',
  '{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}',
  '{% set x = messages | length %}{{ x * "ab" }}',
  '{{ "a" * 100000 }}',
  '{% for i in range(1000) %}{{ i }}{% endfor %}',
  '{% if %}',
  '{{ eos_token }}{{ eos_token }}',
  '',
  '{{ messages | tojson }}',
  '{% for m in messages %}{% for n in messages %}{{ n.content }}{% endfor %}{% endfor %}',
];

function mutate(r: Rng, st: State, meta: Meta, types: Record<string, number>): string {
  const arch = 'llama';
  const keys = Object.keys(meta);
  switch (r.int(0, 6)) {
    case 0: {
      const k = r.pick(keys.filter((x) => x.startsWith(`${arch}.`) || x === 'general.alignment'));
      const v = hostileNumber(r);
      meta[k] = v;
      return `${k} = ${describe(v)}`;
    }
    case 1: {
      const key = r.pick([
        'tokenizer.ggml.bos_token_id',
        'tokenizer.ggml.eos_token_id',
        'tokenizer.ggml.unknown_token_id',
        'tokenizer.ggml.padding_token_id',
        'tokenizer.ggml.eot_token_id',
        'tokenizer.ggml.add_bos_token',
      ]);
      const v = r.chance(0.5) ? typed(T.UINT32, r.pick([0, 1, 2, 511, 512, 4096, 2 ** 32 - 1])) : hostileNumber(r);
      meta[key] = v;
      return `${key} = ${describe(v)}`;
    }
    case 2: {
      const tokens = [...(st.file.metadata['tokenizer.ggml.tokens'] as string[])];
      const what = r.int(0, 6);
      if (what === 0) tokens.length = r.int(0, tokens.length - 1);
      else if (what === 1) for (let i = 0; i < r.int(1, 2000); i++) tokens.push(`junk${i}`);
      else if (what === 2) tokens[r.int(0, tokens.length - 1)] = '';
      else if (what === 3) tokens[r.int(0, tokens.length - 1)] = tokens[r.int(0, tokens.length - 1)]!;
      else if (what === 4) tokens[r.int(0, tokens.length - 1)] = 'x'.repeat(r.int(1000, 100000));
      else if (what === 5) tokens[r.int(0, tokens.length - 1)] = '\ud800\u0000<0xZZ>';
      else tokens[r.int(3, tokens.length - 1)] = r.pick(['<0x00>', '<0xFF>', '<0x100>', '▁', '<s>', '</s>']);
      meta['tokenizer.ggml.tokens'] = tokens;
      return `tokenizer.ggml.tokens change ${what} (length ${tokens.length})`;
    }
    case 3: {
      const key = r.pick(['tokenizer.ggml.token_type', 'tokenizer.ggml.scores']);
      const n = (st.file.metadata['tokenizer.ggml.tokens'] as string[]).length;
      const len = r.pick([0, 1, n - 1, n, n + 5]);
      const v =
        key === 'tokenizer.ggml.scores'
          ? Float32Array.from({ length: len }, () => r.pick([0, -1, NaN, Infinity, -Infinity, 1e30]))
          : Int32Array.from({ length: len }, () => r.pick([0, 1, 2, 3, 4, 5, 6, -1, 99, 2 ** 31 - 1]));
      meta[key] = v;
      types[key] = T.ARRAY;
      return `${key} = ${v.constructor.name}[${len}] of odd values`;
    }
    case 4: {
      const tpl = r.pick(TEMPLATES);
      meta['tokenizer.chat_template'] = tpl;
      return `chat_template ${JSON.stringify(tpl.slice(0, 60))}`;
    }
    case 5: {
      const v = r.pick(['qwen2', 'qwen3', 'llama', 'gpt2', '', 'LLAMA']);
      meta['general.architecture'] = v;
      return `general.architecture = ${JSON.stringify(v)}`;
    }
    default: {
      const k = r.pick(keys);
      delete meta[k];
      return `key ${k} removed`;
    }
  }
}

async function exercise(file: string, r: Rng): Promise<void> {
  const m = await loadModel(file, { backend: 'cpu', threads: 1, contextSize: r.pick([undefined, 8, 64]) });
  try {
    await m.generate(r.pick(['Once upon a time', '', 'x'.repeat(40)]), {
      maxTokens: 3,
      temperature: r.pick([0, 0.8, 2]),
      seed: 1,
    });
    m.detokenize(m.tokenize('Hello, wörld! 😀 <s>'));
    const messages = [{ role: 'user', content: 'hi' }];
    m.renderChat(messages);
    await m.chat(messages, { maxTokens: 2, seed: 1 });
    const it = m.stream('Lily', { maxTokens: 4 })[Symbol.asyncIterator]();
    await it.next();
  } finally {
    await m.dispose();
  }
}

function typedMeta(st: State): { meta: Meta; types: Record<string, number> } {
  const meta: Meta = {};
  for (const [k, v] of Object.entries(st.file.metadata)) meta[k] = v;
  return { meta, types: { ...st.file.metadataTypes } };
}

function write(st: State, out: string, meta: Meta, types: Record<string, number>): void {
  // Keys given a typed value are written with that type; the others keep the file's.
  const t: Record<string, number> = {};
  for (const k of Object.keys(meta)) if (types[k] !== undefined) t[k] = types[k];
  writeGGUFSync(out, {
    metadata: meta,
    types: t,
    tensors: st.file.tensors.map((x) => ({
      name: x.name,
      type: x.type,
      shape: x.shape,
      data: st.bytes.subarray(x.offset, x.offset + x.bytes),
    })),
  });
}

export const ggufSuite: FuzzSuite<State> = {
  name: 'gguf',
  count: 360,
  batch: 120,
  caseTimeoutMs: 10000,
  allowed: ['ERR_BAD_MODEL', 'ERR_UNSUPPORTED', 'ERR_UNSUPPORTED_ARCH', 'ERR_CONTEXT_OVERFLOW', 'ERR_OUT_OF_MEMORY'],
  setup: () =>
    Promise.resolve({
      dir: fs.mkdtempSync(path.join(os.tmpdir(), 'mm-fuzz-gguf-')),
      file: readGGUFSync(SOURCE),
      bytes: fs.readFileSync(SOURCE),
    }),
  teardown: (st) => {
    fs.rmSync(st.dir, { recursive: true, force: true });
    return Promise.resolve();
  },
  make(i, r, st) {
    const out = path.join(st.dir, `case-${i}.gguf`);
    const kind = r.int(0, 9);
    let desc: string;
    let build: () => void;
    if (kind < 7) {
      const { meta, types } = typedMeta(st);
      const changes: string[] = [];
      for (let k = r.int(1, 3); k > 0; k--) changes.push(mutate(r, st, meta, types));
      desc = changes.join('; ');
      build = () => write(st, out, meta, types);
    } else if (kind < 9) {
      const flips = Array.from({ length: r.int(1, 64) }, () => [r.int(0, st.bytes.length - 1), r.int(0, 255)]);
      desc = `${flips.length} random bytes overwritten, first at ${flips[0]![0]}`;
      build = () => {
        const b = Buffer.from(st.bytes);
        for (const [at, v] of flips) b[at!] = v!;
        fs.writeFileSync(out, b);
      };
    } else {
      const at = r.int(0, st.bytes.length - 1);
      desc = `truncated at ${at}`;
      build = () => fs.writeFileSync(out, st.bytes.subarray(0, at));
    }
    return {
      desc,
      // A template that calls raise_exception() rejects the messages: ERR_INVALID_ARG is its job (SECURITY.md).
      ...(desc.includes('raise_exception') ? { alsoAllowed: ['ERR_INVALID_ARG'] as const } : {}),
      run: async () => {
        try {
          build();
        } catch {
          return; // the writer refused the mutation (a value it cannot encode): nothing to load
        }
        try {
          await exercise(out, r);
        } finally {
          fs.rmSync(out, { force: true });
        }
      },
    };
  },
};

export type { GGUFValueTypeId };
