/**
 * A context's memory and graphs, common to every family: the KV cache (per
 * layer K then V, one row per position), the activation plan (named row-per-
 * token f32 tensors in one buffer, sized for maxTokens; a name is the same
 * memory in every layer) and the layer loop. The family (arch/<name>.ts)
 * builds the embedding, each layer and the head from ops. Two graphs share
 * everything: `last` computes the logits of the step's last row only (decode,
 * prefill), `all` those of every row (perplexity, allLogits). Activation tensors
 * have rowsPerToken 1, so one graph serves every batch size up to maxTokens.
 */
import type { Backend, GraphSpec, NodeSpec, OpName, OpParams, TensorSpec } from '../backend';
import { DType } from '../dtype';
import { InternalError } from '../errors';
import type { NativeBuffer } from '../native';
import type { FamilyWeights, LayerOps, ModelFamily, Tensor } from './arch/family';
import type { ModelHParams } from './hparams';
import { allocateKvCache, cacheView, kvLayout, type KvCache } from './kv-cache';
import type { KvDType } from './kv-type';

const ALIGN = 64;
const align = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;
const F32 = 4;
const FLOAT_WEIGHTS = new Set<number>([DType.F32, DType.F16, DType.BF16]);

/** Placeholder until the buffer is allocated (after both graphs are built, once the plan's size is known). */
const UNBOUND = undefined as unknown as NativeBuffer;

/** f32 activations packed into one buffer: per-token tensors sized for maxTokens, fixed ones, and views of both. */
class ActivationPlan {
  bytes = 0;
  readonly #named = new Map<string, TensorSpec>();
  readonly #specs: TensorSpec[] = [];
  constructor(private readonly maxTokens: number) {}

  /** [n, cols] under `name` (declared once; the same memory wherever the name is used). */
  perToken(name: string, cols: number, type: number = DType.F32, elemBytes = F32): TensorSpec {
    return this.#declare(name, cols, () => {
      const spec: TensorSpec = { buffer: UNBOUND, offset: this.bytes, type, cols, rows: 0, rowsPerToken: 1 };
      this.bytes += align(this.maxTokens * cols * elemBytes);
      return spec;
    });
  }

  /** [rows, cols] f32 under `name`. */
  fixed(name: string, cols: number, rows: number): TensorSpec {
    return this.#declare(name, cols, () => {
      const spec: TensorSpec = { buffer: UNBOUND, offset: this.bytes, type: DType.F32, cols, rows };
      this.bytes += align(rows * cols * F32);
      return spec;
    });
  }

  /** A view of a tensor: bound with it when it is planned here (weights are bound already). */
  view(parent: TensorSpec, view: TensorSpec): TensorSpec {
    if (this.#specs.includes(parent)) this.#specs.push(view);
    else if (parent.buffer === UNBOUND) throw new InternalError('a view of an unplanned, unbound tensor');
    return view;
  }

  bind(buffer: NativeBuffer): void {
    for (const s of this.#specs) s.buffer = buffer;
  }

  #declare(name: string, cols: number, make: () => TensorSpec): TensorSpec {
    const old = this.#named.get(name);
    if (old) {
      if (old.cols !== cols)
        throw new InternalError(`activation "${name}" declared with ${old.cols} and ${cols} columns`);
      return old;
    }
    const spec = make();
    this.#named.set(name, spec);
    this.#specs.push(spec);
    return spec;
  }
}

/**
 * One graph being built: tensors (handles are indices) and nodes. It is the
 * GraphOps / LayerOps the family builds with; the layer loop sets the layer's
 * fields, the last-row head switches activations to one fixed row.
 */
class GraphBuild implements LayerOps {
  readonly tensors: TensorSpec[] = [];
  readonly nodes: NodeSpec[] = [];
  readonly #handles = new Map<TensorSpec, Tensor>();
  readonly #views = new Map<string, Tensor>();
  /** Activations: row-per-token, or one fixed row (the head of the last-row graph). */
  oneRow = false;
  layer = -1;
  x: Tensor = -1;
  kCache: Tensor = -1;
  vCache: Tensor = -1;
  kvRows: Tensor | undefined;
  kvSpans: Tensor | undefined;
  kvRing = 0;
  /** Matmuls compute each row as if alone (batched decoding: rows of different sequences). */
  rowwise = false;
  readonly positions: Tensor;

  constructor(
    private readonly plan: ActivationPlan,
    positions: TensorSpec,
    readonly contextSize: number,
  ) {
    this.positions = this.tensor(positions);
  }

  tensor(spec: TensorSpec): Tensor {
    let t = this.#handles.get(spec);
    if (t === undefined) {
      t = this.tensors.push(spec) - 1;
      this.#handles.set(spec, t);
    }
    return t;
  }

