/**
 * The kernel-level API: every op the backends implement, callable on typed
 * arrays. Each call builds a one-node graph, runs it synchronously and returns
 * the result, so tests and benchmarks exercise exactly the code the model runs.
 * Weights stay in their block type (`Uint8Array` of ggml blocks).
 */
import { Backend, type BackendName, type Graph, type NodeSpec, type OpParams, type TensorSpec } from './backend';
import { DType, type DTypeName } from './dtype';
import { InvalidArgumentError } from './errors';
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
  if (b !== undefined && typeof b !== 'string')
    throw new InvalidArgumentError(`backend must be a Backend or a backend name, got ${show(b)}`);
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

/** A value shown in an error message (never throws, whatever it is). */
function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'symbol' || typeof v === 'function') return typeof v;
  if (typeof v === 'bigint') return `${v}n`;
  if (v === null || typeof v !== 'object') return String(v);
  if (ArrayBuffer.isView(v)) return `a ${v.constructor?.name ?? 'typed array'}`;
  return Array.isArray(v) ? 'an array' : 'an object';
}

/** `options` itself: undefined is {}, anything else must be an object. */
function optionsOf<T extends object>(v: T | undefined, name = 'options'): Partial<T> {
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object') throw new InvalidArgumentError(`${name} must be an object, got ${show(v)}`);
  return v;
}

