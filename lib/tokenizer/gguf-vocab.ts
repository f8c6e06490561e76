/**
 * Builds a tokenizer from GGUF metadata (`tokenizer.ggml.*`), with llama.cpp's
 * defaults and quirks: "llama" = SentencePiece-style BPE with byte fallback,
 * "gpt2" = byte-level BPE whose pre-tokenizer is picked by `tokenizer.ggml.pre`.
 */
import { BadModelError, UnsupportedError } from '../errors';
import { BpeModel } from './bpe';
import { MergeBarrier, plan, splitterCuts } from './cuts';
import { type MetadataRecord, optBool, optNumber, optNumberArray, optString, optStringArray } from './metadata';
import { ggufPreTokenizer, splitText } from './pretokenizers';
import type { TokenizerSpec } from './spec';
import { SpmModel } from './spm';
import { ATTR_CONTROL, ATTR_NORMAL, ATTR_RSTRIP, ATTR_UNKNOWN, ATTR_USER_DEFINED, attrFromTokenType } from './vocab';
import { applySpecialTextRules } from './special-ids';
import { runSteps, runStepsAsync, type Step, TURN } from './steps';
import { TokenIndex } from './token-index';

const K = 'tokenizer.ggml.';

/** The keys the tokenizer is built from (tokenizer.*, and general.name for the Phi-3 quirk). */
function tokenizerMetadata(md: MetadataRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(md)) if (k.startsWith(K) || k === 'general.name') out[k] = md[k];
  return out;
}

export function specFromGGUF(md: MetadataRecord): TokenizerSpec {
  return runSteps(specFromGGUFSteps(md));
}

/** specFromGGUF with the event loop free every ~5 ms (loadModel, loadTokenizer). */
export function specFromGGUFAsync(md: MetadataRecord): Promise<TokenizerSpec> {
  return runStepsAsync(specFromGGUFSteps(md));
}

