/**
 * The llama family (LlamaForCausalLM, GGUF "llama"), and the variants that
 * differ from it only in a few declared ways (qwen2.ts, qwen3.ts):
 * embed → n_layer × (rms_norm, self-attention [q/k/v biases] [per-head q/k
 * rms_norm], residual, rms_norm, SwiGLU FFN, residual) → rms_norm → logits.
 */
import type { TensorSpec } from '../../backend';
import { BadModelError, UnsupportedError } from '../../errors';
import { GGUFValueType } from '../../gguf/types';
import { typed, type GGUFWriteValue } from '../../gguf/writer';
import type { HFConfig, Json } from '../../hf/config';
import type { GGUFMeta, ModelHParams, RopeScalingLlama3 } from '../hparams';
import { llama3FreqFactors } from '../rope-factors';
import {
  gatedFfn,
  rmsNorm,
  selfAttention,
  type AttentionParams,
  type AttentionWeights,
  type GatedFfnWeights,
} from './blocks';
import type { FamilyWeights, GraphOps, LayerOps, ModelFamily, Tensor, TensorSource } from './family';
import { hfNameMapper } from './hf-names';

export interface LlamaLayer extends AttentionWeights, GatedFfnWeights {
  attnNorm: TensorSpec; // [1, n_embd] f32
  ffnNorm: TensorSpec; // [1, n_embd] f32
}

export interface LlamaWeights extends FamilyWeights<LlamaLayer> {
  tokenEmbd: TensorSpec; // [vocab, n_embd]
  outputNorm: TensorSpec; // [1, n_embd] f32
  output: TensorSpec; // [vocab, n_embd] (token_embd when tied)
  ropeFreqs?: TensorSpec; // [1, n_rot/2] f32 (llama3 scaling)
}

/** How a llama variant differs from llama. */
export interface LlamaVariant<N extends string> {
  name: N;
  hfArchitectures: readonly string[];
  /** Rope of GGUF files: llama.cpp's converter permutes llama's Q/K rows to adjacent pairs ('normal'); HF rows are rotate-half ('neox'). */
  ggufRopeMode: 'normal' | 'neox';
  /** q/k/v projection biases: 'required' (qwen2) or 'optional' (llama: attention_bias). */
  qkvBias: 'optional' | 'required';
  /** Per-head RMS norms of q and k (qwen3). */
  qkNorm: boolean;
  hfAddsBos?: boolean;
}

// ---------------------------------------------------------------- names

// transformers' module names → GGUF tensor names (shared by Llama, Qwen2, Qwen3).
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
  'self_attn.q_proj.bias': 'attn_q.bias',
  'self_attn.k_proj.bias': 'attn_k.bias',
  'self_attn.v_proj.bias': 'attn_v.bias',
  'self_attn.o_proj.bias': 'attn_output.bias',
  'self_attn.q_norm.weight': 'attn_q_norm.weight',
  'self_attn.k_norm.weight': 'attn_k_norm.weight',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
};
/** The GGUF name of a transformers llama-style tensor, or undefined (e.g. rotary_emb.inv_freq). */
export const llamaTensorName = hfNameMapper(HF_GLOBAL, HF_LAYER);

// ---------------------------------------------------------------- hyper-parameters

/** Hyper-parameters from `<arch>.*` GGUF metadata (llama.cpp's LLM_KV names). */
export function llamaHParamsFromGGUF(
  m: GGUFMeta,
  t: { has(name: string): boolean; shape(name: string): readonly number[] | undefined },
  ropeMode: 'normal' | 'neox',
): ModelHParams {
  const nEmbd = m.num('embedding_length');
  const nHead = m.num('attention.head_count');
  const headDim = m.num('attention.key_length', nHead > 0 ? Math.floor(nEmbd / nHead) : 0);
  const tokens = m.value('tokenizer.ggml.tokens');
  const vocabSize = Array.isArray(tokens) ? tokens.length : (t.shape('token_embd.weight')?.[1] ?? m.num('vocab_size'));
  const scalingType = m.str('rope.scaling.type');
  if (
    scalingType !== undefined &&
    scalingType !== 'none' &&
    !(scalingType === 'linear' && m.num('rope.scaling.factor', 1) === 1)
  ) {
    throw new UnsupportedError(`rope scaling "${scalingType}" is not supported`);
  }
  return {
    nLayer: m.num('block_count'),
    nEmbd,
    nHead,
    nKvHead: m.num('attention.head_count_kv', nHead),
    headDim,
    nFf: m.num('feed_forward_length'),
    vocabSize,
    contextLength: m.num('context_length', 2048),
    rmsEps: m.num('attention.layer_norm_rms_epsilon', 1e-5),
    ropeTheta: m.num('rope.freq_base', 10000),
    ropeMode,
    nRot: m.num('rope.dimension_count', headDim),
    tiedEmbeddings: !t.has('output.weight'),
  };
}

