/**
 * Phi-3 (Phi3ForCausalLM, GGUF "phi3": Phi-3-mini, Phi-3.5-mini, Phi-4-mini):
 * llama with a fused q/k/v projection (`attn_qkv`, rows q then k then v), a
 * fused gate+up projection (`ffn_up`, gate rows first), partial rotary
 * (`rope.dimension_count` below the head dim), neox rope, and for the 128k
 * variants LongRoPE: per-pair frequency divisors `rope_factors_long` /
 * `rope_factors_short`, picked by the context size as llama.cpp does (long
 * when the context exceeds `rope.scaling.original_context_length`), and cos /
 * sin scaled by `rope.scaling.attn_factor`.
 */
import type { TensorSpec } from '../../backend';
import { BadModelError, UnsupportedError } from '../../errors';
import { GGUFValueType } from '../../gguf/types';
import { typed, type GGUFWriteValue } from '../../gguf/writer';
import { HFConfig, type Json } from '../../hf/config';
import type { GGUFMeta, ModelHParams } from '../hparams';
import { attend, rmsNorm, type AttentionParams } from './blocks';
import type { FamilyWeights, GraphOps, LayerOps, ModelFamily, Tensor, TensorSource } from './family';
import { hfNameMapper } from './hf-names';
import { llamaHParamsFromGGUF, llamaHParamsFromHF, llamaMetadata, llamaTensorName } from './llama';

export interface Phi3HParams extends ModelHParams {
  /** LongRoPE: contexts above this use the long factors (0: no LongRoPE). */
  ropeOrigContext: number;
  /** LongRoPE: cos and sin scaled by it (1: none). */
  ropeAttnFactor: number;
  /** LongRoPE factors from config.json (HF folders), [n_rot / 2] each; GGUF files hold them as tensors. */
  ropeLongFactors?: number[];
  ropeShortFactors?: number[];
}

export interface Phi3Layer {
  attnNorm: TensorSpec; // [1, n_embd] f32
  wqkv: TensorSpec; // [n_head*head_dim + 2*n_kv_head*head_dim, n_embd]: q rows, then k, then v
  wo: TensorSpec; // [n_embd, n_head*head_dim]
  ffnNorm: TensorSpec; // [1, n_embd] f32
  wUp: TensorSpec; // [2*n_ff, n_embd]: gate rows, then up
  wDown: TensorSpec; // [n_embd, n_ff]
}

export interface Phi3Weights extends FamilyWeights<Phi3Layer> {
  tokenEmbd: TensorSpec; // [vocab, n_embd]
  outputNorm: TensorSpec; // [1, n_embd] f32
  output: TensorSpec; // [vocab, n_embd] (token_embd when tied)
  ropeLong?: TensorSpec; // [1, n_rot/2] f32
  ropeShort?: TensorSpec; // [1, n_rot/2] f32
}

// ---------------------------------------------------------------- names

const HF_FUSED: Record<string, string> = {
  'self_attn.qkv_proj.weight': 'attn_qkv.weight',
  'mlp.gate_up_proj.weight': 'ffn_up.weight',
};
const fusedTensorName = hfNameMapper({}, HF_FUSED);

function phi3TensorName(hfName: string): string | undefined {
  return fusedTensorName(hfName) ?? llamaTensorName(hfName);
}

// ---------------------------------------------------------------- hyper-parameters

function hparamsFromGGUF(
  m: GGUFMeta,
  t: { has(name: string): boolean; shape(name: string): readonly number[] | undefined },
): Phi3HParams {
  const hp = llamaHParamsFromGGUF(m, t, 'neox');
  const hasFactors = t.has('rope_factors_long.weight') || t.has('rope_factors_short.weight');
  return {
    ...hp,
    ropeOrigContext: hasFactors ? m.num('rope.scaling.original_context_length', hp.contextLength) : 0,
    ropeAttnFactor: m.num('rope.scaling.attn_factor', 1),
  };
}

function factorsOf(r: Json, key: string, n: number): number[] {
  const v = r[key];
  if (!Array.isArray(v) || v.length !== n || v.some((x) => typeof x !== 'number' || !(x > 0)))
    throw new BadModelError(`config.json: rope scaling "${key}" must be ${n} positive numbers`);
  return v as number[];
}