  activation(name: string, cols: number): Tensor {
    return this.tensor(this.oneRow ? this.plan.fixed(`last:${name}`, cols, 1) : this.plan.perToken(name, cols));
  }

  weight(spec: TensorSpec): Tensor;
  weight(spec: TensorSpec | undefined): Tensor | undefined;
  weight(spec: TensorSpec | undefined): Tensor | undefined {
    return spec ? this.tensor(spec) : undefined;
  }

  split(t: Tensor, parts: number): Tensor {
    return this.#view(`${t}/${parts}`, t, (s) => {
      if (!Number.isInteger(parts) || parts <= 0 || s.cols % parts !== 0)
        throw new InternalError(`cannot split ${s.cols} columns into ${parts} parts`);
      return { ...s, cols: s.cols / parts, rows: s.rows * parts, rowsPerToken: (s.rowsPerToken ?? 0) * parts };
    });
  }

  columns(t: Tensor, from: number, cols: number): Tensor {
    return this.#view(`${t}[${from},${cols}]`, t, (s) => {
      if (s.type !== DType.F32 || !(from >= 0 && cols > 0 && from + cols <= s.cols))
        throw new InternalError(`columns [${from}, ${from + cols}) are not inside an f32 tensor of ${s.cols}`);
      return { ...s, offset: s.offset + from * F32, cols, rowStride: s.rowStride ?? s.cols * F32 };
    });
  }

  op(op: OpName, src: ReadonlyArray<Tensor | undefined>, dst: Tensor, params?: OpParams): Tensor {
    const node: NodeSpec = { op, src: src.filter((s): s is Tensor => s !== undefined), dst };
    // Float weights: the row kernels give each row exactly its result alone; quantized weights' tile kernels
    // don't anyway (README), so they keep the faster panel GEMM from 8 rows on.
    if (this.rowwise && op === 'matmul' && FLOAT_WEIGHTS.has(this.tensors[node.src[1]!]?.type ?? -1))
      params = { ...params, rowwise: true };
    if (params) node.params = params;
    this.nodes.push(node);
    return dst;
  }

  #view(key: string, t: Tensor, make: (s: TensorSpec) => TensorSpec): Tensor {
    let v = this.#views.get(key);
    if (v === undefined) {
      const s = this.tensors[t];
      if (!s) throw new InternalError(`no tensor ${t}`);
      v = this.tensor(this.plan.view(s, make(s)));
      this.#views.set(key, v);
    }
    return v;
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
  /** The KV cache the graphs use (the context's own, or the shared one of its slot). */
  kv: KvCache;
  activationBytes: number;
}

export interface BuildOptions {
  family: ModelFamily;
  hp: ModelHParams;
  weights: FamilyWeights;
  contextSize: number;
  /** Largest batch per prefill run. */
  maxTokens: number;
  /** Rows per run of the all-logits graph (bounded so [rows, vocab] stays small). */
  maxTokensAll: number;
  /** KV cache type: F16 (default, like llama.cpp), Q8_0 (head_dim % 32 == 0) or F32. */
  kvType: KvDType;
  /** Windowed layers keep the whole context too (no ring): the reference the ring is tested against. */
  fullKv?: boolean;
  /** A slot of a shared KV cache (parallel sequences) instead of one of its own. */
  kvSlot?: { kv: KvCache; slot: number };
}