function ropeScalingOfConfig(c: HFConfig): RopeScalingLlama3 | undefined {
  // transformers v5 folds rope_theta and the scaling into rope_parameters.
  const raw = c.value('rope_scaling') ?? c.value('rope_parameters');
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new BadModelError('config.json: "rope_scaling" is not an object');
  const r = raw as Json;
  const type = r['rope_type'] ?? r['type'] ?? 'default';
  if (type === 'default') return undefined;
  if (type === 'linear' && r['factor'] === 1) return undefined;
  if (type !== 'llama3') throw new UnsupportedError(`rope scaling ${JSON.stringify(type)} is not supported`);
  const f = (k: string): number => {
    const v = r[k];
    if (typeof v !== 'number') throw new BadModelError(`config.json: rope scaling "${k}" is not a number`);
    return v;
  };
  return {
    type: 'llama3',
    factor: f('factor'),
    lowFreqFactor: f('low_freq_factor'),
    highFreqFactor: f('high_freq_factor'),
    originalContextLength: f('original_max_position_embeddings'),
  };
}

/**
 * Hyper-parameters from config.json (transformers' names, v5's rope_parameters
 * too). HF weights are kept unpermuted, so rope is 'neox' (rotate-half) for
 * every variant; tying follows tie_word_embeddings, else whether lm_head exists.
 */
export function llamaHParamsFromHF(c: HFConfig, hasTensor: (name: string) => boolean): ModelHParams {
  const nEmbd = c.num('hidden_size');
  const nHead = c.num('num_attention_heads');
  const headDim = c.num('head_dim', nHead > 0 ? Math.floor(nEmbd / nHead) : 0);
  const params = c.value('rope_parameters');
  const theta =
    c.value('rope_theta') ??
    (typeof params === 'object' && params !== null ? (params as Json)['rope_theta'] : undefined) ??
    10000;
  if (typeof theta !== 'number') throw new BadModelError('config.json: "rope_theta" is not a number');
  const tie = c.bool('tie_word_embeddings');
  const partial = c.num('partial_rotary_factor', 1);
  const hp: ModelHParams = {
    nLayer: c.num('num_hidden_layers'),
    nEmbd,
    nHead,
    nKvHead: c.num('num_key_value_heads', nHead),
    headDim,
    nFf: c.num('intermediate_size'),
    vocabSize: c.num('vocab_size'),
    contextLength: c.num('max_position_embeddings', 2048),
    rmsEps: c.num('rms_norm_eps', 1e-6),
    ropeTheta: theta,
    ropeMode: 'neox',
    nRot: Math.floor(headDim * partial),
    tiedEmbeddings: tie ?? !hasTensor('output.weight'),
  };
  const scaling = ropeScalingOfConfig(c);
  if (scaling) hp.ropeScaling = scaling;
  return hp;
}

const u32 = (v: number): GGUFWriteValue => typed(GGUFValueType.UINT32, v);
const f32 = (v: number): GGUFWriteValue => typed(GGUFValueType.FLOAT32, v);

