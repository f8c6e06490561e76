/**
 * The llama-family forward pass as one graph of ops, built once per context:
 * embed → n_layer × (rms_norm, q/k/v matmuls [+ bias] [+ q/k rms_norm per
 * head], rope, KV store, attention, output matmul, residual, rms_norm,
 * SwiGLU FFN, residual) → final norm → logits. Activation tensors have one row
 * per token (rowsPerToken 1) so a single graph serves every batch size up to
 * maxTokens; the KV cache has one row per position.
 */
import type { Backend, GraphSpec, NodeSpec, OpName, OpParams, TensorSpec } from '../backend';
import { DType, type NativeBuffer } from '../native';
import type { Architecture, ModelHParams } from './description';
import type { ModelWeights } from './weights';

const ALIGN = 64;
const align = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

/** Collects tensors and nodes; tensor handles are indices into `tensors`. */
class GraphSpecBuilder {
  readonly tensors: TensorSpec[] = [];
  readonly nodes: NodeSpec[] = [];
  tensor(t: TensorSpec): number {
    this.tensors.push(t);
    return this.tensors.length - 1;
  }
  op(op: OpName, src: Array<number | undefined>, dst: number, params?: OpParams): number {
    const node: NodeSpec = { op, src: src.filter((s): s is number => s !== undefined), dst };
    if (params) node.params = params;
    this.nodes.push(node);
    return dst;
  }
}

/** Row-per-token f32 activations packed into one buffer, sized for maxTokens. */
class ActivationLayout {
  bytes = 0;
  readonly specs: TensorSpec[] = [];
  constructor(private readonly maxTokens: number) {}
  add(cols: number, type: number = DType.F32, elemBytes = 4): TensorSpec {
    const spec: TensorSpec = {
      buffer: undefined as unknown as NativeBuffer,
      offset: this.bytes,
      type,
      cols,
      rows: 0,
      rowsPerToken: 1,
    };
    this.bytes += align(this.maxTokens * cols * elemBytes);
    this.specs.push(spec);
    return spec;
  }
  fixed(cols: number, rows: number): TensorSpec {
    const spec: TensorSpec = {
      buffer: undefined as unknown as NativeBuffer,
      offset: this.bytes,
      type: DType.F32,
      cols,
      rows,
    };
    this.bytes += align(rows * cols * 4);
    this.specs.push(spec);
    return spec;
  }
  bind(buffer: NativeBuffer): void {
    for (const s of this.specs) s.buffer = buffer;
  }
}

export interface ContextGraphs {
  /** Logits of the last row only: [1, vocab]. */
  last: GraphSpec;
  /** Logits of every row: [n, vocab]; its maxTokens may be smaller (memory). */
  all: GraphSpec;
  /** Input tensor indices (same in both graphs). */
  ids: number;
  positions: number;
  /** Output tensor index of `last` / `all`. */
  logitsLast: number;
  logitsAll: number;
  /** Buffers the graphs use; kept alive with the context. */
  buffers: NativeBuffer[];
  kvBytes: number;
  activationBytes: number;
}

export interface BuildOptions {
  arch: Architecture;
  hp: ModelHParams;
  weights: ModelWeights;
  contextSize: number;
  /** Largest batch per prefill run. */
  maxTokens: number;
  /** Rows per run of the all-logits graph (bounded so [rows, vocab] stays small). */
  maxTokensAll: number;
  /** KV cache type: F16 (default, like llama.cpp) or F32. */
  kvType: typeof DType.F16 | typeof DType.F32;
}