/** Allocates a context's KV cache (unless it is a slot of a shared one) and activations, and builds its two graphs. */
export function buildContextGraphs(backend: Backend, o: BuildOptions): ContextGraphs {
  const { hp, family, weights: w } = o;
  const own = o.kvSlot
    ? undefined
    : allocateKvCache(
        backend,
        kvLayout(hp, family, {
          contextSize: o.contextSize,
          maxTokens: o.maxTokens,
          slots: 1,
          type: o.kvType,
          ...(o.fullKv && { fullKv: true }),
        }),
      );
  const kv = o.kvSlot?.kv ?? own!;
  const slot = o.kvSlot?.slot ?? 0;
  if (kv.contextSize !== o.contextSize || (kv.ringRows > 0 && kv.ringRows < kv.window + o.maxTokens))
    throw new InternalError('the KV cache does not fit this context');
  const kvBytes = own?.bytes ?? 0;
  const caches = Array.from(
    { length: hp.nLayer },
    (_, i) => [cacheView(kv, i, 0, slot), cacheView(kv, i, 1, slot)] as const,
  );

  // The common tensors' names start with '#': a family's activation names cannot alias them.
  const plan = new ActivationPlan(o.maxTokens);
  const ids = plan.perToken('#ids', 1, DType.I32); // [n] i32 token ids
  const pos = plan.perToken('#positions', 1, DType.I32); // [n] i32 positions
  const x = plan.perToken('#x', hp.nEmbd); // [n, n_embd] residual stream
  const lastX = plan.fixed('#lastX', hp.nEmbd, 1); // [1, n_embd]
  const logitsLast = plan.fixed('#logitsLast', hp.vocabSize, 1); // [1, vocab]
  // All-logits output lives in its own buffer sized for the smaller maxTokensAll.
  const logitsAll: TensorSpec = {
    buffer: UNBOUND,
    offset: 0,
    type: DType.F32,
    cols: hp.vocabSize,
    rows: 0,
    rowsPerToken: 1,
  };

  const build = (allRows: boolean): { spec: GraphSpec; ids: Tensor; positions: Tensor; logits: Tensor } => {
    const g = new GraphBuild(plan, pos, o.contextSize);
    const tIds = g.tensor(ids);
    const tX = g.tensor(x);
    family.embed(g, w, hp, tIds, tX);
    for (let i = 0; i < hp.nLayer; i++) {
      const [k, v] = caches[i]!;
      g.layer = i;
      g.x = tX;
      g.kCache = g.tensor(k);
      g.vCache = g.tensor(v);
      g.kvRing = kv.layers[i]!.ring;
      family.layer(g, w, hp);
    }
    g.kvRing = 0;
    let tLogits: Tensor;
    if (allRows) {
      tLogits = g.tensor(logitsAll);
      family.head(g, w, hp, tX, tLogits); // [n, vocab]
    } else {
      // Only the last row's logits are needed while generating.
      const tLastX = g.op('last_row', [tX], g.tensor(lastX));
      tLogits = g.tensor(logitsLast);
      g.oneRow = true;
      family.head(g, w, hp, tLastX, tLogits); // [1, vocab]
    }
    return {
      spec: { tensors: g.tensors, nodes: g.nodes, maxTokens: allRows ? o.maxTokensAll : o.maxTokens },
      ids: tIds,
      positions: g.positions,
      logits: tLogits,
    };
  };

  const last = build(false);
  const all = build(true);
  const actBuffer = backend.allocate(plan.bytes);
  plan.bind(actBuffer);
  const allBuffer = backend.allocate(o.maxTokensAll * hp.vocabSize * F32);
  logitsAll.buffer = allBuffer;
  return {
    last: last.spec,
    all: all.spec,
    ids: last.ids,
    positions: last.positions,
    logitsLast: last.logits,
    logitsAll: all.logits,
    buffers: own ? [own.buffer, actBuffer, allBuffer] : [actBuffer, allBuffer],
    kvBytes,
    kv,
    activationBytes: plan.bytes + o.maxTokensAll * hp.vocabSize * F32,
  };
}

export interface BatchGraph {
  /** Logits of every row: [n, vocab]. */
  spec: GraphSpec;
  /** Inputs, one row per sequence: token id, position, cache row to write, cache span to attend ([n, 2]). */
  ids: number;
  positions: number;
  kvRows: number;
  kvSpans: number;
  /** The same for the ring layers (sliding windows), if any: rows in the ring, spans [slot's first row, positions]. */
  ring?: { kvRows: number; kvSpans: number };
  logits: number;
  buffers: NativeBuffer[];
}

/**
 * The decode step of parallel sequences: one row per sequence through every
 * matmul (the weights are read once for all), each row's key and value stored
 * at its own cache row and attending its own slot's rows of the shared cache.
 */
export function buildBatchGraph(
  backend: Backend,
  o: { family: ModelFamily; hp: ModelHParams; weights: FamilyWeights; kv: KvCache; maxRows: number },
): BatchGraph {
  const { hp, family, weights: w } = o;
  const plan = new ActivationPlan(o.maxRows);
  const ids = plan.perToken('#ids', 1, DType.I32); // [n] i32 token ids
  const pos = plan.perToken('#positions', 1, DType.I32); // [n] i32 positions
  const rows = plan.perToken('#kvRows', 1, DType.I32); // [n] i32 cache row of each new key/value
  const spans = plan.perToken('#kvSpans', 2, DType.I32); // [n, 2] i32 first cache row, rows attended
  const ringRows = o.kv.ringRows > 0 ? plan.perToken('#kvRowsRing', 1, DType.I32) : undefined; // [n] i32
  const ringSpans = o.kv.ringRows > 0 ? plan.perToken('#kvSpansRing', 2, DType.I32) : undefined; // [n, 2] i32
  const x = plan.perToken('#x', hp.nEmbd); // [n, n_embd] residual stream
  const logits = plan.perToken('#logits', hp.vocabSize); // [n, vocab]
  const g = new GraphBuild(plan, pos, o.kv.contextSize);
  const tIds = g.tensor(ids);
  const tX = g.tensor(x);
  const full = { rows: g.tensor(rows), spans: g.tensor(spans) };
  const ring = ringRows && ringSpans ? { rows: g.tensor(ringRows), spans: g.tensor(ringSpans) } : undefined;
  g.rowwise = true;
  family.embed(g, w, hp, tIds, tX);
  for (let i = 0; i < hp.nLayer; i++) {
    g.layer = i;
    g.x = tX;
    g.kCache = g.tensor(cacheView(o.kv, i, 0, undefined));
    g.vCache = g.tensor(cacheView(o.kv, i, 1, undefined));
    g.kvRing = o.kv.layers[i]!.ring;
    const inputs = g.kvRing > 0 ? ring! : full;
    g.kvRows = inputs.rows;
    g.kvSpans = inputs.spans;
    family.layer(g, w, hp);
  }
  g.kvRing = 0;
  const tLogits = g.tensor(logits);
  family.head(g, w, hp, tX, tLogits);
  const buffer = backend.allocate(plan.bytes);
  plan.bind(buffer);
  return {
    spec: { tensors: g.tensors, nodes: g.nodes, maxTokens: o.maxRows },
    ids: tIds,
    positions: g.positions,
    kvRows: full.rows,
    kvSpans: full.spans,
    ...(ring && { ring: { kvRows: ring.rows, kvSpans: ring.spans } }),
    logits: tLogits,
    buffers: [buffer],
  };
}