/** `<arch>.*` metadata as llama.cpp's converter writes it (keys, order, types). */
export function llamaMetadata(arch: string, hp: ModelHParams): Record<string, GGUFWriteValue> {
  const m: Record<string, GGUFWriteValue> = {
    [`${arch}.context_length`]: u32(hp.contextLength),
    [`${arch}.embedding_length`]: u32(hp.nEmbd),
    [`${arch}.block_count`]: u32(hp.nLayer),
    [`${arch}.feed_forward_length`]: u32(hp.nFf),
    [`${arch}.attention.head_count`]: u32(hp.nHead),
    [`${arch}.attention.head_count_kv`]: u32(hp.nKvHead),
    [`${arch}.rope.dimension_count`]: u32(hp.nRot),
  };
  if (hp.headDim * hp.nHead !== hp.nEmbd) {
    m[`${arch}.attention.key_length`] = u32(hp.headDim);
    m[`${arch}.attention.value_length`] = u32(hp.headDim);
  }
  m[`${arch}.attention.layer_norm_rms_epsilon`] = f32(hp.rmsEps);
  m[`${arch}.rope.freq_base`] = f32(hp.ropeTheta);
  m[`${arch}.vocab_size`] = u32(hp.vocabSize);
  return m;
}

// ---------------------------------------------------------------- tensors

/** Every tensor of a llama variant, in llama.cpp's converter order. */
export function llamaWeights(
  hp: ModelHParams,
  t: TensorSource,
  v: Pick<LlamaVariant<string>, 'qkvBias' | 'qkNorm'>,
): LlamaWeights {
  const qDim = hp.nHead * hp.headDim;
  const kvDim = hp.nKvHead * hp.headDim;
  const ropeFactors = llama3FreqFactors(hp);
  const ropeFreqs =
    ropeFactors !== undefined
      ? t.derived('rope_freqs.weight', hp.nRot / 2, () => ropeFactors)
      : t.optionalVector('rope_freqs.weight', hp.nRot / 2);
  const tokenEmbd = t.matrix('token_embd.weight', [hp.nEmbd, hp.vocabSize]);
  const outputNorm = t.vector('output_norm.weight', hp.nEmbd);
  const output = hp.tiedEmbeddings ? tokenEmbd : t.matrix('output.weight', [hp.nEmbd, hp.vocabSize]);
  const bias = (name: string, n: number): TensorSpec | undefined =>
    v.qkvBias === 'required' ? t.vector(name, n) : t.optionalVector(name, n);
  const layers: LlamaLayer[] = [];
  for (let i = 0; i < hp.nLayer; i++) {
    const b = `blk.${i}.`;
    const attnNorm = t.vector(`${b}attn_norm.weight`, hp.nEmbd);
    const ffnNorm = t.vector(`${b}ffn_norm.weight`, hp.nEmbd);
    const wq = t.matrix(`${b}attn_q.weight`, [hp.nEmbd, qDim]);
    const bq = bias(`${b}attn_q.bias`, qDim);
    const wk = t.matrix(`${b}attn_k.weight`, [hp.nEmbd, kvDim]);
    const bk = bias(`${b}attn_k.bias`, kvDim);
    const wv = t.matrix(`${b}attn_v.weight`, [hp.nEmbd, kvDim]);
    const bv = bias(`${b}attn_v.bias`, kvDim);
    const wo = t.matrix(`${b}attn_output.weight`, [qDim, hp.nEmbd]);
    const bo = t.optionalVector(`${b}attn_output.bias`, hp.nEmbd);
    const qNorm = v.qkNorm ? t.vector(`${b}attn_q_norm.weight`, hp.headDim) : undefined;
    const kNorm = v.qkNorm ? t.vector(`${b}attn_k_norm.weight`, hp.headDim) : undefined;
    const l: LlamaLayer = {
      attnNorm,
      ffnNorm,
      wq,
      wk,
      wv,
      wo,
      wGate: t.matrix(`${b}ffn_gate.weight`, [hp.nEmbd, hp.nFf]),
      wUp: t.matrix(`${b}ffn_up.weight`, [hp.nEmbd, hp.nFf]),
      wDown: t.matrix(`${b}ffn_down.weight`, [hp.nFf, hp.nEmbd]),
      ...(bq && { bq }),
      ...(bk && { bk }),
      ...(bv && { bv }),
      ...(bo && { bo }),
      ...(qNorm && { qNorm }),
      ...(kNorm && { kNorm }),
    };
    layers.push(l);
  }
  const w: LlamaWeights = { tokenEmbd, outputNorm, output, layers };
  if (ropeFreqs) w.ropeFreqs = ropeFreqs;
  return w;
}