/** A typed array whose ArrayBuffer has been detached (transferred). */
function isDetached(v: ArrayBufferView): boolean {
  if (v.byteLength !== 0) return false;
  const d = (v.buffer as { detached?: unknown }).detached; // Node >= 22
  if (typeof d === 'boolean') return d;
  try {
    new Uint8Array(v.buffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}

/** Checks `v` is an ArrayBufferView (SharedArrayBuffer views included) that is not detached. */
function bufferView(name: string, v: unknown): ArrayBufferView {
  if (!ArrayBuffer.isView(v)) throw new InvalidArgumentError(`${name} must be a typed array, got ${show(v)}`);
  if (isDetached(v)) throw new InvalidArgumentError(`${name} is a view of a detached ArrayBuffer`);
  return v;
}

/** Resolves a type name or id to its id and block geometry. */
export function typeInfo(type: WeightType): { id: number; name: string; blockSize: number; typeSize: number } {
  let id: number | undefined;
  if (typeof type === 'number') id = Number.isInteger(type) && type >= 0 && type < 1 << 20 ? type : undefined;
  else if (typeof type === 'string' && Object.prototype.hasOwnProperty.call(DType, type))
    id = (DType as Record<string, number>)[type];
  const info = id === undefined ? null : nativeCall((n) => n.typeInfo(id));
  if (id === undefined || !info)
    throw new InvalidArgumentError(`unknown tensor type ${typeof type === 'string' ? type.slice(0, 40) : show(type)}`);
  return { id, name: info.name, blockSize: info.blockSize, typeSize: info.typeSize };
}

/** Largest element count of one operand (as the native layer allows). */
const MAX_ELEMENTS = 2 ** 40;

/** Bytes of `rows` rows of `cols` elements of `type`. */
export function matrixBytes(type: WeightType, rows: number, cols: number): number {
  const t = typeInfo(type);
  nonNegativeInt('rows', rows);
  positiveInt('cols', cols);
  if (cols % t.blockSize !== 0) {
    throw new InvalidArgumentError(`cols ${cols} is not a multiple of the ${t.name} block size ${t.blockSize}`);
  }
  if (rows * cols > MAX_ELEMENTS)
    throw new InvalidArgumentError(`${rows} x ${cols} elements are more than the ${MAX_ELEMENTS} allowed`);
  return rows * (cols / t.blockSize) * t.typeSize;
}

function positiveInt(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
    throw new InvalidArgumentError(`${name} must be a positive integer, got ${show(v)}`);
  }
  return v;
}
function nonNegativeInt(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new InvalidArgumentError(`${name} must be a non-negative integer, got ${show(v)}`);
  }
  return v;
}
/** An optional finite number; `ok` adds a range check described by `what`. */
function finiteNumber(name: string, v: unknown, fallback: number, ok: (x: number) => boolean, what: string): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))
    throw new InvalidArgumentError(`${name} must be ${what}, got ${show(v)}`);
  return v;
}
function optionalBool(name: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new InvalidArgumentError(`${name} must be a boolean, got ${show(v)}`);
  return v;
}
function f32(name: string, v: unknown): Float32Array {
  if (!(v instanceof Float32Array)) throw new InvalidArgumentError(`${name} must be a Float32Array, got ${show(v)}`);
  bufferView(name, v);
  return v;
}
function i32(name: string, v: unknown): Int32Array {
  if (!(v instanceof Int32Array)) throw new InvalidArgumentError(`${name} must be an Int32Array, got ${show(v)}`);
  bufferView(name, v);
  return v;
}
function rowsOf(name: string, a: ArrayLike<number>, cols: number): number {
  if (a.length === 0 || a.length % cols !== 0) {
    throw new InvalidArgumentError(`${name} length ${a.length} is not a positive multiple of ${cols}`);
  }
  return a.length / cols;
}
/** A WeightMatrix argument: an object with a typed array `data` of exactly the bytes its shape needs. */
function weightMatrix(name: string, v: unknown): { data: ArrayBufferView; id: number; rows: number; cols: number } {
  if (v === null || typeof v !== 'object') throw new InvalidArgumentError(`${name} must be an object, got ${show(v)}`);
  const w = v as Partial<WeightMatrix>;
  const cols = positiveInt(`${name}.cols`, w.cols);
  const rows = positiveInt(`${name}.rows`, w.rows);
  const t = typeInfo(w.type as WeightType);
  const data = bufferView(`${name}.data`, w.data);
  const bytes = matrixBytes(t.id, rows, cols);
  if (data.byteLength !== bytes) {
    throw new InvalidArgumentError(
      `${name}.data has ${data.byteLength} bytes, ${rows} rows of ${cols} ${t.name} elements need ${bytes}`,
    );
  }
  return { data, id: t.id, rows, cols };
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

/**
 * Runs one op over freshly allocated buffers and returns the output's bytes.
 * Every operand is checked before anything is allocated, and the graph and
 * buffers are freed before returning, so a synchronous loop of ops holds no
 * native memory between calls.
 */
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
  const operands = [...srcs, dstIsCache ?? out];
  const sizes = operands.map((o, i) => {
    const bytes = matrixBytes(o.type, o.rows, o.cols);
    if (o.data) {
      const view = bufferView(`${op} input ${i}`, o.data);
      if (view.byteLength !== bytes) {
        throw new InvalidArgumentError(`${op}: input ${i} has ${view.byteLength} bytes, expected ${bytes}`);
      }
    }
    return bytes;
  });
  const tensors: TensorSpec[] = [];
  const inputs: { tensor: number; data: Uint8Array }[] = [];
  let graph: Graph | undefined;
  try {
    for (let i = 0; i < operands.length; i++) {
      const o = operands[i]!;
      const buffer = backend.allocate(Math.max(sizes[i]!, 1));
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
        if (o.perToken) inputs.push({ tensor: i, data: view });
        else backend.upload(buffer, 0, view);
      }
    }
    const src = srcs.map((_, i) => i);
    const dst = srcs.length;
    graph = backend.createGraph({ tensors, nodes: [{ op, src, dst, params }], maxTokens: nTokens });
    const result = new Uint8Array(matrixBytes(out.type, out.rows, out.cols));
    if (dstIsCache) {
      graph.runSync({ nTokens, nPast, inputs });
      backend.download(tensors[dst]!.buffer, 0, result);
    } else {
      graph.runSync({ nTokens, nPast, inputs, outputs: [{ tensor: dst, data: result }] });
    }
    return result;
  } finally {
    graph?.dispose();
    for (const t of tensors) t.buffer.dispose();
  }
}

const asF32 = (u: Uint8Array): Float32Array => new Float32Array(u.buffer, u.byteOffset, u.byteLength / 4);

/** y[n, rows] = x[n, cols] . W[rows, cols]^T (+ bias). */
export function matmul(x: Float32Array, w: WeightMatrix, options?: OpOptions & { bias?: Float32Array }): Float32Array {
  const o = optionsOf(options);
  f32('x', x);
  const wm = weightMatrix('w', w);
  const { cols, rows } = wm;
  const n = rowsOf('x', x, cols);
  const srcs: Operand[] = [
    { data: x, type: DType.F32, cols, rows: n, perToken: true },
    { data: wm.data, type: wm.id, cols, rows },
  ];
  if (o.bias !== undefined) {
    if (f32('bias', o.bias).length !== rows) throw new InvalidArgumentError(`bias must have ${rows} elements`);
    srcs.push({ data: o.bias, type: DType.F32, cols: rows, rows: 1 });
  }
  const be = resolveBackend(o.backend);
  return asF32(runOne(be, 'matmul', srcs, { type: DType.F32, cols: rows, rows: n, perToken: true }, n));
}

