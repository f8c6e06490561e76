/**
 * The kernel-level API: every op the backends implement, callable on typed
 * arrays. Each call builds a one-node graph, runs it synchronously and returns
 * the result, so tests and benchmarks exercise exactly the code the model runs.
 * Weights stay in their block type (`Uint8Array` of ggml blocks).
 */
import { Backend, type BackendName, type NodeSpec, type OpParams, type TensorSpec } from './backend';
import { InvalidArgumentError } from './errors';
import { DType, type DTypeName } from './dtype';
import { nativeCall } from './native';

export interface OpOptions {
  /** A backend instance or name (default: a shared CPU backend). */
  backend?: Backend | BackendName;
}

export type WeightType = DTypeName | number;

export interface WeightMatrix {
  /** Rows of blocks in ggml layout (or a Float32Array for f32). */
  data: ArrayBufferView;
  type: WeightType;
  rows: number;
  cols: number;
}

const shared = new Map<BackendName, Backend>();
function resolveBackend(b: OpOptions['backend']): Backend {
  if (b instanceof Backend) return b;
  const name = b ?? 'cpu';
  let be = shared.get(name);
  if (!be || be.disposed) {
    be = Backend.create(name);
    shared.set(name, be);
  }
  return be;
}

/** The CPU kernel level in use and what the CPU reports (see README, "CPU backend"). */
export interface CpuInfo {
  physicalCores: number;
  logicalCores: number;
  /** 'avx512' | 'avx-vnni' | 'avx2' | 'neon' | 'scalar' */
  simd: string;
  /** e.g. ['avx2', 'fma', 'f16c', 'avx-vnni', 'avx512vnni'] */
  features: string[];
}

export function cpuInfo(): CpuInfo {
  const i = nativeCall((n) => n.cpuInfo());
  return { physicalCores: i.physicalCores, logicalCores: i.logicalCores, simd: i.simd, features: [...i.features] };
}

/** Resolves a type name or id to its id and block geometry. */
export function typeInfo(type: WeightType): { id: number; name: string; blockSize: number; typeSize: number } {
  const id = typeof type === 'number' ? type : (DType as Record<string, number>)[type];
  const info = id === undefined ? null : nativeCall((n) => n.typeInfo(id));
  if (id === undefined || !info) throw new InvalidArgumentError(`unknown tensor type ${String(type)}`);
  return { id, name: info.name, blockSize: info.blockSize, typeSize: info.typeSize };
}

/** Bytes of `rows` rows of `cols` elements of `type`. */
export function matrixBytes(type: WeightType, rows: number, cols: number): number {
  const t = typeInfo(type);
  if (cols % t.blockSize !== 0) {
    throw new InvalidArgumentError(`cols ${cols} is not a multiple of the ${t.name} block size ${t.blockSize}`);
  }
  return (rows * cols * t.typeSize) / t.blockSize;
}

function positiveInt(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new InvalidArgumentError(`${name} must be a positive integer, got ${String(v)}`);
  }
  return v;
}
function nonNegativeInt(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new InvalidArgumentError(`${name} must be a non-negative integer, got ${String(v)}`);
  }
  return v;
}
function f32(name: string, v: unknown): Float32Array {
  if (!(v instanceof Float32Array)) throw new InvalidArgumentError(`${name} must be a Float32Array`);
  return v;
}
function rowsOf(name: string, a: ArrayLike<number>, cols: number): number {
  if (a.length === 0 || a.length % cols !== 0) {
    throw new InvalidArgumentError(`${name} length ${a.length} is not a positive multiple of ${cols}`);
  }
  return a.length / cols;
}

interface Operand {
  /** Data uploaded before the run (inputs), or undefined for the output. */
  data?: ArrayBufferView;
  type: number;
  cols: number;
  rows: number;
  /** Scales with the step's nTokens (rows = nTokens). */
  perToken?: boolean;
}

