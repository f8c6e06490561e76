/**
 * Gemma 3 (Gemma3ForCausalLM, GGUF "gemma3") and Gemma 2 (Gemma2ForCausalLM,
 * GGUF "gemma2"): embeddings scaled by sqrt(n_embd); each layer RMS-norms
 * before and after attention and before and after the FFN; per-head q/k RMS
 * norms (gemma3); a GELU-tanh gated FFN; neox rope; a head dim of its own;
 * sliding-window attention on the layers of the pattern (gemma3: 5 of every 6,
 * with its own rope base; gemma2: every other layer); optional soft-capping of
 * attention scores (gemma2) and of the final logits.
 *
 * Gemma's HF RMSNorm multiplies by (1 + weight); GGUF files store 1 + weight
 * (llama.cpp's converter adds the 1), and so does this module when it reads an
 * HF folder (TensorSource.vector's `add`).
 */
import type { TensorSpec } from '../../backend';
import { BadModelError, UnsupportedError } from '../../errors';
import { GGUFValueType } from '../../gguf/types';
import { typed, type GGUFWriteValue } from '../../gguf/writer';
import type { HFConfig, Json } from '../../hf/config';
import type { GGUFMeta, ModelHParams } from '../hparams';
import { gatedFfn, rmsNorm, selfAttention, type AttentionParams, type AttentionWeights } from './blocks';
import type { FamilyWeights, GraphOps, LayerOps, ModelFamily, Tensor, TensorSource } from './family';
import { hfNameMapper } from './hf-names';

export interface GemmaHParams extends ModelHParams {
  /** Keys a windowed layer's query sees (its own position and window - 1 before it). */
  slidingWindow: number;
  /** Layer il is windowed when il % pattern < pattern - 1 (gemma3: 6; gemma2: 2); 0: every layer (llama.cpp's rule). */
  slidingWindowPattern: number;
  /** Rope base of the windowed layers (ropeTheta is the global layers'). */
  ropeThetaSwa: number;
  /** Rope position scale of the global layers (linear scaling: 1 / factor). */
  ropeFreqScale: number;
  /** Attention score scale (1/sqrt(head_dim), or 1/sqrt(query_pre_attn_scalar)). */
  attnScale: number;
  /** c * tanh(x / c) of attention scores / final logits; 0: none. */
  attnSoftcap: number;
  finalSoftcap: number;
}

export interface GemmaLayer extends AttentionWeights {
  attnNorm: TensorSpec; // [1, n_embd] f32
  postAttnNorm: TensorSpec; // [1, n_embd] f32
  ffnNorm: TensorSpec; // [1, n_embd] f32
  postFfnNorm: TensorSpec; // [1, n_embd] f32
  wGate: TensorSpec; // [n_ff, n_embd]
  wUp: TensorSpec; // [n_ff, n_embd]
  wDown: TensorSpec; // [n_embd, n_ff]
}

export interface GemmaWeights extends FamilyWeights<GemmaLayer> {
  tokenEmbd: TensorSpec; // [vocab, n_embd]
  outputNorm: TensorSpec; // [1, n_embd] f32
  output: TensorSpec; // [vocab, n_embd] (token_embd when tied)
}

export interface GemmaVariant {
  name: 'gemma3' | 'gemma2';
  hfArchitectures: readonly string[];
  /** Windowed layers per pattern period when the files do not say. */
  defaultPattern: number;
  qkNorm: boolean;
  /** Window when the GGUF file does not say (gemma3: none, gemma2: 4096, as llama.cpp). */
  defaultWindow: number;
  /** Soft-caps when the GGUF file does not say (llama.cpp's defaults: gemma2 50 and 30). */
  defaultAttnSoftcap: number;
  defaultFinalSoftcap: number;
}

// ---------------------------------------------------------------- names

const HF_GLOBAL: Record<string, string> = {
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
  'lm_head.weight': 'output.weight',
};
const HF_LAYER: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'self_attn.q_norm.weight': 'attn_q_norm.weight',
  'self_attn.k_norm.weight': 'attn_k_norm.weight',
  'post_attention_layernorm.weight': 'post_attention_norm.weight',
  'pre_feedforward_layernorm.weight': 'ffn_norm.weight',
  'post_feedforward_layernorm.weight': 'post_ffw_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
};
const gemmaTensorName = hfNameMapper(HF_GLOBAL, HF_LAYER);

