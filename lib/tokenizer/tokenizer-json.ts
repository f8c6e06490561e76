/**
 * Builds a tokenizer from a Hugging Face tokenizer.json (+ tokenizer_config.json):
 * normalizer → pre-tokenizer → BPE model, added tokens, decoder, and BOS/EOS
 * from the config or the post-processor template.
 */
import { BadModelError, UnsupportedError } from '../errors';
import { BpeModel } from './bpe';
import type { PieceMode } from './decoder';
import { cpAround, type CutPlan, type CutRule, MergeBarrier } from './cuts';
import { buildNormalizer, type Normalizer, normalizerCuts } from './hf-normalizers';
import { buildPreTokenizer, preTokenizerCuts } from './hf-pretokenizers';
import { isRecord, MAX_NESTING } from './metadata';
import type { TokenizerJsonParts, TokenizerSpec } from './spec';
import { runSteps, runStepsAsync, type Step, TURN } from './steps';
import {
  ATTR_BYTE,
  ATTR_CONTROL,
  ATTR_LSTRIP,
  ATTR_NORMAL,
  ATTR_RSTRIP,
  ATTR_UNKNOWN,
  ATTR_UNUSED,
  ATTR_USER_DEFINED,
  byteTokenValue,
} from './vocab';
import { applySpecialTextRules } from './special-ids';
import { type TokenLookup, TokenIndex } from './token-index';

/** Largest vocabulary accepted (ids are int32 everywhere; real models stay below 2^20). */
const MAX_VOCAB = 1 << 24;

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' && v !== null ? 'an object' : String(v);
}

// Module-level: a global looked up in a loop over 151k merges is far slower inside a vm context (jest).
const isArray = Array.isArray;

/** BPE merges: "left right" strings or [left, right] pairs; checked a slice at a time (~45 ms in one block in jest). */
function* checkMerges(m: unknown): Generator<Step, Array<string | string[]>, undefined> {
  if (m === undefined || m === null) return [];
  if (!isArray(m)) throw new BadModelError('tokenizer.json model.merges must be an array');
  for (let i = 0; i < m.length; i++) {
    const e: unknown = m[i];
    if ((i & 1023) === 1023) yield;
    if (typeof e === 'string') continue;
    if (isArray(e) && e.length === 2 && typeof e[0] === 'string' && typeof e[1] === 'string') continue;
    throw new BadModelError(`tokenizer.json model.merges[${i}] must be a "left right" string or a pair of strings`);
  }
  return m as Array<string | string[]>;
}

/** Where texts may be cut (cuts.ts): the normalizer must allow it, then the pre-tokenizer or the vocabulary. */
function jsonCuts(
  json: Record<string, unknown>,
  normalize: Normalizer | undefined,
  tokens: readonly string[],
  tokenToId: TokenLookup,
  fuseUnk: boolean,
): CutPlan | undefined {
  const normCut = normalizerCuts(json.normalizer);
  const preCut = preTokenizerCuts(json.pre_tokenizer);
  if (!normCut || !preCut) return undefined;
  const barrier = preCut === 'whole' ? new MergeBarrier(tokens, 0x2581) : undefined;
  const rule = barrier ? barrier.rule : (preCut as CutRule);
  const inner = { first: false, last: false };
  // Whether a cut between two code points is safe depends on those two only: remembered (a text has
  // few distinct pairs, and the test runs the normalizer on each character).
  const memo = new Map<number, boolean>();
  const safe = (p: number, c: number): boolean => {
    const key = p * 0x110000 + c;
    const known = memo.get(key);
    if (known !== undefined) return known;
    const r = safePair(p, c);
    if (barrier === undefined || barrier.built) {
      if (memo.size >= 1 << 16) memo.clear();
      memo.set(key, r);
    }
    return r;
  };
  const safePair = (p: number, c: number): boolean => {
    const x = String.fromCodePoint(p);
    const y = String.fromCodePoint(c);
    if (!normCut(x, y)) return false;
    const nx = normalize ? normalize(x, inner) : x;
    const ny = normalize ? normalize(y, inner) : y;
    if (nx.length === 0 || ny.length === 0) return false;
    // Unknown characters next to each other fuse into one unknown token.
    if (fuseUnk && (!tokenToId.has(nx) || !tokenToId.has(ny))) return false;
    return rule(
      nx.codePointAt(nx.length - 1 - (nx.length > 1 && /[\udc00-\udfff]$/.test(nx) ? 1 : 0))!,
      ny.codePointAt(0)!,
    );
  };
  return {
    ready: () => barrier?.ready() ?? Promise.resolve(),
    safe(s, i) {
      const [p, c] = cpAround(s, i);
      return safe(p, c);
    },
  };
}