// ---------------------------------------------------------------- graph

/** The attention of every layer: one rope for all, scores scaled by 1/sqrt(head_dim). */
export function llamaAttention(hp: ModelHParams, ropeFreqs: TensorSpec | undefined): AttentionParams {
  return {
    nHead: hp.nHead,
    nKvHead: hp.nKvHead,
    headDim: hp.headDim,
    nRot: hp.nRot,
    ropeMode: hp.ropeMode,
    ropeTheta: hp.ropeTheta,
    ...(ropeFreqs && { ropeFreqs }),
    eps: hp.rmsEps,
    scale: 1 / Math.sqrt(hp.headDim),
  };
}

export function llamaEmbed(g: GraphOps, w: LlamaWeights, _hp: ModelHParams, ids: Tensor, x: Tensor): void {
  g.op('get_rows', [g.weight(w.tokenEmbd), ids], x); // x = embd[ids]
}

/** Pre-norm attention and SwiGLU FFN, each added to the residual stream. */
export function llamaLayer(g: LayerOps, w: LlamaWeights, hp: ModelHParams): void {
  const l = w.layers[g.layer]!;
  const h = g.activation('h', hp.nEmbd); // [n, n_embd] normed input of a sub-block
  const proj = g.activation('proj', hp.nEmbd); // [n, n_embd] attn / ffn output projection
  rmsNorm(g, g.x, l.attnNorm, hp.rmsEps, h);
  selfAttention(g, h, l, llamaAttention(hp, w.ropeFreqs), proj);
  g.op('add', [g.x, proj], g.x); // residual
  rmsNorm(g, g.x, l.ffnNorm, hp.rmsEps, h);
  gatedFfn(g, h, l, 'swiglu', proj);
  g.op('add', [g.x, proj], g.x);
}

export function llamaOutputNorm(g: GraphOps, w: LlamaWeights, hp: ModelHParams, x: Tensor, out: Tensor): void {
  rmsNorm(g, x, w.outputNorm, hp.rmsEps, out);
}

export function llamaHead(g: GraphOps, w: LlamaWeights, hp: ModelHParams, x: Tensor, logits: Tensor): void {
  const h = g.activation('h', hp.nEmbd); // [rows, n_embd]
  rmsNorm(g, x, w.outputNorm, hp.rmsEps, h);
  g.op('matmul', [h, g.weight(w.output)], logits); // [rows, vocab]
}

/** A family that is llama up to the differences `v` declares. */
export function llamaVariant<const N extends string>(
  v: LlamaVariant<N>,
): ModelFamily<ModelHParams, LlamaWeights> & { readonly name: N } {
  return {
    name: v.name,
    hfArchitectures: v.hfArchitectures,
    ...(v.hfAddsBos !== undefined && { hfAddsBos: v.hfAddsBos }),
    hparamsFromGGUF: (meta, tensors) => llamaHParamsFromGGUF(meta, tensors, v.ggufRopeMode),
    hparamsFromHF: llamaHParamsFromHF,
    hfTensorName: llamaTensorName,
    weights: (hp, t) => llamaWeights(hp, t, v),
    ggufMetadata: (hp) => llamaMetadata(v.name, hp),
    // llama.cpp's GGUF llama expects Q/K rows in adjacent pairs; HF stores them rotate-half.
    ...(v.ggufRopeMode === 'normal' && {
      hfPermuteHeads: (name: string, hp: ModelHParams): number =>
        /\.attn_q\.(weight|bias)$/.test(name) ? hp.nHead : /\.attn_k\.(weight|bias)$/.test(name) ? hp.nKvHead : 0,
    }),
    embed: llamaEmbed,
    layer: llamaLayer,
    head: llamaHead,
    outputNorm: llamaOutputNorm,
  };
}

export const llama = llamaVariant({
  name: 'llama',
  hfArchitectures: ['LlamaForCausalLM'],
  ggufRopeMode: 'normal',
  qkvBias: 'optional',
  qkNorm: false,
  // transformers' Llama tokenizers add BOS unless told otherwise (as llama.cpp's converter records).
  hfAddsBos: true,
});