// ---------------------------------------------------------------- hyper-parameters

/** Whether layer `il` attends through the sliding window. */
export function isWindowedLayer(hp: GemmaHParams, il: number): boolean {
  const p = hp.slidingWindowPattern;
  return hp.slidingWindow > 0 && (p === 0 || il % p < p - 1);
}

/** The period of per-layer window flags (il % p < p - 1; 0: all windowed), or undefined. */
function periodOf(windowed: readonly boolean[]): number | undefined {
  if (windowed.every((f) => f)) return 0;
  for (let p = 1; p <= windowed.length; p++) if (windowed.every((f, il) => f === il % p < p - 1)) return p;
  return undefined;
}

/** The window pattern of GGUF metadata: a period, or (newer files) one bool per layer. */
function patternOf(m: GGUFMeta, fallback: number, nLayer: number): number {
  const raw = m.value(`${m.arch}.attention.sliding_window_pattern`);
  if (Array.isArray(raw) || (ArrayBuffer.isView(raw) && !(raw instanceof DataView))) {
    const flags = Array.from(raw as ArrayLike<unknown>, (v) => Boolean(v));
    const p = flags.length === nLayer ? periodOf(flags) : undefined;
    if (p === undefined)
      throw new UnsupportedError(`${m.arch}.attention.sliding_window_pattern: this per-layer pattern is not supported`);
    return p;
  }
  return m.num('attention.sliding_window_pattern', fallback);
}

function hparamsFromGGUF(
  m: GGUFMeta,
  t: { has(name: string): boolean; shape(name: string): readonly number[] | undefined },
  v: GemmaVariant,
): GemmaHParams {
  const nEmbd = m.num('embedding_length');
  const nHead = m.num('attention.head_count');
  const nLayer = m.num('block_count');
  const headDim = m.num('attention.key_length', nHead > 0 ? Math.floor(nEmbd / nHead) : 0);
  const tokens = m.value('tokenizer.ggml.tokens');
  const vocabSize = Array.isArray(tokens) ? tokens.length : (t.shape('token_embd.weight')?.[1] ?? m.num('vocab_size'));
  const scaling = m.str('rope.scaling.type');
  let freqScale = 1;
  if (scaling === 'linear') freqScale = 1 / m.num('rope.scaling.factor', 1);
  else if (scaling !== undefined && scaling !== 'none')
    throw new UnsupportedError(`rope scaling "${scaling}" is not supported`);
  // llama.cpp: Gemma 3 27B (62 layers) and Gemma 2 27B (46 layers) scale by 1/sqrt(n_embd / n_head).
  const big = (v.name === 'gemma3' && nLayer === 62) || (v.name === 'gemma2' && nLayer === 46);
  return {
    nLayer,
    nEmbd,
    nHead,
    nKvHead: m.num('attention.head_count_kv', nHead),
    headDim,
    nFf: m.num('feed_forward_length'),
    vocabSize,
    contextLength: m.num('context_length', 8192),
    rmsEps: m.num('attention.layer_norm_rms_epsilon', 1e-6),
    ropeTheta: m.num('rope.freq_base', 10000),
    ropeMode: 'neox',
    nRot: m.num('rope.dimension_count', headDim),
    tiedEmbeddings: !t.has('output.weight'),
    slidingWindow: m.num('attention.sliding_window', v.defaultWindow),
    slidingWindowPattern: patternOf(m, v.defaultPattern, nLayer),
    // gemma2 has one rope base; gemma3's windowed layers default to 10000 as in llama.cpp.
    ropeThetaSwa: m.num('rope.freq_base_swa', v.name === 'gemma3' ? 10000 : m.num('rope.freq_base', 10000)),
    ropeFreqScale: freqScale,
    attnScale: 1 / Math.sqrt(big ? nEmbd / nHead : headDim),
    attnSoftcap: m.num('attn_logit_softcapping', v.defaultAttnSoftcap),
    finalSoftcap: m.num('final_logit_softcapping', v.defaultFinalSoftcap),
  };
}

function optionalNumber(c: HFConfig, key: string): number {
  const v = c.value(key);
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number') throw new BadModelError(`config.json: "${key}" is not a number`);
  return v;
}