/** A token given in tokenizer_config.json as a string or as {"content": ...}. */
function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isRecord(v) && typeof v.content === 'string') return v.content;
  return undefined;
}

interface DecoderInfo {
  mode: PieceMode;
  strip: boolean;
}

function decoderInfo(cfg: unknown, byteLevel: boolean): DecoderInfo {
  const info: DecoderInfo = { mode: byteLevel ? 'byte-level' : 'spm', strip: false };
  const visit = (d: unknown, depth: number) => {
    if (!isRecord(d)) return;
    switch (d.type) {
      case 'Sequence':
        if (depth >= MAX_NESTING)
          throw new BadModelError(`tokenizer.json decoder: Sequence nested deeper than ${MAX_NESTING}`);
        if (Array.isArray(d.decoders)) for (const x of d.decoders) visit(x, depth + 1);
        break;
      case 'ByteLevel':
        info.mode = 'byte-level';
        break;
      case 'Metaspace': {
        info.mode = 'spm';
        const scheme =
          typeof d.prepend_scheme === 'string' ? d.prepend_scheme : d.add_prefix_space === false ? 'never' : 'always';
        info.strip = scheme !== 'never';
        break;
      }
      case 'Replace':
        info.mode = 'spm';
        break;
      case 'Strip':
        if (d.content === ' ' && typeof d.start === 'number' && d.start > 0) info.strip = true;
        break;
      default:
        break; // ByteFallback, Fuse: implied by how pieces are rendered
    }
  };
  visit(cfg, 0);
  return info;
}

/** Template post-processor: does `single` start / end with a special token, and which. */
function templateSpecials(pp: unknown, depth = 0): { first?: string; last?: string } {
  if (!isRecord(pp)) return {};
  if (pp.type === 'Sequence' && Array.isArray(pp.processors)) {
    if (depth >= MAX_NESTING)
      throw new BadModelError(`tokenizer.json post_processor: Sequence nested deeper than ${MAX_NESTING}`);
    for (const p of pp.processors) {
      const r = templateSpecials(p, depth + 1);
      if (r.first !== undefined || r.last !== undefined) return r;
    }
    return {};
  }
  if (pp.type !== 'TemplateProcessing' || !Array.isArray(pp.single)) return {};
  const name = (item: unknown) =>
    isRecord(item) && isRecord(item.SpecialToken) && typeof item.SpecialToken.id === 'string'
      ? item.SpecialToken.id
      : undefined;
  return { first: name(pp.single[0]), last: name(pp.single[pp.single.length - 1]) };
}

export type { TokenizerJsonParts } from './spec';

export function specFromTokenizerJson(json: unknown, config?: unknown): TokenizerSpec {
  return runSteps(specFromTokenizerJsonSteps({ json }, config));
}

/** specFromTokenizerJson from parts, at once (the tokenizing worker: offload.ts). */
export function specFromTokenizerJsonParts(parts: TokenizerJsonParts, config?: unknown): TokenizerSpec {
  return runSteps(specFromTokenizerJsonSteps(parts, config));
}

/** specFromTokenizerJson with the event loop free every ~5 ms (loadModel, loadTokenizer). */
export function specFromTokenizerJsonAsync(parts: TokenizerJsonParts, config?: unknown): Promise<TokenizerSpec> {
  return runStepsAsync(specFromTokenizerJsonSteps(parts, config));
}