/** Runs one op over freshly allocated buffers and returns the output's bytes. */
function runOne(
  backend: Backend,
  op: NodeSpec['op'],
  srcs: Operand[],
  out: Operand,
  nTokens: number,
  params: OpParams = {},
  nPast = 0,
  dstIsCache?: Operand,
): Uint8Array {
  const tensors: TensorSpec[] = [];
  const inputs: { tensor: number; data: Uint8Array }[] = [];
  const add = (o: Operand): number => {
    const bytes = matrixBytes(o.type, o.rows, o.cols);
    const buffer = backend.allocate(Math.max(bytes, 1));
    tensors.push({
      buffer,
      offset: 0,
      type: o.type,
      cols: o.cols,
      rows: o.perToken ? 0 : o.rows,
      rowsPerToken: o.perToken ? 1 : 0,
    });
    if (o.data) {
      const view = new Uint8Array(o.data.buffer, o.data.byteOffset, o.data.byteLength);
      if (view.byteLength !== bytes) {
        throw new InvalidArgumentError(`${op}: an input has ${view.byteLength} bytes, expected ${bytes}`);
      }
      if (o.perToken) inputs.push({ tensor: tensors.length - 1, data: view });
      else backend.upload(buffer, 0, view);
    }
    return tensors.length - 1;
  };
  const src = srcs.map(add);
  const dst = dstIsCache ? add(dstIsCache) : add(out);
  const graph = backend.createGraph({ tensors, nodes: [{ op, src, dst, params }], maxTokens: nTokens });
  const result = new Uint8Array(matrixBytes(out.type, out.rows, out.cols));
  const d = tensors[dst]!;
  if (dstIsCache) {
    graph.runSync({ nTokens, nPast, inputs });
    backend.download(d.buffer, 0, result);
  } else {
    graph.runSync({ nTokens, nPast, inputs, outputs: [{ tensor: dst, data: result }] });
  }
  return result;
}

const asF32 = (u: Uint8Array): Float32Array => new Float32Array(u.buffer, u.byteOffset, u.byteLength / 4);

/** y[n, rows] = x[n, cols] . W[rows, cols]^T (+ bias). */
export function matmul(
  x: Float32Array,
  w: WeightMatrix,
  options: OpOptions & { bias?: Float32Array } = {},
): Float32Array {
  f32('x', x);
  const cols = positiveInt('w.cols', w.cols);
  const rows = positiveInt('w.rows', w.rows);
  const n = rowsOf('x', x, cols);
  const t = typeInfo(w.type);
  const srcs: Operand[] = [
    { data: x, type: DType.F32, cols, rows: n, perToken: true },
    { data: w.data, type: t.id, cols, rows },
  ];
  if (options.bias) {
    if (f32('bias', options.bias).length !== rows) throw new InvalidArgumentError(`bias must have ${rows} elements`);
    srcs.push({ data: options.bias, type: DType.F32, cols: rows, rows: 1 });
  }
  const be = resolveBackend(options.backend);
  return asF32(runOne(be, 'matmul', srcs, { type: DType.F32, cols: rows, rows: n, perToken: true }, n));
}

/** Rows `ids` of a table (any type), as f32. */
export function getRows(table: WeightMatrix, ids: Int32Array, options: OpOptions = {}): Float32Array {
  if (!(ids instanceof Int32Array) || ids.length === 0)
    throw new InvalidArgumentError('ids must be a non-empty Int32Array');
  const cols = positiveInt('table.cols', table.cols);
  const rows = positiveInt('table.rows', table.rows);
  for (const id of ids) {
    if (id < 0 || id >= rows) throw new InvalidArgumentError(`id ${id} is outside the table's rows [0, ${rows})`);
  }
  const t = typeInfo(table.type);
  const n = ids.length;
  const out = runOne(
    resolveBackend(options.backend),
    'get_rows',
    [
      { data: table.data, type: t.id, cols, rows },
      { data: ids, type: DType.I32, cols: 1, rows: n, perToken: true },
    ],
    { type: DType.F32, cols, rows: n, perToken: true },
    n,
  );
  return asF32(out);
}

/** Each row of x divided by its RMS (+eps), times `weight` if given. */
export function rmsNorm(
  x: Float32Array,
  cols: number,
  options: OpOptions & { eps?: number; weight?: Float32Array } = {},
): Float32Array {
  f32('x', x);
  positiveInt('cols', cols);
  const n = rowsOf('x', x, cols);
  const eps = options.eps ?? 1e-5;
  if (!(eps >= 0) || !Number.isFinite(eps))
    throw new InvalidArgumentError(`eps must be a finite number >= 0, got ${eps}`);
  const srcs: Operand[] = [{ data: x, type: DType.F32, cols, rows: n, perToken: true }];
  if (options.weight) {
    if (f32('weight', options.weight).length !== cols)
      throw new InvalidArgumentError(`weight must have ${cols} elements`);
    srcs.push({ data: options.weight, type: DType.F32, cols, rows: 1 });
  }
  return asF32(
    runOne(resolveBackend(options.backend), 'rms_norm', srcs, { type: DType.F32, cols, rows: n, perToken: true }, n, {
      eps,
    }),
  );
}

