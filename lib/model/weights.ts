/**
 * Model weights as graph tensors. Each model file is mapped once and wrapped
 * whole as one read-only backend buffer; every weight is a view at its file
 * offset (zero copy). Only the small 1-D tensors that the ops need in f32
 * (norm weights, biases, rope frequency factors) are converted, into one
 * small allocated buffer, when a file stores them in another type.
 */
import type { Backend, TensorSpec } from '../backend';
import { BadModelError } from '../errors';
import { DType, native, type NativeBuffer, type NativeMappedFile } from '../native';
import type { ModelDescription, TensorRef } from './description';
import { llama3FreqFactors } from './rope-factors';

export interface LayerWeights {
  attnNorm: TensorSpec; // [1, n_embd] f32
  wq: TensorSpec; // [n_head*head_dim, n_embd]
  wk: TensorSpec; // [n_kv_head*head_dim, n_embd]
  wv: TensorSpec; // [n_kv_head*head_dim, n_embd]
  wo: TensorSpec; // [n_embd, n_head*head_dim]
  bq?: TensorSpec; // [1, n_head*head_dim] f32 (qwen2)
  bk?: TensorSpec; // [1, n_kv_head*head_dim] f32
  bv?: TensorSpec; // [1, n_kv_head*head_dim] f32
  bo?: TensorSpec; // [1, n_embd] f32
  qNorm?: TensorSpec; // [1, head_dim] f32 (qwen3)
  kNorm?: TensorSpec; // [1, head_dim] f32 (qwen3)
  ffnNorm: TensorSpec; // [1, n_embd] f32
  wGate: TensorSpec; // [n_ff, n_embd]
  wUp: TensorSpec; // [n_ff, n_embd]
  wDown: TensorSpec; // [n_embd, n_ff]
}

export interface ModelWeights {
  tokenEmbd: TensorSpec; // [vocab, n_embd]
  outputNorm: TensorSpec; // [1, n_embd] f32
  output: TensorSpec; // [vocab, n_embd] (token_embd when tied)
  ropeFreqs?: TensorSpec; // [1, n_rot/2] f32 (llama3 scaling)
  layers: LayerWeights[];
  /** Keeps the mapped files and buffers alive as long as the weights. */
  files: NativeMappedFile[];
  buffers: NativeBuffer[];
}

function f32Count(t: TensorRef): number {
  return t.shape.reduce((a, b) => a * b, 1);
}

/** Maps the model's files and describes every weight as a tensor view. */
export function loadWeights(backend: Backend, desc: ModelDescription): ModelWeights {
  const files: NativeMappedFile[] = [];
  const fileBuffers = new Map<string, NativeBuffer>();
  for (const f of desc.files) {
    const mf = native().mapFile(f);
    files.push(mf);
    fileBuffers.set(f, backend.wrap(mf, 0, mf.size));
  }
  const mappedOf = (t: TensorRef): NativeMappedFile => files[desc.files.indexOf(t.file)]!;

  const get = (name: string): TensorRef => {
    const t = desc.tensors.get(name);
    if (!t) throw new BadModelError(`tensor "${name}" is missing`);
    return t;
  };
  // A 2-D weight (or table) used in place: ggml shape [cols, rows].
  const matrix = (name: string): TensorSpec => {
    const t = get(name);
    const buffer = fileBuffers.get(t.file);
    if (!buffer) throw new BadModelError(`tensor "${name}" lives in an unknown file`);
    return {
      buffer,
      offset: t.offset,
      type: t.type,
      cols: t.shape[0]!,
      rows: t.shape.slice(1).reduce((a, b) => a * b, 1),
    };
  };

  // 1-D tensors the ops read as f32: in place when already f32, else converted into `small`.
  const pending: Array<{ spec: TensorSpec; data: Float32Array }> = [];
  let smallBytes = 0;
  const vector = (name: string): TensorSpec => {
    const t = get(name);
    if (t.type === DType.F32) return { ...matrix(name), cols: f32Count(t), rows: 1 };
    const n = f32Count(t);
    const data = native().dequantize(t.type, mappedOf(t).view(t.offset, t.bytes), n);
    return placeSmall(data);
  };
  const placeSmall = (data: Float32Array): TensorSpec => {
    // Placeholder buffer; patched once the small buffer exists.
    const spec = {
      buffer: undefined as unknown as NativeBuffer,
      offset: smallBytes,
      type: DType.F32,
      cols: data.length,
      rows: 1,
    };
    pending.push({ spec, data });
    smallBytes += Math.ceil((data.length * 4) / 64) * 64; // keep rows 64-byte aligned
    return spec;
  };
  const optVector = (name: string): TensorSpec | undefined => (desc.tensors.has(name) ? vector(name) : undefined);

  const hp = desc.hparams;
  const layers: LayerWeights[] = [];
  for (let i = 0; i < hp.nLayer; i++) {
    const b = `blk.${i}.`;
    const l: LayerWeights = {
      attnNorm: vector(`${b}attn_norm.weight`),
      wq: matrix(`${b}attn_q.weight`),
      wk: matrix(`${b}attn_k.weight`),
      wv: matrix(`${b}attn_v.weight`),
      wo: matrix(`${b}attn_output.weight`),
      ffnNorm: vector(`${b}ffn_norm.weight`),
      wGate: matrix(`${b}ffn_gate.weight`),
      wUp: matrix(`${b}ffn_up.weight`),
      wDown: matrix(`${b}ffn_down.weight`),
    };
    const opt: Array<[keyof LayerWeights, string]> = [
      ['bq', 'attn_q.bias'],
      ['bk', 'attn_k.bias'],
      ['bv', 'attn_v.bias'],
      ['bo', 'attn_output.bias'],
      ['qNorm', 'attn_q_norm.weight'],
      ['kNorm', 'attn_k_norm.weight'],
    ];
    for (const [key, suffix] of opt) {
      const v = optVector(b + suffix);
      if (v) l[key] = v;
    }
    layers.push(l);
  }
  const tokenEmbd = matrix('token_embd.weight');
  const ropeFreqsData = llama3FreqFactors(hp);
  const ropeFreqs = desc.tensors.has('rope_freqs.weight')
    ? vector('rope_freqs.weight')
    : ropeFreqsData
      ? placeSmall(ropeFreqsData)
      : undefined;
  const w: ModelWeights = {
    tokenEmbd,
    outputNorm: vector('output_norm.weight'),
    output: hp.tiedEmbeddings ? tokenEmbd : matrix('output.weight'),
    layers,
    files,
    buffers: [...fileBuffers.values()],
  };
  if (ropeFreqs) w.ropeFreqs = ropeFreqs;

  if (pending.length > 0) {
    const small = backend.allocate(smallBytes);
    for (const p of pending) {
      p.spec.buffer = small;
      backend.upload(small, p.spec.offset, p.data);
    }
    w.buffers.push(small);
  }
  return w;
}