function hparamsFromHF(c: HFConfig, hasTensor: (name: string) => boolean, v: GemmaVariant): GemmaHParams {
  const nEmbd = c.num('hidden_size');
  const nHead = c.num('num_attention_heads');
  const nLayer = c.num('num_hidden_layers');
  const headDim = c.num('head_dim', nHead > 0 ? Math.floor(nEmbd / nHead) : 0);
  const act = c.value('hidden_activation') ?? c.value('hidden_act') ?? 'gelu_pytorch_tanh';
  if (act !== 'gelu_pytorch_tanh')
    throw new UnsupportedError(`config.json: activation ${JSON.stringify(act)} is not supported`);
  let freqScale = 1;
  const rs = c.value('rope_scaling');
  if (rs !== undefined && rs !== null) {
    if (typeof rs !== 'object' || Array.isArray(rs))
      throw new BadModelError('config.json: "rope_scaling" is not an object');
    const r = rs as Json;
    const type = r['rope_type'] ?? r['type'];
    const factor = r['factor'];
    if (type !== 'linear' || typeof factor !== 'number' || !(factor > 0))
      throw new UnsupportedError(`rope scaling ${JSON.stringify(type)} is not supported`);
    freqScale = 1 / factor;
  }
  // transformers >= 4.53 lists each layer's kind; older configs give the period.
  let pattern = c.num('sliding_window_pattern', v.defaultPattern);
  const types = c.value('layer_types');
  if (Array.isArray(types)) {
    const p = types.length === nLayer ? periodOf(types.map((x) => x === 'sliding_attention')) : undefined;
    if (p === undefined) throw new UnsupportedError('config.json: this "layer_types" pattern is not supported');
    pattern = p;
  }
  const theta = c.num('rope_theta', 10000);
  return {
    nLayer,
    nEmbd,
    nHead,
    nKvHead: c.num('num_key_value_heads', nHead),
    headDim,
    nFf: c.num('intermediate_size'),
    vocabSize: c.num('vocab_size'),
    contextLength: c.num('max_position_embeddings', 8192),
    rmsEps: c.num('rms_norm_eps', 1e-6),
    ropeTheta: theta,
    ropeMode: 'neox',
    nRot: headDim,
    tiedEmbeddings: c.bool('tie_word_embeddings') ?? !hasTensor('output.weight'),
    slidingWindow: optionalNumber(c, 'sliding_window'),
    slidingWindowPattern: pattern,
    ropeThetaSwa: v.name === 'gemma3' ? c.num('rope_local_base_freq', 10000) : theta,
    ropeFreqScale: freqScale,
    attnScale: 1 / Math.sqrt(c.num('query_pre_attn_scalar', headDim)),
    attnSoftcap: optionalNumber(c, 'attn_logit_softcapping'),
    finalSoftcap: optionalNumber(c, 'final_logit_softcapping'),
  };
}

function validate(hp: GemmaHParams): void {
  const nonNeg = (k: keyof GemmaHParams): void => {
    const x = hp[k];
    if (typeof x !== 'number' || !(x >= 0) || !Number.isFinite(x))
      throw new BadModelError(`hyperparameter ${k} = ${JSON.stringify(x)} is out of range`);
  };
  for (const k of ['slidingWindow', 'slidingWindowPattern', 'attnSoftcap', 'finalSoftcap'] as const) nonNeg(k);
  if (!Number.isInteger(hp.slidingWindow) || hp.slidingWindow > 2 ** 31)
    throw new BadModelError(`sliding window ${hp.slidingWindow} is not an integer`);
  if (!Number.isInteger(hp.slidingWindowPattern) || hp.slidingWindowPattern > 1024)
    throw new BadModelError(`sliding window pattern ${hp.slidingWindowPattern} is out of range`);
  for (const k of ['ropeThetaSwa', 'ropeFreqScale', 'attnScale'] as const)
    if (!(hp[k] > 0 && Number.isFinite(hp[k])))
      throw new BadModelError(`hyperparameter ${k} = ${hp[k]} is out of range`);
}

const u32 = (x: number): GGUFWriteValue => typed(GGUFValueType.UINT32, x);
const f32 = (x: number): GGUFWriteValue => typed(GGUFValueType.FLOAT32, x);

