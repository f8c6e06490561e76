/**
 * Building blocks the families compose a layer from: RMS norm, self-attention
 * (projections, per-head q/k norms, rope, the KV cache, causal attention,
 * output projection) and gated feed-forward networks. Widths come from the
 * weight specs ([rows, cols]), so a block works for any head_dim / n_ff.
 */
import type { OpParams, TensorSpec } from '../../backend';
import { InternalError } from '../../errors';
import type { GraphOps, LayerOps, Tensor } from './family';

/** out = x / rms(x) * weight, row by row (x and out may be the same tensor). */
export function rmsNorm(g: GraphOps, x: Tensor, weight: TensorSpec, eps: number, out: Tensor): Tensor {
  return g.op('rms_norm', [x, g.weight(weight)], out, { eps });
}

export interface AttentionWeights {
  wq: TensorSpec; // [n_head*head_dim, n_embd]
  wk: TensorSpec; // [n_kv_head*head_dim, n_embd]
  wv: TensorSpec; // [n_kv_head*head_dim, n_embd]
  wo: TensorSpec; // [n_embd, n_head*head_dim]
  bq?: TensorSpec; // [1, n_head*head_dim] f32
  bk?: TensorSpec; // [1, n_kv_head*head_dim] f32
  bv?: TensorSpec; // [1, n_kv_head*head_dim] f32
  bo?: TensorSpec; // [1, n_embd] f32
  qNorm?: TensorSpec; // [1, head_dim] f32: per-head RMS norm of q (qwen3, gemma3)
  kNorm?: TensorSpec; // [1, head_dim] f32
}

/** How one layer attends (the per-layer parts, e.g. rope base or window, may differ between layers). */
export interface AttentionParams {
  nHead: number;
  nKvHead: number;
  headDim: number;
  /** Rotated dimensions per head, 'normal' (adjacent pairs) or 'neox' (halves), base frequency. */
  nRot: number;
  ropeMode: 'normal' | 'neox';
  ropeTheta: number;
  /** Per-pair frequency divisors [1, n_rot/2] (llama3 scaling, LongRoPE), if any. */
  ropeFreqs?: TensorSpec;
  /** Position scale (linear rope scaling: 1 / factor; default 1) and cos/sin magnitude (LongRoPE; default 1). */
  ropeFreqScale?: number;
  ropeAttnFactor?: number;
  /** Epsilon of the q/k norms. */
  eps: number;
  /** Score scale (1/sqrt(head_dim) unless the family says otherwise). */
  scale: number;
  /** Sliding window: the query at position p sees keys (p - window, p] (0 or absent: all). */
  window?: number;
  /** Scores soft-capped to c * tanh(s / c) (gemma2; 0 or absent: none). */
  softcap?: number;
}

/** The params of the rope op for `nHead` heads. */
export function ropeParams(p: AttentionParams, nHead: number): OpParams {
  return {
    nHead,
    headDim: p.headDim,
    nRot: p.nRot,
    ropeMode: p.ropeMode === 'neox' ? 2 : 0,
    freqBase: p.ropeTheta,
    freqScale: p.ropeFreqScale ?? 1,
    ...(p.ropeAttnFactor !== undefined && p.ropeAttnFactor !== 1 && { attnFactor: p.ropeAttnFactor }),
  };
}

/**
 * Self-attention of h [n, n_embd] into out [n, n_embd]: q/k/v projections
 * (+ biases), then attend().
 */
export function selfAttention(g: LayerOps, h: Tensor, w: AttentionWeights, p: AttentionParams, out: Tensor): Tensor {
  const q = g.activation('q', p.nHead * p.headDim); // [n, n_head*head_dim]
  const k = g.activation('k', p.nKvHead * p.headDim); // [n, n_kv_head*head_dim]
  const v = g.activation('v', p.nKvHead * p.headDim); // [n, n_kv_head*head_dim]
  g.op('matmul', [h, g.weight(w.wq), g.weight(w.bq)], q);
  g.op('matmul', [h, g.weight(w.wk), g.weight(w.bk)], k);
  g.op('matmul', [h, g.weight(w.wv), g.weight(w.bv)], v);
  return attend(g, q, k, v, w, p, out);
}

/**
 * Attention over projected q [n, n_head*head_dim], k, v [n, n_kv_head*head_dim]
 * (whole activations or column views of a fused projection): per-head q/k RMS
 * norms when the weights have them, rope in place, this step's keys and values
 * into the cache, causal GQA attention, output projection (+ bias) into out.
 */
export function attend(
  g: LayerOps,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  w: Pick<AttentionWeights, 'wo' | 'bo' | 'qNorm' | 'kNorm'>,
  p: AttentionParams,
  out: Tensor,
): Tensor {
  if (w.qNorm && w.kNorm) {
    const qHeads = g.split(q, p.nHead); // [n*n_head, head_dim]
    const kHeads = g.split(k, p.nKvHead); // [n*n_kv_head, head_dim]
    rmsNorm(g, qHeads, w.qNorm, p.eps, qHeads);
    rmsNorm(g, kHeads, w.kNorm, p.eps, kHeads);
  }
  const freqs = g.weight(p.ropeFreqs);
  g.op('rope', [q, g.positions, freqs], q, ropeParams(p, p.nHead)); // in place
  g.op('rope', [k, g.positions, freqs], k, ropeParams(p, p.nKvHead));
  // A windowed layer's cache may be a ring (position p at row p % ring) holding the window and a batch.
  const ring = g.kvRing ?? 0;
  if (ring > 0 && !(p.window && p.window <= ring))
    throw new InternalError(`layer ${g.layer}: a ring KV cache of ${ring} rows needs a window of at most that`);
  const store = ring > 0 && g.kvRows === undefined ? { ring } : undefined;
  g.op('store_rows', [k, g.kvRows], g.kCache, store); // cache rows [n_past, n_past+n) (mod ring, or kvRows)
  g.op('store_rows', [v, g.kvRows], g.vCache, store);
  const attn = g.activation('attn', p.nHead * p.headDim); // [n, n_head*head_dim]
  g.op('attention', [q, g.kCache, g.vCache, g.kvSpans], attn, {
    nHead: p.nHead,
    nKvHead: p.nKvHead,
    headDim: p.headDim,
    scale: p.scale,
    ...(p.window && { window: p.window }),
    ...(p.softcap && { softcap: p.softcap }),
    ...(ring > 0 && { ring }),
  });
  return g.op('matmul', [attn, g.weight(w.wo), g.weight(w.bo)], out);
}

export interface GatedFfnWeights {
  wGate: TensorSpec; // [n_ff, n_embd]
  wUp: TensorSpec; // [n_ff, n_embd]
  wDown: TensorSpec; // [n_embd, n_ff]
}

/** out = down(act(gate(h)) * up(h)) for h [n, n_embd]; act 'swiglu' (silu-gated) or 'geglu' (GELU-tanh-gated). */
export function gatedFfn(g: GraphOps, h: Tensor, w: GatedFfnWeights, act: 'swiglu' | 'geglu', out: Tensor): Tensor {
  const gate = g.activation('gate', w.wGate.rows); // [n, n_ff] gate, then act(gate)*up
  const up = g.activation('up', w.wUp.rows); // [n, n_ff]
  g.op('matmul', [h, g.weight(w.wGate)], gate);
  g.op('matmul', [h, g.weight(w.wUp)], up);
  g.op(act, [gate, up], gate);
  return g.op('matmul', [gate, g.weight(w.wDown)], out);
}