export interface RopeOptions extends OpOptions {
  nHead: number;
  headDim: number;
  /** Rotated dims per head (default headDim). */
  nRot?: number;
  mode?: 'normal' | 'neox';
  freqBase?: number;
  freqScale?: number;
  /** Per-pair frequency divisors (llama3 scaling), nRot/2 values. */
  freqFactors?: Float32Array;
}

/** Rotary embedding of x [n, nHead*headDim] at `positions` [n]. */
export function rope(x: Float32Array, positions: Int32Array, o: RopeOptions): Float32Array {
  f32('x', x);
  const nHead = positiveInt('nHead', o.nHead);
  const headDim = positiveInt('headDim', o.headDim);
  const nRot = o.nRot === undefined ? headDim : positiveInt('nRot', o.nRot);
  if (nRot > headDim || nRot % 2 !== 0) throw new InvalidArgumentError(`nRot must be even and <= headDim, got ${nRot}`);
  const cols = nHead * headDim;
  const n = rowsOf('x', x, cols);
  if (!(positions instanceof Int32Array) || positions.length !== n) {
    throw new InvalidArgumentError(`positions must be an Int32Array of ${n} elements`);
  }
  const freqBase = o.freqBase ?? 10000;
  if (!(freqBase > 0)) throw new InvalidArgumentError(`freqBase must be positive, got ${freqBase}`);
  const srcs: Operand[] = [
    { data: x, type: DType.F32, cols, rows: n, perToken: true },
    { data: positions, type: DType.I32, cols: 1, rows: n, perToken: true },
  ];
  if (o.freqFactors) {
    if (f32('freqFactors', o.freqFactors).length !== nRot / 2) {
      throw new InvalidArgumentError(`freqFactors must have nRot/2 = ${nRot / 2} elements`);
    }
    srcs.push({ data: o.freqFactors, type: DType.F32, cols: nRot / 2, rows: 1 });
  }
  const params: OpParams = {
    nHead,
    headDim,
    nRot,
    ropeMode: (o.mode ?? 'normal') === 'neox' ? 2 : 0,
    freqBase,
    freqScale: o.freqScale ?? 1,
  };
  return asF32(
    runOne(resolveBackend(o.backend), 'rope', srcs, { type: DType.F32, cols, rows: n, perToken: true }, n, params),
  );
}

/**
 * Row softmax of x * scale. With `causal`, row r sees columns <= nPast + r.
 */
export function softmax(
  x: Float32Array,
  cols: number,
  options: OpOptions & { scale?: number; causal?: boolean; nPast?: number } = {},
): Float32Array {
  f32('x', x);
  positiveInt('cols', cols);
  const n = rowsOf('x', x, cols);
  const nPast = nonNegativeInt('nPast', options.nPast ?? 0);
  const params: OpParams = { scale: options.scale ?? 1, causal: options.causal ?? false };
  return asF32(
    runOne(
      resolveBackend(options.backend),
      'softmax',
      [{ data: x, type: DType.F32, cols, rows: n, perToken: true }],
      { type: DType.F32, cols, rows: n, perToken: true },
      n,
      params,
      nPast,
    ),
  );
}

export interface AttentionOptions extends OpOptions {
  nHead: number;
  nKvHead: number;
  headDim: number;
  /** Cache rows before this batch; query i attends to rows [0, nPast + i]. */
  nPast: number;
  scale?: number;
}

/**
 * Causal GQA attention. q: [n, nHead*headDim]; kCache/vCache: [nPast+n, nKvHead*headDim]
 * as Float32Array (f32 cache) or Uint16Array (f16 cache).
 */