/** `<arch>.*` metadata in llama.cpp's converter order. */
function metadata(arch: string, hp: GemmaHParams): Record<string, GGUFWriteValue> {
  const m: Record<string, GGUFWriteValue> = {
    [`${arch}.context_length`]: u32(hp.contextLength),
    [`${arch}.embedding_length`]: u32(hp.nEmbd),
    [`${arch}.block_count`]: u32(hp.nLayer),
    [`${arch}.feed_forward_length`]: u32(hp.nFf),
    [`${arch}.attention.head_count`]: u32(hp.nHead),
    [`${arch}.attention.head_count_kv`]: u32(hp.nKvHead),
    [`${arch}.attention.layer_norm_rms_epsilon`]: f32(hp.rmsEps),
    [`${arch}.rope.freq_base`]: f32(hp.ropeTheta),
    [`${arch}.attention.key_length`]: u32(hp.headDim),
    [`${arch}.attention.value_length`]: u32(hp.headDim),
  };
  if (hp.slidingWindow > 0) m[`${arch}.attention.sliding_window`] = u32(hp.slidingWindow);
  if (arch === 'gemma3') m[`${arch}.rope.freq_base_swa`] = f32(hp.ropeThetaSwa);
  if (hp.slidingWindowPattern !== (arch === 'gemma3' ? 6 : 2))
    m[`${arch}.attention.sliding_window_pattern`] = u32(hp.slidingWindowPattern);
  if (hp.ropeFreqScale !== 1) {
    m[`${arch}.rope.scaling.type`] = 'linear';
    m[`${arch}.rope.scaling.factor`] = f32(1 / hp.ropeFreqScale);
  }
  if (hp.attnSoftcap > 0 || arch === 'gemma2') m[`${arch}.attn_logit_softcapping`] = f32(hp.attnSoftcap);
  if (hp.finalSoftcap > 0 || arch === 'gemma2') m[`${arch}.final_logit_softcapping`] = f32(hp.finalSoftcap);
  return m;
}

// ---------------------------------------------------------------- tensors

function weights(hp: GemmaHParams, t: TensorSource, v: GemmaVariant): GemmaWeights {
  const qDim = hp.nHead * hp.headDim;
  const kvDim = hp.nKvHead * hp.headDim;
  // HF stores norm weights w of x * (1 + w); GGUF (and the ops) 1 + w.
  const norm = (name: string, n: number): TensorSpec => t.vector(name, n, t.format === 'hf' ? 1 : 0);
  const tokenEmbd = t.matrix('token_embd.weight', [hp.nEmbd, hp.vocabSize]);
  const outputNorm = norm('output_norm.weight', hp.nEmbd);
  const output = hp.tiedEmbeddings ? tokenEmbd : t.matrix('output.weight', [hp.nEmbd, hp.vocabSize]);
  const layers: GemmaLayer[] = [];
  for (let i = 0; i < hp.nLayer; i++) {
    const b = `blk.${i}.`;
    const attnNorm = norm(`${b}attn_norm.weight`, hp.nEmbd);
    const wq = t.matrix(`${b}attn_q.weight`, [hp.nEmbd, qDim]);
    const wk = t.matrix(`${b}attn_k.weight`, [hp.nEmbd, kvDim]);
    const wv = t.matrix(`${b}attn_v.weight`, [hp.nEmbd, kvDim]);
    const qNorm = v.qkNorm ? norm(`${b}attn_q_norm.weight`, hp.headDim) : undefined;
    const kNorm = v.qkNorm ? norm(`${b}attn_k_norm.weight`, hp.headDim) : undefined;
    const wo = t.matrix(`${b}attn_output.weight`, [qDim, hp.nEmbd]);
    const postAttnNorm = norm(`${b}post_attention_norm.weight`, hp.nEmbd);
    const ffnNorm = norm(`${b}ffn_norm.weight`, hp.nEmbd);
    const wGate = t.matrix(`${b}ffn_gate.weight`, [hp.nEmbd, hp.nFf]);
    const wUp = t.matrix(`${b}ffn_up.weight`, [hp.nEmbd, hp.nFf]);
    const wDown = t.matrix(`${b}ffn_down.weight`, [hp.nFf, hp.nEmbd]);
    const postFfnNorm = norm(`${b}post_ffw_norm.weight`, hp.nEmbd);
    layers.push({
      attnNorm,
      wq,
      wk,
      wv,
      wo,
      ...(qNorm && { qNorm }),
      ...(kNorm && { kNorm }),
      postAttnNorm,
      ffnNorm,
      wGate,
      wUp,
      wDown,
      postFfnNorm,
    });
  }
  return { tokenEmbd, outputNorm, output, layers };
}

// ---------------------------------------------------------------- graph