/** Rows `ids` of a table (any type), as f32. */
export function getRows(table: WeightMatrix, ids: Int32Array, options?: OpOptions): Float32Array {
  const o = optionsOf(options);
  const tm = weightMatrix('table', table);
  if (i32('ids', ids).length === 0) throw new InvalidArgumentError('ids must be a non-empty Int32Array');
  const { cols, rows } = tm;
  for (const id of ids) {
    if (id < 0 || id >= rows) throw new InvalidArgumentError(`id ${id} is outside the table's rows [0, ${rows})`);
  }
  const n = ids.length;
  const out = runOne(
    resolveBackend(o.backend),
    'get_rows',
    [
      { data: tm.data, type: tm.id, cols, rows },
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
  options?: OpOptions & { eps?: number; weight?: Float32Array },
): Float32Array {
  const o = optionsOf(options);
  f32('x', x);
  positiveInt('cols', cols);
  const n = rowsOf('x', x, cols);
  const eps = finiteNumber('eps', o.eps, 1e-5, (v) => v >= 0, 'a finite number >= 0');
  const srcs: Operand[] = [{ data: x, type: DType.F32, cols, rows: n, perToken: true }];
  if (o.weight !== undefined) {
    if (f32('weight', o.weight).length !== cols) throw new InvalidArgumentError(`weight must have ${cols} elements`);
    srcs.push({ data: o.weight, type: DType.F32, cols, rows: 1 });
  }
  return asF32(
    runOne(resolveBackend(o.backend), 'rms_norm', srcs, { type: DType.F32, cols, rows: n, perToken: true }, n, {
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
  /** Per-pair frequency divisors (llama3 scaling, LongRoPE), nRot/2 values. */
  freqFactors?: Float32Array;
  /** cos and sin scaled by it (LongRoPE's magnitude correction; default 1). */
  attnFactor?: number;
}

/** Rotary embedding of x [n, nHead*headDim] at `positions` [n]. */
export function rope(x: Float32Array, positions: Int32Array, options: RopeOptions): Float32Array {
  if (options === null || typeof options !== 'object')
    throw new InvalidArgumentError(`options must be an object with nHead and headDim, got ${show(options)}`);
  const o = options;
  f32('x', x);
  const nHead = positiveInt('nHead', o.nHead);
  const headDim = positiveInt('headDim', o.headDim);
  const nRot = o.nRot === undefined ? headDim : positiveInt('nRot', o.nRot);
  if (nRot > headDim || nRot % 2 !== 0) throw new InvalidArgumentError(`nRot must be even and <= headDim, got ${nRot}`);
  if (nHead * headDim > MAX_ELEMENTS) throw new InvalidArgumentError('nHead * headDim is too large');
  const cols = nHead * headDim;
  const n = rowsOf('x', x, cols);
  if (i32('positions', positions).length !== n) {
    throw new InvalidArgumentError(`positions must be an Int32Array of ${n} elements`);
  }
  const freqBase = finiteNumber('freqBase', o.freqBase, 10000, (v) => v > 0, 'a positive finite number');
  const freqScale = finiteNumber('freqScale', o.freqScale, 1, (v) => v > 0, 'a positive finite number');
  const attnFactor = finiteNumber('attnFactor', o.attnFactor, 1, (v) => v > 0, 'a positive finite number');
  if (o.mode !== undefined && o.mode !== 'normal' && o.mode !== 'neox')
    throw new InvalidArgumentError(`mode must be 'normal' or 'neox', got ${show(o.mode)}`);
  const srcs: Operand[] = [
    { data: x, type: DType.F32, cols, rows: n, perToken: true },
    { data: positions, type: DType.I32, cols: 1, rows: n, perToken: true },
  ];
  if (o.freqFactors !== undefined) {
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
    freqScale,
    attnFactor,
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
  options?: OpOptions & { scale?: number; causal?: boolean; nPast?: number },
): Float32Array {
  const o = optionsOf(options);
  f32('x', x);
  positiveInt('cols', cols);
  const n = rowsOf('x', x, cols);
  const nPast = nonNegativeInt('nPast', o.nPast ?? 0);
  const params: OpParams = {
    scale: finiteNumber('scale', o.scale, 1, () => true, 'a finite number'),
    causal: optionalBool('causal', o.causal, false),
  };
  return asF32(
    runOne(
      resolveBackend(o.backend),
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
  /** Sliding window: query i attends to rows (nPast + i - window, nPast + i] only (0 or absent: all). */
  window?: number;
  /** Scores soft-capped to c * tanh(s / c) (gemma2; 0 or absent: none). */
  softcap?: number;
  /**
   * The caches are a ring of this many rows (a sliding-window layer's): key position j is at
   * row j % ring (needs a window, window + n - 1 <= ring; 0 or absent: row j).
   */
  ring?: number;
}

/**
 * Causal GQA attention. q: [n, nHead*headDim]; kCache/vCache: [nPast+n, nKvHead*headDim]
 * (with `ring`: [ring, nKvHead*headDim]) as Float32Array (f32 cache), Uint16Array (f16 cache)
 * or Uint8Array (q8_0 cache: each row nKvHead*headDim/32 blocks of 34 bytes; headDim % 32 == 0).
 */
export function attention(
  q: Float32Array,
  kCache: Float32Array | Uint16Array | Uint8Array,
  vCache: Float32Array | Uint16Array | Uint8Array,
  options: AttentionOptions,
): Float32Array {
  if (options === null || typeof options !== 'object')
    throw new InvalidArgumentError(
      `options must be an object with nHead, nKvHead, headDim and nPast, got ${show(options)}`,
    );
  const o = options;
  f32('q', q);
  const nHead = positiveInt('nHead', o.nHead);
  const nKvHead = positiveInt('nKvHead', o.nKvHead);
  const headDim = positiveInt('headDim', o.headDim);
  const nPast = nonNegativeInt('nPast', o.nPast);
  if (nHead % nKvHead !== 0)
    throw new InvalidArgumentError(`nHead (${nHead}) must be a multiple of nKvHead (${nKvHead})`);
  if (nHead * headDim > MAX_ELEMENTS) throw new InvalidArgumentError('nHead * headDim is too large');
  const cols = nHead * headDim;
  const kvCols = nKvHead * headDim;
  const n = rowsOf('q', q, cols);
  for (const [name, c] of [
    ['kCache', kCache],
    ['vCache', vCache],
  ] as const) {
    if (!(c instanceof Float32Array) && !(c instanceof Uint16Array) && !(c instanceof Uint8Array))
      throw new InvalidArgumentError(
        `${name} must be a Float32Array (f32), Uint16Array (f16) or Uint8Array (q8_0), got ${show(c)}`,
      );
    bufferView(name, c);
  }
  const typeOf = (c: Float32Array | Uint16Array | Uint8Array): number =>
    c instanceof Float32Array ? DType.F32 : c instanceof Uint16Array ? DType.F16 : DType.Q8_0;
  const kvType = typeOf(kCache);
  if (typeOf(vCache) !== kvType) {
    throw new InvalidArgumentError('kCache and vCache must have the same type');
  }
  if (kvType === DType.Q8_0 && headDim % 32 !== 0)
    throw new InvalidArgumentError(`a q8_0 cache needs headDim a multiple of 32, got ${headDim}`);
  // Elements (f32, f16) or bytes (q8_0: 34 per 32 values) of one cache row.
  const rowLength = kvType === DType.Q8_0 ? (kvCols / 32) * 34 : kvCols;
  const ring = nonNegativeInt('ring', o.ring ?? 0);
  const kvRows = ring > 0 ? ring : nPast + n;
  for (const [name, c] of [
    ['kCache', kCache],
    ['vCache', vCache],
  ] as const) {
    if (c.length !== kvRows * rowLength) {
      throw new InvalidArgumentError(
        `${name} must hold ${ring > 0 ? 'ring' : 'nPast + n'} = ${kvRows} rows of ${rowLength} ${kvType === DType.Q8_0 ? 'bytes' : 'elements'}`,
      );
    }
  }
  const scale = finiteNumber('scale', o.scale, 1 / Math.sqrt(headDim), () => true, 'a finite number');
  const window = nonNegativeInt('window', o.window ?? 0);
  const softcap = finiteNumber('softcap', o.softcap, 0, (v) => v >= 0, 'a finite number >= 0');
  if (ring > 0 && !(window > 0 && window + n - 1 <= ring))
    throw new InvalidArgumentError(`a ring of ${ring} rows needs a window with window + n - 1 <= ring`);
  const params: OpParams = { nHead, nKvHead, headDim, scale, window, softcap, ...(ring > 0 && { ring }) };
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
  op: 'swiglu' | 'geglu' | 'add' | 'mul',
  a: Float32Array,
  b: Float32Array,
  cols: number,
  options: OpOptions | undefined,
): Float32Array {
  const o = optionsOf(options);
  f32('a', a);
  f32('b', b);
  positiveInt('cols', cols);
  const n = rowsOf('a', a, cols);
  const gated = op === 'swiglu' || op === 'geglu';
  const broadcast = !gated && b.length === cols && n > 1;
  if (!broadcast && b.length !== a.length) {
    throw new InvalidArgumentError(`b must have a's length (${a.length})${gated ? '' : ` or one row of ${cols}`}`);
  }
  return asF32(
    runOne(
      resolveBackend(o.backend),
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
export const swiglu = (gate: Float32Array, up: Float32Array, options?: OpOptions): Float32Array =>
  binary('swiglu', f32('gate', gate), up, Math.max(gate.length, 1), options);
/** gelu(gate) * up, elementwise (GELU's tanh approximation, as gemma's gelu_pytorch_tanh). */
export const geglu = (gate: Float32Array, up: Float32Array, options?: OpOptions): Float32Array =>
  binary('geglu', f32('gate', gate), up, Math.max(gate.length, 1), options);
/** a + b; b may be one row of `cols` broadcast over a's rows. */
export const add = (a: Float32Array, b: Float32Array, cols: number, options?: OpOptions): Float32Array =>
  binary('add', a, b, cols, options);
/** a * b; b may be one row of `cols` broadcast over a's rows. */
export const mul = (a: Float32Array, b: Float32Array, cols: number, options?: OpOptions): Float32Array =>
  binary('mul', a, b, cols, options);

function unary(
  op: 'scale' | 'softcap',
  x: Float32Array,
  params: OpParams,
  options: OpOptions | undefined,
): Float32Array {
  const o = optionsOf(options);
  f32('x', x);
  const cols = Math.max(x.length, 1);
  return asF32(
    runOne(
      resolveBackend(o.backend),
      op,
      [{ data: x, type: DType.F32, cols, rows: 1, perToken: true }],
      { type: DType.F32, cols, rows: 1, perToken: true },
      1,
      params,
    ),
  );
}
/** x * s, elementwise. */
export function scale(x: Float32Array, s: number, options?: OpOptions): Float32Array {
  if (typeof s !== 'number' || !Number.isFinite(s))
    throw new InvalidArgumentError(`s must be a finite number, got ${show(s)}`);
  return unary('scale', x, { scale: s }, options);
}
/** c * tanh(x / c), elementwise (logit soft-capping). */
export function softcap(x: Float32Array, c: number, options?: OpOptions): Float32Array {
  if (typeof c !== 'number' || !Number.isFinite(c) || c <= 0)
    throw new InvalidArgumentError(`c must be a positive finite number, got ${show(c)}`);
  const cap = c;
  return unary('softcap', x, { softcap: cap }, options);
}

/** Writes src rows into a cache copy at rows [nPast, nPast + n), converting to the cache type. */
export function storeRows(
  src: Float32Array,
  cache: { data: ArrayBufferView; type: 'F32' | 'F16' | 'BF16' | 'Q8_0'; rows: number; cols: number },
  nPast: number,
  options?: OpOptions,
): Uint8Array {
  const o = optionsOf(options);
  f32('src', src);
  if (cache === null || typeof cache !== 'object')
    throw new InvalidArgumentError(`cache must be an object, got ${show(cache)}`);
  if (cache.type !== 'F32' && cache.type !== 'F16' && cache.type !== 'BF16' && cache.type !== 'Q8_0')
    throw new InvalidArgumentError(`cache.type must be 'F32', 'F16', 'BF16' or 'Q8_0', got ${show(cache.type)}`);
  const c = weightMatrix('cache', cache);
  const n = rowsOf('src', src, c.cols);
  nonNegativeInt('nPast', nPast);
  if (nPast + n > c.rows)
    throw new InvalidArgumentError(`rows [${nPast}, ${nPast + n}) exceed the cache's ${c.rows} rows`);
  const op: Operand = { data: c.data, type: c.id, cols: c.cols, rows: c.rows };
  return runOne(
    resolveBackend(o.backend),
    'store_rows',
    [{ data: src, type: DType.F32, cols: c.cols, rows: n, perToken: true }],
    op,
    n,
    {},
    nPast,
    op,
  );
}

/** Quantizes rows of `rowLength` floats into ggml blocks of `type`. */
export function quantize(type: WeightType, data: Float32Array, rowLength: number): Uint8Array {
  const t = typeInfo(type);
  f32('data', data);
  positiveInt('rowLength', rowLength);
  return nativeCall((n) => n.quantize(t.id, data, rowLength));
}

/** Expands `count` elements of ggml blocks of `type` to floats. */
export function dequantize(type: WeightType, data: Uint8Array, count: number): Float32Array {
  const t = typeInfo(type);
  bufferView('data', data);
  nonNegativeInt('count', count);
  return nativeCall((n) => n.dequantize(t.id, data, count));
}