export function attention(
  q: Float32Array,
  kCache: Float32Array | Uint16Array,
  vCache: Float32Array | Uint16Array,
  o: AttentionOptions,
): Float32Array {
  f32('q', q);
  const nHead = positiveInt('nHead', o.nHead);
  const nKvHead = positiveInt('nKvHead', o.nKvHead);
  const headDim = positiveInt('headDim', o.headDim);
  const nPast = nonNegativeInt('nPast', o.nPast);
  if (nHead % nKvHead !== 0)
    throw new InvalidArgumentError(`nHead (${nHead}) must be a multiple of nKvHead (${nKvHead})`);
  const cols = nHead * headDim;
  const kvCols = nKvHead * headDim;
  const n = rowsOf('q', q, cols);
  const kvType = kCache instanceof Float32Array ? DType.F32 : DType.F16;
  if ((vCache instanceof Float32Array ? DType.F32 : DType.F16) !== kvType) {
    throw new InvalidArgumentError('kCache and vCache must have the same type');
  }
  const kvRows = nPast + n;
  for (const [name, c] of [
    ['kCache', kCache],
    ['vCache', vCache],
  ] as const) {
    if (c.length !== kvRows * kvCols) {
      throw new InvalidArgumentError(`${name} must hold nPast + n = ${kvRows} rows of ${kvCols} elements`);
    }
  }
  const params: OpParams = { nHead, nKvHead, headDim, scale: o.scale ?? 1 / Math.sqrt(headDim) };
  return asF32(
    runOne(
      resolveBackend(o.backend),
      'attention',
      [
        { data: q, type: DType.F32, cols, rows: n, perToken: true },
        { data: kCache, type: kvType, cols: kvCols, rows: kvRows },
        { data: vCache, type: kvType, cols: kvCols, rows: kvRows },
      ],
      { type: DType.F32, cols, rows: n, perToken: true },
      n,
      params,
      nPast,
    ),
  );
}

function binary(
  op: 'swiglu' | 'add' | 'mul',
  a: Float32Array,
  b: Float32Array,
  cols: number,
  options: OpOptions,
): Float32Array {
  f32('a', a);
  f32('b', b);
  positiveInt('cols', cols);
  const n = rowsOf('a', a, cols);
  const broadcast = op !== 'swiglu' && b.length === cols && n > 1;
  if (!broadcast && b.length !== a.length) {
    throw new InvalidArgumentError(
      `b must have a's length (${a.length})${op === 'swiglu' ? '' : ` or one row of ${cols}`}`,
    );
  }
  return asF32(
    runOne(
      resolveBackend(options.backend),
      op,
      [
        { data: a, type: DType.F32, cols, rows: n, perToken: true },
        broadcast
          ? { data: b, type: DType.F32, cols, rows: 1 }
          : { data: b, type: DType.F32, cols, rows: n, perToken: true },
      ],
      { type: DType.F32, cols, rows: n, perToken: true },
      n,
    ),
  );
}

/** silu(gate) * up, elementwise. */
export const swiglu = (gate: Float32Array, up: Float32Array, options: OpOptions = {}): Float32Array =>
  binary('swiglu', gate, up, gate.length, options);
/** a + b; b may be one row of `cols` broadcast over a's rows. */
export const add = (a: Float32Array, b: Float32Array, cols: number, options: OpOptions = {}): Float32Array =>
  binary('add', a, b, cols, options);
/** a * b; b may be one row of `cols` broadcast over a's rows. */
export const mul = (a: Float32Array, b: Float32Array, cols: number, options: OpOptions = {}): Float32Array =>
  binary('mul', a, b, cols, options);

/** Writes src rows into a cache copy at rows [nPast, nPast + n), converting to the cache type. */
export function storeRows(
  src: Float32Array,
  cache: { data: ArrayBufferView; type: 'F32' | 'F16' | 'BF16'; rows: number; cols: number },
  nPast: number,
  options: OpOptions = {},
): Uint8Array {
  f32('src', src);
  const cols = positiveInt('cache.cols', cache.cols);
  const rows = positiveInt('cache.rows', cache.rows);
  const n = rowsOf('src', src, cols);
  nonNegativeInt('nPast', nPast);
  if (nPast + n > rows) throw new InvalidArgumentError(`rows [${nPast}, ${nPast + n}) exceed the cache's ${rows} rows`);
  const t = typeInfo(cache.type);
  const c: Operand = { data: cache.data, type: t.id, cols, rows };
  return runOne(
    resolveBackend(options.backend),
    'store_rows',
    [{ data: src, type: DType.F32, cols, rows: n, perToken: true }],
    c,
    n,
    {},
    nPast,
    c,
  );
}

/** Quantizes rows of `rowLength` floats into ggml blocks of `type`. */
export function quantize(type: WeightType, data: Float32Array, rowLength: number): Uint8Array {
  const t = typeInfo(type);
  return nativeCall((n) => n.quantize(t.id, data, rowLength));
}

/** Expands `count` elements of ggml blocks of `type` to floats. */
export function dequantize(type: WeightType, data: Uint8Array, count: number): Float32Array {
  const t = typeInfo(type);
  return nativeCall((n) => n.dequantize(t.id, data, count));
}