function hparamsFromHF(c: HFConfig, hasTensor: (name: string) => boolean): Phi3HParams {
  const raw = c.value('rope_scaling');
  const hp = llamaHParamsFromHF(new HFConfig({ ...c.json, rope_scaling: null }), hasTensor);
  const out: Phi3HParams = { ...hp, ropeOrigContext: 0, ropeAttnFactor: 1 };
  if (raw === undefined || raw === null) return out;
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new BadModelError('config.json: "rope_scaling" is not an object');
  const r = raw as Json;
  const type = r['rope_type'] ?? r['type'];
  if (type !== 'longrope' && type !== 'su')
    throw new UnsupportedError(`rope scaling ${JSON.stringify(type)} is not supported`);
  const orig = c.num('original_max_position_embeddings');
  const scale = hp.contextLength / orig;
  // transformers' LongRoPE: sqrt(1 + ln(scale) / ln(original context)), as llama.cpp's converter writes it.
  const given = r['attention_factor'];
  const attn = typeof given === 'number' ? given : scale > 1 ? Math.sqrt(1 + Math.log(scale) / Math.log(orig)) : 1;
  return {
    ...out,
    ropeOrigContext: orig,
    ropeAttnFactor: attn,
    ropeLongFactors: factorsOf(r, 'long_factor', hp.nRot / 2),
    ropeShortFactors: factorsOf(r, 'short_factor', hp.nRot / 2),
  };
}

function validate(hp: Phi3HParams): void {
  if (!(hp.ropeAttnFactor > 0 && Number.isFinite(hp.ropeAttnFactor)))
    throw new BadModelError(`rope attention factor ${hp.ropeAttnFactor} is out of range`);
  if (!(Number.isSafeInteger(hp.ropeOrigContext) && hp.ropeOrigContext >= 0))
    throw new BadModelError(`rope original context ${hp.ropeOrigContext} is out of range`);
}

const u32 = (x: number): GGUFWriteValue => typed(GGUFValueType.UINT32, x);
const f32 = (x: number): GGUFWriteValue => typed(GGUFValueType.FLOAT32, x);

function metadata(hp: Phi3HParams): Record<string, GGUFWriteValue> {
  const m = llamaMetadata('phi3', hp);
  if (hp.ropeAttnFactor !== 1) m['phi3.rope.scaling.attn_factor'] = f32(hp.ropeAttnFactor);
  if (hp.ropeOrigContext > 0) m['phi3.rope.scaling.original_context_length'] = u32(hp.ropeOrigContext);
  return m;
}

// ---------------------------------------------------------------- tensors

function weights(hp: Phi3HParams, t: TensorSource): Phi3Weights {
  const qDim = hp.nHead * hp.headDim;
  const kvDim = hp.nKvHead * hp.headDim;
  const tokenEmbd = t.matrix('token_embd.weight', [hp.nEmbd, hp.vocabSize]);
  const outputNorm = t.vector('output_norm.weight', hp.nEmbd);
  const output = hp.tiedEmbeddings ? tokenEmbd : t.matrix('output.weight', [hp.nEmbd, hp.vocabSize]);
  const factors = (name: string, values: number[] | undefined): TensorSpec | undefined =>
    values ? t.derived(name, hp.nRot / 2, () => Float32Array.from(values)) : t.optionalVector(name, hp.nRot / 2);
  const ropeLong = factors('rope_factors_long.weight', hp.ropeLongFactors);
  const ropeShort = factors('rope_factors_short.weight', hp.ropeShortFactors);
  const layers: Phi3Layer[] = [];
  for (let i = 0; i < hp.nLayer; i++) {
    const b = `blk.${i}.`;
    if (!t.has(`${b}attn_qkv.weight`) && t.has(`${b}attn_q.weight`))
      throw new UnsupportedError(`phi3 with separate q/k/v projections (${b}attn_q.weight) is not supported`);
    layers.push({
      attnNorm: t.vector(`${b}attn_norm.weight`, hp.nEmbd),
      wqkv: t.matrix(`${b}attn_qkv.weight`, [hp.nEmbd, qDim + 2 * kvDim]),
      wo: t.matrix(`${b}attn_output.weight`, [qDim, hp.nEmbd]),
      ffnNorm: t.vector(`${b}ffn_norm.weight`, hp.nEmbd),
      wUp: t.matrix(`${b}ffn_up.weight`, [hp.nEmbd, 2 * hp.nFf]),
      wDown: t.matrix(`${b}ffn_down.weight`, [hp.nFf, hp.nEmbd]),
    });
  }
  return {
    tokenEmbd,
    outputNorm,
    output,
    layers,
    ...(ropeLong && { ropeLong }),
    ...(ropeShort && { ropeShort }),
  };
}