/** The build, yielding between steps of the token table (151k tokens: 60-100 ms of CPU in one piece). */
function* specFromGGUFSteps(md: MetadataRecord): Generator<Step, TokenizerSpec, undefined> {
  const model = optString(md, K + 'model');
  if (model === undefined) throw new BadModelError(`GGUF has no ${K}model`);
  if (model !== 'llama' && model !== 'gpt2') {
    throw new UnsupportedError(`unsupported tokenizer model ${K}model = '${model}' (supported: llama, gpt2)`);
  }
  const tokens = optStringArray(md, K + 'tokens');
  if (!tokens || tokens.length === 0) throw new BadModelError(`GGUF has no ${K}tokens`);
  const n = tokens.length;
  const types = optNumberArray(md, K + 'token_type');
  const scores = optNumberArray(md, K + 'scores');
  if (types && types.length < n) throw new BadModelError(`${K}token_type is shorter than ${K}tokens`);
  if (scores && scores.length < n) throw new BadModelError(`${K}scores is shorter than ${K}tokens`);

  // Copied only if an empty token must be renamed (as llama.cpp does); the caller's array is never changed.
  let toks = tokens;
  const attrs = new Uint16Array(n);
  const tokenToId = new TokenIndex(n);
  for (let i = 0; i < n; i++) {
    let t = toks[i]!;
    if (t.length === 0) {
      if (toks === tokens) toks = tokens.slice();
      toks[i] = t = `[EMPTY_${i}]`;
    }
    if (tokenToId.get(t) === undefined) {
      const grows = tokenToId.growsOnAdd(t);
      if (grows) yield TURN;
      tokenToId.set(t, i);
      if (grows) yield TURN;
    }
    attrs[i] = types ? attrFromTokenType(types[i]!) : ATTR_NORMAL;
    if ((i & 1023) === 1023) yield;
  }
  yield;

  const spm = model === 'llama';
  // llama.cpp's defaults, then whatever the file says.
  const inRange = (id: number | undefined) => (id !== undefined && id >= 0 && id < n ? id : undefined);
  const special = (key: string, dflt: number | undefined) => inRange(optNumber(md, K + key)) ?? inRange(dflt);
  const bos = special('bos_token_id', spm ? 1 : 11);
  const eos = special('eos_token_id', spm ? 2 : 11);
  const unk = special('unknown_token_id', spm ? 0 : undefined);
  const pre = spm ? undefined : ggufPreTokenizer(optString(md, K + 'pre'));
  const addBos = optBool(md, K + 'add_bos_token') ?? (spm ? true : pre!.addBos);
  const addEos = optBool(md, K + 'add_eos_token') ?? false;
  const addSpacePrefix = optBool(md, K + 'add_space_prefix') ?? spm;
  if (addBos && bos === undefined) throw new BadModelError(`${K}add_bos_token is true but there is no BOS token`);
  if (addEos && eos === undefined) throw new BadModelError(`${K}add_eos_token is true but there is no EOS token`);

  const fimKey = (role: string, old?: string) =>
    special(`fim_${role}_token_id`, undefined) ?? (old ? special(`${old}_token_id`, undefined) : undefined);
  const { eot, eog } = applySpecialTextRules(toks, tokenToId, attrs, {
    eos,
    eot: special('eot_token_id', undefined),
    eom: special('eom_token_id', undefined),
    fim: {
      pre: fimKey('pre', 'prefix'),
      suf: fimKey('suf', 'suffix'),
      mid: fimKey('mid', 'middle'),
      pad: fimKey('pad'),
      rep: fimKey('rep'),
      sep: fimKey('sep'),
    },
  });

  yield;

  // Phi-3 files need right-stripping special tokens (llama.cpp keys this on general.name).
  const name = (optString(md, 'general.name') ?? '').toLowerCase();
  if (name.includes('phi-3') || name.includes('phi3')) {
    for (let i = 0; i < n; i++)
      if (attrs[i]! & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) attrs[i] = attrs[i]! | ATTR_RSTRIP;
    const set = (t: string, on: boolean) => {
      const id = tokenToId.get(t);
      if (id !== undefined) attrs[id] = on ? attrs[id]! | ATTR_RSTRIP : attrs[id]! & ~ATTR_RSTRIP;
    };
    set('</s>', true);
    for (const t of ['<unk>', '<s>', '<|endoftext|>']) set(t, false);
  }

  const common = {
    tokens: toks,
    attrs,
    tokenToId,
    bos,
    eos,
    eot,
    eog,
    addBos,
    addEos,
    chatTemplate: optString(md, 'tokenizer.chat_template'),
    stripLeadingSpace: addSpacePrefix,
    // What a worker thread rebuilds this tokenizer from (offload.ts).
    source: { kind: 'gguf' as const, metadata: tokenizerMetadata(md) },
  };

  if (spm) {
    const model = new SpmModel({ tokenToId, scores: scores ?? new Float32Array(n), unkId: unk });
    // SentencePiece merges across the whole fragment (spaces are ▁): cut only where no token can span.
    const barrier = new MergeBarrier(toks, 0x2581);
    const sp = (c: number) => (c === 0x20 ? 0x2581 : c);
    return {
      ...common,
      type: 'spm',
      pieceMode: 'spm',
      cuts: plan(
        (p, c) => barrier.rule(sp(p), sp(c)),
        () => barrier.ready(),
      ),
      encodeText(text, ctx, out) {
        const t = addSpacePrefix && ctx.afterSpecial ? ' ' + text : text;
        model.encode(t.replaceAll(' ', '\u2581'), out, ctx.defer);
      },
    };
  }

  const merges = optStringArray(md, K + 'merges');
  if (!merges) throw new BadModelError(`GGUF byte-level vocabulary has no ${K}merges`);
  yield;
  const bpe = new BpeModel({ tokenToId, tokens: toks, merges, byteLevel: true, ignoreMerges: pre!.ignoreMerges });
  const stages = pre!.stages;
  return {
    ...common,
    type: 'bpe',
    pieceMode: 'byte-level',
    ...(pre!.cuts ? { cuts: plan(splitterCuts) } : {}),
    prepare: () => bpe.prepare(),
    encodeText(text, ctx, out) {
      splitText(text, stages, (s, e) => bpe.encode(text.slice(s, e), out, ctx.defer));
    },
  };
}
