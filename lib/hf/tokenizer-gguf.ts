/**
 * tokenizer.json (+ tokenizer_config.json) → GGUF tokenizer metadata, the way
 * llama.cpp's convert_hf_to_gguf.py writes it for byte-level BPE
 * (`tokenizer.ggml.model = gpt2`): tokens by id (holes → "[PAD<id>]", unused),
 * token types, "a b" merges, bos/eos ids, add_bos_token, chat template.
 */
import { BadModelError, UnsupportedError } from '../errors';
import { GGUFValueType } from '../gguf/types';
import { type GGUFWriteValue, typed } from '../gguf/writer';

type Json = Record<string, unknown>;

/** llama.cpp token types. */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

// Pre-tokenizer split regexes llama.cpp recognises, by its `tokenizer.ggml.pre` name.
const SPLIT_PRE: Record<string, string> = {
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+":
    'llama-bpe',
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+":
    'qwen2',
};

function obj(v: unknown): Json | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

/** llama.cpp's name for the pre-tokenizer, or UnsupportedError. */
export function preTokenizerName(tok: Json): string {
  const pre = obj(tok['pre_tokenizer']);
  if (pre?.['type'] === 'ByteLevel' && pre['use_regex'] !== false) return 'gpt-2';
  if (pre?.['type'] === 'Sequence' && Array.isArray(pre['pretokenizers'])) {
    const [split, bl] = pre['pretokenizers'] as unknown[];
    const regex = obj(obj(split)?.['pattern'])?.['Regex'];
    const name = typeof regex === 'string' ? SPLIT_PRE[regex] : undefined;
    if (name && obj(bl)?.['type'] === 'ByteLevel') return name;
  }
  throw new UnsupportedError(`tokenizer.json: pre-tokenizer ${JSON.stringify(pre).slice(0, 200)} is not recognised`);
}

function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  const c = obj(v)?.['content'];
  return typeof c === 'string' ? c : undefined;
}

function looksSpecial(t: string): boolean {
  return (t.startsWith('<|') && t.endsWith('|>')) || (t.startsWith('<｜') && t.endsWith('｜>'));
}

/**
 * GGUF tokenizer metadata, in llama.cpp's key order. `vocabSize` (config.json)
 * can exceed the tokenizer's (padded embeddings).
 */
export function tokenizerMetadata(
  tok: Json,
  tokConfig: Json | undefined,
  config: Json,
  vocabSize: number,
  /** Whether the model family's tokenizers add BOS by default (llama). */
  addsBosByDefault: boolean,
): Record<string, GGUFWriteValue> {
  const model = obj(tok['model']);
  if (model?.['type'] !== 'BPE' || obj(tok['decoder'])?.['type'] !== 'ByteLevel') {
    throw new UnsupportedError('convert: only byte-level BPE tokenizers (GPT-2 style) are supported');
  }
  const pre = preTokenizerName(tok);
  const vocab = obj(model['vocab']);
  if (!vocab) throw new BadModelError('tokenizer.json: model.vocab is not an object');
  const byId = new Map<number, string>();
  const ids = new Map<string, number>();
  for (const [t, id] of Object.entries(vocab)) {
    if (!Number.isSafeInteger(id) || (id as number) < 0)
      throw new BadModelError(`tokenizer.json: token ${JSON.stringify(t)} has id ${String(id)}`);
    byId.set(id as number, t);
    ids.set(t, id as number);
  }
  const added = new Map<number, { content: string; special: boolean }>();
  for (const a of Array.isArray(tok['added_tokens']) ? (tok['added_tokens'] as unknown[]) : []) {
    const o = obj(a);
    const id = o?.['id'];
    const content = o?.['content'];
    if (!Number.isSafeInteger(id) || typeof content !== 'string')
      throw new BadModelError('tokenizer.json: malformed added_tokens entry');
    added.set(id as number, { content, special: o?.['special'] === true });
    byId.set(id as number, content);
    ids.set(content, id as number);
  }
  const maxId = Math.max(-1, ...byId.keys());
  const n = Math.max(vocabSize, maxId + 1);
  if (n > 4_000_000) throw new BadModelError(`tokenizer.json: vocabulary of ${n} tokens is implausible`);
  const tokens: string[] = new Array<string>(n);
  const types = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const t = byId.get(i);
    const a = added.get(i);
    if (t === undefined) {
      tokens[i] = `[PAD${i}]`;
      types[i] = TokenType.UNUSED;
    } else if (a) {
      tokens[i] = t;
      types[i] = a.special || looksSpecial(t) ? TokenType.CONTROL : TokenType.USER_DEFINED;
    } else {
      tokens[i] = t;
      types[i] = TokenType.NORMAL;
    }
  }
  const rawMerges = Array.isArray(model['merges']) ? (model['merges'] as unknown[]) : [];
  // tokenizers ≥ 0.20 stores merges as pairs; GGUF keeps the older "a b" strings.
  const merges = rawMerges.map((m) => (Array.isArray(m) ? m.join(' ') : String(m)));

  const meta: Record<string, GGUFWriteValue> = {
    'tokenizer.ggml.model': 'gpt2',
    'tokenizer.ggml.pre': pre,
    'tokenizer.ggml.tokens': tokens,
    'tokenizer.ggml.token_type': types,
    'tokenizer.ggml.merges': merges,
  };
  const idOf = (which: 'bos' | 'eos'): number | undefined => {
    const content = tokenContent(tokConfig?.[`${which}_token`]);
    if (content !== undefined && ids.has(content)) return ids.get(content);
    let v = config[`${which}_token_id`];
    if (Array.isArray(v)) v = v[0];
    return Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) < n ? (v as number) : undefined;
  };
  const bos = idOf('bos');
  const eos = idOf('eos');
  if (bos !== undefined) meta['tokenizer.ggml.bos_token_id'] = typed(GGUFValueType.UINT32, bos);
  if (eos !== undefined) meta['tokenizer.ggml.eos_token_id'] = typed(GGUFValueType.UINT32, eos);
  const pad = tokenContent(tokConfig?.['pad_token']);
  if (pad !== undefined && ids.has(pad))
    meta['tokenizer.ggml.padding_token_id'] = typed(GGUFValueType.UINT32, ids.get(pad)!);
  meta['tokenizer.ggml.add_bos_token'] = addBos(tok, tokConfig, addsBosByDefault, bos);
  const template = tokConfig?.['chat_template'];
  if (typeof template === 'string') meta['tokenizer.chat_template'] = template;
  return meta;
}

/** tokenizer_config's add_bos_token, else a BOS-first post-processor template, else the family's default. */
function addBos(tok: Json, tokConfig: Json | undefined, byDefault: boolean, bos: number | undefined): boolean {
  const explicit = tokConfig?.['add_bos_token'];
  if (typeof explicit === 'boolean') return explicit;
  const post = obj(tok['post_processor']);
  if (post?.['type'] === 'TemplateProcessing' && Array.isArray(post['single'])) {
    return obj((post['single'] as unknown[])[0])?.['SpecialToken'] !== undefined;
  }
  return byDefault && bos !== undefined;
}