// ---------------------------------------------------------------- graph

function attention(hp: Phi3HParams, w: Phi3Weights, contextSize: number): AttentionParams {
  // llama.cpp: the long factors when the context passes the original one, else the short ones.
  const freqs = hp.ropeOrigContext > 0 && contextSize > hp.ropeOrigContext ? w.ropeLong : w.ropeShort;
  return {
    nHead: hp.nHead,
    nKvHead: hp.nKvHead,
    headDim: hp.headDim,
    nRot: hp.nRot,
    ropeMode: 'neox',
    ropeTheta: hp.ropeTheta,
    ...(freqs && { ropeFreqs: freqs }),
    ropeAttnFactor: hp.ropeAttnFactor,
    eps: hp.rmsEps,
    scale: 1 / Math.sqrt(hp.headDim),
  };
}

function embed(g: GraphOps, w: Phi3Weights, _hp: Phi3HParams, ids: Tensor, x: Tensor): void {
  g.op('get_rows', [g.weight(w.tokenEmbd), ids], x);
}

function layer(g: LayerOps, w: Phi3Weights, hp: Phi3HParams): void {
  const l = w.layers[g.layer]!;
  const qDim = hp.nHead * hp.headDim;
  const kvDim = hp.nKvHead * hp.headDim;
  const h = g.activation('h', hp.nEmbd); // [n, n_embd] normed input of a sub-block
  const proj = g.activation('proj', hp.nEmbd); // [n, n_embd] attn / ffn output projection
  rmsNorm(g, g.x, l.attnNorm, hp.rmsEps, h);
  const qkv = g.activation('qkv', qDim + 2 * kvDim); // [n, q | k | v]
  g.op('matmul', [h, g.weight(l.wqkv)], qkv);
  const q = g.columns(qkv, 0, qDim);
  const k = g.columns(qkv, qDim, kvDim);
  const v = g.columns(qkv, qDim + kvDim, kvDim);
  attend(g, q, k, v, l, attention(hp, w, g.contextSize), proj);
  g.op('add', [g.x, proj], g.x);
  rmsNorm(g, g.x, l.ffnNorm, hp.rmsEps, h);
  const gateUp = g.activation('gate_up', 2 * hp.nFf); // [n, gate | up]
  g.op('matmul', [h, g.weight(l.wUp)], gateUp);
  const act = g.activation('act', hp.nFf); // [n, n_ff] silu(gate) * up
  g.op('swiglu', [g.columns(gateUp, 0, hp.nFf), g.columns(gateUp, hp.nFf, hp.nFf)], act);
  g.op('matmul', [act, g.weight(l.wDown)], proj);
  g.op('add', [g.x, proj], g.x);
}

function head(g: GraphOps, w: Phi3Weights, hp: Phi3HParams, x: Tensor, logits: Tensor): void {
  const h = g.activation('h', hp.nEmbd); // [rows, n_embd]
  rmsNorm(g, x, w.outputNorm, hp.rmsEps, h);
  g.op('matmul', [h, g.weight(w.output)], logits); // [rows, vocab]
}

function outputNorm(g: GraphOps, w: Phi3Weights, hp: Phi3HParams, x: Tensor, out: Tensor): void {
  rmsNorm(g, x, w.outputNorm, hp.rmsEps, out);
}

export const phi3: ModelFamily<Phi3HParams, Phi3Weights> & { readonly name: 'phi3' } = {
  name: 'phi3',
  hfArchitectures: ['Phi3ForCausalLM'],
  hparamsFromGGUF,
  hparamsFromHF,
  validate,
  hfTensorName: phi3TensorName,
  weights,
  ggufMetadata: metadata,
  embed,
  layer,
  head,
  outputNorm,
};