function attention(hp: GemmaHParams, il: number): AttentionParams {
  const windowed = isWindowedLayer(hp, il);
  return {
    nHead: hp.nHead,
    nKvHead: hp.nKvHead,
    headDim: hp.headDim,
    nRot: hp.nRot,
    ropeMode: 'neox',
    ropeTheta: windowed ? hp.ropeThetaSwa : hp.ropeTheta,
    ropeFreqScale: windowed ? 1 : hp.ropeFreqScale,
    eps: hp.rmsEps,
    scale: hp.attnScale,
    ...(windowed && { window: hp.slidingWindow }),
    ...(hp.attnSoftcap > 0 && { softcap: hp.attnSoftcap }),
  };
}

function embed(g: GraphOps, w: GemmaWeights, hp: GemmaHParams, ids: Tensor, x: Tensor): void {
  g.op('get_rows', [g.weight(w.tokenEmbd), ids], x);
  g.op('scale', [x], x, { scale: Math.fround(Math.sqrt(hp.nEmbd)) }); // as llama.cpp: sqrtf(n_embd)
}

/** Sandwich-normed attention and GELU FFN, each added to the residual stream. */
function layer(g: LayerOps, w: GemmaWeights, hp: GemmaHParams): void {
  const l = w.layers[g.layer]!;
  const h = g.activation('h', hp.nEmbd); // [n, n_embd] normed input / output of a sub-block
  const proj = g.activation('proj', hp.nEmbd); // [n, n_embd] attn / ffn output projection
  rmsNorm(g, g.x, l.attnNorm, hp.rmsEps, h);
  selfAttention(g, h, l, attention(hp, g.layer), proj);
  rmsNorm(g, proj, l.postAttnNorm, hp.rmsEps, proj);
  g.op('add', [g.x, proj], g.x);
  rmsNorm(g, g.x, l.ffnNorm, hp.rmsEps, h);
  gatedFfn(g, h, l, 'geglu', proj);
  rmsNorm(g, proj, l.postFfnNorm, hp.rmsEps, proj);
  g.op('add', [g.x, proj], g.x);
}

function head(g: GraphOps, w: GemmaWeights, hp: GemmaHParams, x: Tensor, logits: Tensor): void {
  const h = g.activation('h', hp.nEmbd); // [rows, n_embd]
  rmsNorm(g, x, w.outputNorm, hp.rmsEps, h);
  g.op('matmul', [h, g.weight(w.output)], logits); // [rows, vocab]
  if (hp.finalSoftcap > 0) g.op('softcap', [logits], logits, { softcap: hp.finalSoftcap });
}

function outputNorm(g: GraphOps, w: GemmaWeights, hp: GemmaHParams, x: Tensor, out: Tensor): void {
  rmsNorm(g, x, w.outputNorm, hp.rmsEps, out);
}

function gemmaVariant<const N extends GemmaVariant['name']>(
  v: GemmaVariant & { name: N },
): ModelFamily<GemmaHParams, GemmaWeights> & { readonly name: N } {
  return {
    name: v.name,
    hfArchitectures: v.hfArchitectures,
    // Gemma's tokenizers add <bos> unless tokenizer_config.json says otherwise.
    hfAddsBos: true,
    hparamsFromGGUF: (meta, tensors) => hparamsFromGGUF(meta, tensors, v),
    hparamsFromHF: (config, hasTensor) => hparamsFromHF(config, hasTensor, v),
    validate,
    hfTensorName: gemmaTensorName,
    weights: (hp, t) => weights(hp, t, v),
    ggufMetadata: (hp) => metadata(v.name, hp),
    embed,
    layerWindow: (hp, il) => (isWindowedLayer(hp, il) ? hp.slidingWindow : 0),
    layer,
    head,
    outputNorm,
  };
}

export const gemma3 = gemmaVariant({
  name: 'gemma3',
  hfArchitectures: ['Gemma3ForCausalLM'],
  defaultPattern: 6,
  defaultWindow: 0,
  qkNorm: true,
  defaultAttnSoftcap: 0,
  defaultFinalSoftcap: 0,
});

export const gemma2 = gemmaVariant({
  name: 'gemma2',
  hfArchitectures: ['Gemma2ForCausalLM'],
  defaultPattern: 2,
  defaultWindow: 4096,
  qkNorm: false,
  defaultAttnSoftcap: 50,
  defaultFinalSoftcap: 30,
});