export interface EmbeddingGraph {
  graph: GraphSpec;
  ids: number;
  positions: number;
  /** Output: [1, n_embd] pooled (or [n, n_embd] with pooling 'none'). */
  output: number;
  buffers: NativeBuffer[];
}

export interface EmbeddingBuildOptions {
  family: ModelFamily;
  hp: ModelHParams;
  weights: FamilyWeights;
  /** Longest input (tokens): the KV cache and the batch. */
  maxTokens: number;
  /** 1 mean, 2 first token (cls), 3 last token, 0 none (every token's vector). */
  pooling: 0 | 1 | 2 | 3;
  /** Scale each output vector to unit L2 norm. */
  normalize: boolean;
}

/**
 * The embedding graph of one input of up to maxTokens tokens: the layers over
 * their own KV cache (f32), the final norm (llama.cpp's t_embd), pooling, and
 * L2 normalization as rms_norm (x / sqrt(mean x^2)) then a scale by 1/sqrt(n_embd).
 */
export function buildEmbeddingGraph(backend: Backend, o: EmbeddingBuildOptions): EmbeddingGraph {
  const { hp, family, weights: w } = o;
  const kvDim = hp.nKvHead * hp.headDim;
  const kvLayerBytes = align(o.maxTokens * kvDim * F32);
  const kvBuffer = backend.allocate(kvLayerBytes * 2 * hp.nLayer);
  const plan = new ActivationPlan(o.maxTokens);
  const ids = plan.perToken('#ids', 1, DType.I32); // [n] i32
  const pos = plan.perToken('#positions', 1, DType.I32); // [n] i32
  const x = plan.perToken('#x', hp.nEmbd); // [n, n_embd] residual stream
  const normed = plan.perToken('#normed', hp.nEmbd); // [n, n_embd] final norm
  const g = new GraphBuild(plan, pos, o.maxTokens);
  const tIds = g.tensor(ids);
  const tX = g.tensor(x);
  family.embed(g, w, hp, tIds, tX);
  for (let i = 0; i < hp.nLayer; i++) {
    g.layer = i;
    g.x = tX;
    const cache = (which: 0 | 1): TensorSpec => ({
      buffer: kvBuffer,
      offset: (2 * i + which) * kvLayerBytes,
      type: DType.F32,
      cols: kvDim,
      rows: o.maxTokens,
    });
    g.kCache = g.tensor(cache(0));
    g.vCache = g.tensor(cache(1));
    family.layer(g, w, hp);
  }
  let out = g.tensor(normed);
  family.outputNorm(g, w, hp, tX, out);
  if (o.pooling !== 0) out = g.op('pool', [out], g.tensor(plan.fixed('#pooled', hp.nEmbd, 1)), { pooling: o.pooling });
  if (o.normalize) {
    // Unit length: rms_norm gives x * sqrt(n) / |x|; a zero vector stays 0 (eps).
    g.op('rms_norm', [out], out, { eps: 1e-24 });
    g.op('scale', [out], out, { scale: 1 / Math.sqrt(hp.nEmbd) });
  }
  const actBuffer = backend.allocate(plan.bytes);
  plan.bind(actBuffer);
  return {
    graph: { tensors: g.tensors, nodes: g.nodes, maxTokens: o.maxTokens },
    ids: tIds,
    positions: g.positions,
    output: out,
    buffers: [kvBuffer, actBuffer],
  };
}