/** The build, yielding between steps of the vocabulary loops (151k entries: tens of ms each). */
function* specFromTokenizerJsonSteps(
  parts: TokenizerJsonParts,
  config?: unknown,
): Generator<Step, TokenizerSpec, undefined> {
  const json = parts.json;
  if (!isRecord(json) || !isRecord(json.model)) throw new BadModelError('tokenizer.json has no "model"');
  const cfg = isRecord(config) ? config : {};
  const model = json.model;
  if (model.type !== undefined && model.type !== 'BPE') {
    throw new UnsupportedError(`unsupported tokenizer.json model type ${JSON.stringify(model.type)} (only BPE)`);
  }
  for (const k of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
    if (typeof model[k] === 'string' && model[k] !== '') throw new UnsupportedError(`BPE ${k} is not supported`);
  }
  let keys: string[];
  let ids: unknown[];
  if (parts.vocab) {
    ({ keys, ids } = parts.vocab);
  } else {
    if (!isRecord(model.vocab)) throw new BadModelError('tokenizer.json model has no vocab');
    const vocab = model.vocab;
    // The keys once (collecting 151k keys is one block of tens of ms: the async loaders get them from
    // a worker thread instead).
    keys = Object.keys(vocab);
    yield;
    ids = new Array<unknown>(keys.length);
    for (let i = 0; i < keys.length; i++) {
      ids[i] = vocab[keys[i]!];
      if ((i & 1023) === 1023) yield;
    }
  }
  if (json.added_tokens !== undefined && json.added_tokens !== null && !Array.isArray(json.added_tokens))
    throw new BadModelError('tokenizer.json "added_tokens" must be an array');
  const added = (json.added_tokens ?? []) as unknown[];
  // An index loop: a sparse array handed in from JS has holes that forEach would skip.
  for (let i = 0; i < added.length; i++) {
    const a = added[i];
    if (!isRecord(a) || typeof a.content !== 'string' || !isId(a.id))
      throw new BadModelError(
        `tokenizer.json added_tokens[${i}] must have a string "content" and an integer "id" >= 0`,
      );
  }
  const addedTokens = added as Array<Record<string, unknown> & { id: number; content: string }>;

  // Ids are checked before anything is sized by them: below the model's vocab_size (config.json) when it
  // is known, else below the number of tokens the file lists.
  let entries = addedTokens.length;
  for (let i = 0; i < keys.length; i++) {
    if (!isId(ids[i]))
      throw new BadModelError(`tokenizer.json: bad id ${show(ids[i])} for token ${JSON.stringify(keys[i])}`);
    if ((++entries & 1023) === 0) yield;
  }
  const vocabSize = cfg.vocab_size;
  if (vocabSize !== undefined && (!isId(vocabSize) || vocabSize === 0 || vocabSize > MAX_VOCAB))
    throw new BadModelError(`vocab_size must be an integer in [1, ${MAX_VOCAB}], got ${show(vocabSize)}`);
  const limit = vocabSize ?? entries;
  const where = vocabSize !== undefined ? `config.json vocab_size ${vocabSize}` : `the ${entries} tokens it lists`;
  let n = 0;
  const use = (id: number, text: string, what: string) => {
    if (id >= limit)
      throw new BadModelError(`tokenizer.json ${what} ${JSON.stringify(text)} has id ${id}, beyond ${where}`);
    if (id >= n) n = id + 1;
  };
  let steps = 0;
  for (let i = 0; i < keys.length; i++) {
    use(ids[i] as number, keys[i]!, 'token');
    if ((++steps & 1023) === 0) yield;
  }
  for (const a of addedTokens) use(a.id, a.content, 'added token');
  const tokens = new Array<string>(n);
  const attrs = new Uint16Array(n);
  const tokenToId = new TokenIndex(keys.length + addedTokens.length);
  const byteFallback = model.byte_fallback === true;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const id = ids[i] as number;
    tokens[id] = k;
    attrs[id] = byteFallback && byteTokenValue(k) >= 0 ? ATTR_BYTE : ATTR_NORMAL;
    const grows = tokenToId.growsOnAdd(k);
    if (grows) yield TURN;
    tokenToId.set(k, id);
    if (grows) yield TURN;
    if ((++steps & 1023) === 0) yield;
  }
  const unkText = typeof model.unk_token === 'string' ? model.unk_token : undefined;
  for (const a of addedTokens) {
    tokens[a.id] = a.content;
    let attr = a.special === true ? ATTR_CONTROL : ATTR_USER_DEFINED;
    if (a.content === unkText) attr = ATTR_UNKNOWN;
    if (a.lstrip === true) attr |= ATTR_LSTRIP;
    if (a.rstrip === true) attr |= ATTR_RSTRIP;
    attrs[a.id] = attr;
    tokenToId.set(a.content, a.id);
  }
  const holes: number[] = [];
  for (let i = 0; i < n; i++) {
    if (tokens[i] === undefined) {
      tokens[i] = `[EMPTY_${i}]`;
      attrs[i] = ATTR_UNUSED;
      holes.push(i);
    }
  }

  const normalize = buildNormalizer(json.normalizer);
  const pre = buildPreTokenizer(json.pre_tokenizer);
  yield;
  const mergeIds = parts.mergeIds;
  if (mergeIds !== undefined && mergeIds.length % 2 !== 0) throw new BadModelError('merge ids must come in pairs');
  const merges = mergeIds !== undefined ? [] : yield* checkMerges(parts.merges ?? model.merges);
  yield;
  const unkId = unkText !== undefined ? tokenToId.get(unkText) : undefined;
  const bpe = new BpeModel({
    tokenToId,
    tokens,
    merges,
    mergeIds,
    byteLevel: pre.byteLevel,
    byteFallback,
    unkId,
    fuseUnk: model.fuse_unk === true,
    ignoreMerges: model.ignore_merges === true,
  });
  const dec = decoderInfo(json.decoder, pre.byteLevel);

  // BOS / EOS: tokenizer_config first, then the post-processor template, then config.json ids.
  const tpl = templateSpecials(json.post_processor);
  const idOf = (t: string | undefined) => (t === undefined ? undefined : tokenToId.get(t));
  const numId = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < n ? v : undefined);
  const bos = idOf(tokenContent(cfg.bos_token)) ?? idOf(tpl.first) ?? numId(cfg.bos_token_id);
  const eos = idOf(tokenContent(cfg.eos_token)) ?? numId(cfg.eos_token_id);
  const addBos =
    typeof cfg.add_bos_token === 'boolean' ? cfg.add_bos_token : tpl.first !== undefined && bos !== undefined;
  const addEos =
    typeof cfg.add_eos_token === 'boolean' ? cfg.add_eos_token : tpl.last !== undefined && tpl.last !== tpl.first;
  yield;
  const { eot, eog } = applySpecialTextRules(tokens, tokenToId, attrs, { eos });
  yield;

  let chatTemplate: string | undefined;
  if (typeof cfg.chat_template === 'string') chatTemplate = cfg.chat_template;
  else if (Array.isArray(cfg.chat_template)) {
    const list = cfg.chat_template.filter(isRecord);
    const pick = list.find((t) => t.name === 'default') ?? list[0];
    if (pick && typeof pick.template === 'string') chatTemplate = pick.template;
  }

  return {
    type: dec.mode === 'spm' && !pre.byteLevel ? 'spm' : 'bpe',
    tokens,
    attrs,
    tokenToId,
    pieceMode: dec.mode,
    stripLeadingSpace: dec.strip,
    bos,
    eos,
    eot,
    eog,
    holes,
    addBos: addBos && bos !== undefined,
    addEos: addEos && eos !== undefined,
    chatTemplate,
    cuts: jsonCuts(json, normalize, tokens, tokenToId, model.fuse_unk === true && !byteFallback),
    // What a worker thread rebuilds this tokenizer from (offload.ts): the big tables apart, as arrays.
    source: {
      kind: 'json',
      parts: {
        json: { ...json, model: { ...model, vocab: undefined, merges: undefined } },
        vocab: { keys, ids },
        ...(mergeIds !== undefined ? { mergeIds } : { merges }),
      },
      config,
    },
    prepare: () => bpe.prepare(),
    encodeText(text, ctx, out) {
      const norm = normalize ? normalize(text, { first: ctx.continued !== true, last: ctx.more !== true }) : text;
      if (norm.length === 0) return;
      const pieces = pre.run([norm], ctx.atStart);
      for (let i = 0; i < pieces.length; i++) bpe.encode(pieces[i]!, out, ctx.defer);
    },
  };
}