/** Allocates a context's KV cache and activations and builds its two graphs. */
export function buildContextGraphs(backend: Backend, o: BuildOptions): ContextGraphs {
  const { hp, weights: w } = o;
  const qDim = hp.nHead * hp.headDim;
  const kvDim = hp.nKvHead * hp.headDim;
  const kvElem = o.kvType === DType.F16 ? 2 : 4;

  // KV cache: per layer K then V, each [context, n_kv_head*head_dim].
  const kvRowBytes = kvDim * kvElem;
  const kvLayerBytes = align(o.contextSize * kvRowBytes);
  const kvBytes = kvLayerBytes * 2 * hp.nLayer;
  const kvBuffer = backend.allocate(kvBytes);
  const cache = (layer: number, which: 0 | 1): TensorSpec => ({
    buffer: kvBuffer,
    offset: (2 * layer + which) * kvLayerBytes,
    type: o.kvType,
    cols: kvDim,
    rows: o.contextSize,
  });

  const act = new ActivationLayout(o.maxTokens);
  const ids = act.add(1, DType.I32); // [n] i32 token ids
  const pos = act.add(1, DType.I32); // [n] i32 positions
  const x = act.add(hp.nEmbd); // [n, n_embd] residual stream
  const h = act.add(hp.nEmbd); // [n, n_embd] normed input of a sub-block
  const q = act.add(qDim); // [n, n_head*head_dim]
  const k = act.add(kvDim); // [n, n_kv_head*head_dim]
  const v = act.add(kvDim); // [n, n_kv_head*head_dim]
  const attn = act.add(qDim); // [n, n_head*head_dim] attention output
  const proj = act.add(hp.nEmbd); // [n, n_embd] attn / ffn output projection
  const gate = act.add(hp.nFf); // [n, n_ff] gate, then silu(gate)*up
  const up = act.add(hp.nFf); // [n, n_ff]
  const lastX = act.fixed(hp.nEmbd, 1); // [1, n_embd]
  const lastH = act.fixed(hp.nEmbd, 1); // [1, n_embd]
  const logitsLast = act.fixed(hp.vocabSize, 1); // [1, vocab]
  // All-logits output lives in its own buffer sized for the smaller maxTokensAll.
  const logitsAllSpec: TensorSpec = {
    buffer: undefined as unknown as NativeBuffer,
    offset: 0,
    type: DType.F32,
    cols: hp.vocabSize,
    rows: 0,
    rowsPerToken: 1,
  };
  const actBuffer = backend.allocate(act.bytes);
  act.bind(actBuffer);
  const allBuffer = backend.allocate(o.maxTokensAll * hp.vocabSize * 4);
  logitsAllSpec.buffer = allBuffer;

  const build = (allRows: boolean): { spec: GraphSpec; idx: Record<string, number> } => {
    const g = new GraphSpecBuilder();
    const T = (s: TensorSpec): number => g.tensor(s);
    const tIds = T(ids),
      tPos = T(pos),
      tX = T(x),
      tH = T(h),
      tQ = T(q),
      tK = T(k),
      tV = T(v);
    const tAttn = T(attn),
      tProj = T(proj),
      tGate = T(gate),
      tUp = T(up);
    // Per-head views of q and k for qwen3's q/k norms: [n*n_head, head_dim].
    const tQHeads = T({ ...q, cols: hp.headDim, rowsPerToken: hp.nHead });
    const tKHeads = T({ ...k, cols: hp.headDim, rowsPerToken: hp.nKvHead });
    const tEmbd = T(w.tokenEmbd);
    const tFreqs = w.ropeFreqs ? T(w.ropeFreqs) : undefined;
    const opt = (s: TensorSpec | undefined): number | undefined => (s ? T(s) : undefined);
    const eps = hp.rmsEps;
    const rope: OpParams = {
      nHead: hp.nHead,
      headDim: hp.headDim,
      nRot: hp.nRot,
      ropeMode: hp.ropeMode === 'neox' ? 2 : 0,
      freqBase: hp.ropeTheta,
      freqScale: 1,
    };

    g.op('get_rows', [tEmbd, tIds], tX); // x = embd[ids]
    w.layers.forEach((l, i) => {
      const tKc = T(cache(i, 0)),
        tVc = T(cache(i, 1));
      g.op('rms_norm', [tX, T(l.attnNorm)], tH, { eps });
      g.op('matmul', [tH, T(l.wq), opt(l.bq)], tQ);
      g.op('matmul', [tH, T(l.wk), opt(l.bk)], tK);
      g.op('matmul', [tH, T(l.wv), opt(l.bv)], tV);
      if (l.qNorm && l.kNorm) {
        g.op('rms_norm', [tQHeads, T(l.qNorm)], tQHeads, { eps });
        g.op('rms_norm', [tKHeads, T(l.kNorm)], tKHeads, { eps });
      }
      g.op('rope', [tQ, tPos, tFreqs], tQ, rope); // in place
      g.op('rope', [tK, tPos, tFreqs], tK, { ...rope, nHead: hp.nKvHead });
      g.op('store_rows', [tK], tKc); // cache rows [n_past, n_past+n)
      g.op('store_rows', [tV], tVc);
      g.op('attention', [tQ, tKc, tVc], tAttn, {
        nHead: hp.nHead,
        nKvHead: hp.nKvHead,
        headDim: hp.headDim,
        scale: 1 / Math.sqrt(hp.headDim),
      });
      g.op('matmul', [tAttn, T(l.wo), opt(l.bo)], tProj);
      g.op('add', [tX, tProj], tX); // residual
      g.op('rms_norm', [tX, T(l.ffnNorm)], tH, { eps });
      g.op('matmul', [tH, T(l.wGate)], tGate);
      g.op('matmul', [tH, T(l.wUp)], tUp);
      g.op('swiglu', [tGate, tUp], tGate);
      g.op('matmul', [tGate, T(l.wDown)], tProj);
      g.op('add', [tX, tProj], tX);
    });
    const tOutNorm = T(w.outputNorm),
      tOut = T(w.output);
    let tLogits: number;
    if (allRows) {
      g.op('rms_norm', [tX, tOutNorm], tH, { eps });
      tLogits = g.op('matmul', [tH, tOut], T(logitsAllSpec)); // [n, vocab]
    } else {
      // Only the last row's logits are needed while generating.
      const tLastX = T(lastX),
        tLastH = T(lastH);
      g.op('last_row', [tX], tLastX);
      g.op('rms_norm', [tLastX, tOutNorm], tLastH, { eps });
      tLogits = g.op('matmul', [tLastH, tOut], T(logitsLast)); // [1, vocab]
    }
    return {
      spec: { tensors: g.tensors, nodes: g.nodes, maxTokens: allRows ? o.maxTokensAll : o.maxTokens },
      idx: { ids: tIds, positions: tPos, logits: tLogits },
    };
  };

  const last = build(false);
  const all = build(true);
  return {
    last: last.spec,
    all: all.spec,
    ids: last.idx['ids']!,
    positions: last.idx['positions']!,
    logitsLast: last.idx['logits']!,
    logitsAll: all.idx['logits']!,
    buffers: [kvBuffer, actBuffer, allBuffer],
    kvBytes,
    activationBytes: act.bytes + o.maxTokensAll * hp.vocabSize * 4,
  };
}
