/**
 * Typed face of the native compute backends: buffers, graphs and their runs.
 * The model layer builds one graph per model and runs it once per step; the
 * kernel-level API (lib/ops.ts) builds one-node graphs.
 */
import { awaitNative, callNative, DisposedError, InvalidArgumentError, showValue } from './errors';
import {
  nativeCall,
  type NativeBackend,
  type NativeBuffer,
  type NativeGraph,
  type NativeMappedFile,
  type NativeStepArgs,
  type NativeTensorSpec,
} from './native';

export type BackendName = 'cpu' | 'metal' | 'metal-sim';
export const BACKEND_NAMES: readonly BackendName[] = ['cpu', 'metal', 'metal-sim'];

/** A 2-D tensor view over a buffer (see NativeTensorSpec). */
export type TensorSpec = NativeTensorSpec;

/** Every op, as the native op table names them (test/native-tables.test.ts keeps the two equal). */
export const OP_NAMES = [
  'get_rows',
  'rms_norm',
  'matmul',
  'rope',
  'softmax',
  'attention',
  'store_rows',
  'swiglu',
  'add',
  'mul',
  'last_row',
  'geglu',
  'scale',
  'softcap',
  'pool',
] as const;
export type OpName = (typeof OP_NAMES)[number];

export type OpParams = {
  eps?: number;
  scale?: number;
  causal?: boolean;
  nHead?: number;
  nKvHead?: number;
  headDim?: number;
  nRot?: number;
  /** 0 = normal (adjacent pairs), 2 = neox (half split): ggml's values. */
  ropeMode?: 0 | 2;
  freqBase?: number;
  freqScale?: number;
  /** rope: cos and sin scaled by it (LongRoPE's magnitude correction). */
  attnFactor?: number;
  /** attention: the query at position p sees keys (p - window, p] (0: every earlier key). */
  window?: number;
  /** attention scores, softcap op: c * tanh(x / c) (0: none). */
  softcap?: number;
  /**
   * attention, store_rows: the KV cache is a ring of this many rows, position p at row p % ring
   * (0 or absent: row p); a sliding-window layer's cache holds only the window plus a batch.
   */
  ring?: number;
  /** pool: 1 = mean, 2 = first row (cls), 3 = last row (llama.cpp's pooling_type values). */
  pooling?: 1 | 2 | 3;
  /** matmul: each row computed as if it were alone (no panel GEMM), for batch-invariant batched decoding. */
  rowwise?: boolean;
};
/** Every key of OpParams, as the native op table names them (test/native-tables.test.ts keeps the two equal). */
export const OP_PARAM_NAMES = [
  'eps',
  'scale',
  'causal',
  'nHead',
  'nKvHead',
  'headDim',
  'nRot',
  'ropeMode',
  'freqBase',
  'freqScale',
  'attnFactor',
  'window',
  'softcap',
  'ring',
  'pooling',
  'rowwise',
] as const satisfies ReadonlyArray<keyof OpParams>;
// Every OpParams key is listed (a key missing above fails to compile here).
const _allParamsListed: Record<Exclude<keyof OpParams, (typeof OP_PARAM_NAMES)[number]>, never> = {};
void _allParamsListed;

export interface NodeSpec {
  op: OpName;
  src: number[];
  dst: number;
  params?: OpParams;
}

export interface GraphSpec {
  tensors: TensorSpec[];
  nodes: NodeSpec[];
  /** Largest nTokens a step may use; tensors are sized for it. */
  maxTokens: number;
}

export type StepArgs = NativeStepArgs;

export class Graph {
  #graph: NativeGraph;
  #owner: Backend;
  constructor(graph: NativeGraph, owner: Backend) {
    this.#graph = graph;
    this.#owner = owner;
  }
  /** Runs one step off the main thread. */
  run(step: StepArgs): Promise<void> {
    this.#owner.assertLive();
    return awaitNative(callNative(() => this.#graph.run(step)));
  }
  /** Runs one step on the calling thread (tests, benchmarks). */
  runSync(step: StepArgs): void {
    this.#owner.assertLive();
    callNative(() => this.#graph.runSync(step));
  }
  /**
   * Makes off the main thread what the first run would make for itself (at the x86 levels, the
   * regrouped copies of q4_0 and q8_0 matmul weights (q4_K, q5_K and q6_K: interleaved), and huge-page copies of the others where the system
   * gives huge pages), so that run, and every graph sharing those weights, does not.
   */
  warm(): Promise<void> {
    this.#owner.assertLive();
    return awaitNative(callNative(() => this.#graph.warm()));
  }
  /** @internal How the scheduler split the graph, and what each segment reads regrouped or copied (tests, diagnostics). */
  segments(): ReturnType<NativeGraph['segments']> {
    this.#owner.assertLive();
    return callNative(() => this.#graph.segments());
  }
  /** Frees the graph's native state now instead of at GC; later runs are ERR_DISPOSED. */
  dispose(): void {
    this.#graph.dispose();
  }
}

export class Backend {
  readonly name: BackendName;
  #native: NativeBackend;
  #disposed = false;

  private constructor(name: BackendName, nb: NativeBackend) {
    this.name = name;
    this.#native = nb;
  }

  /** Creates a backend; `threads` 0/undefined = the machine's physical cores. */
  static create(name: BackendName, options: { threads?: number } = {}): Backend {
    if (!BACKEND_NAMES.includes(name)) {
      throw new InvalidArgumentError(`backend must be one of ${BACKEND_NAMES.join(', ')}, got ${showValue(name)}`);
    }
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options must be an object');
    const { threads } = options;
    if (threads !== undefined && (!Number.isInteger(threads) || threads < 0 || threads > 1024)) {
      throw new InvalidArgumentError(`threads must be an integer in [0, 1024], got ${showValue(threads)}`);
    }
    const nb = nativeCall((n) => n.createBackend(name, threads === undefined ? {} : { threads }));
    return new Backend(name, nb);
  }

  /** Backend names this build and machine can create. */
  static available(): BackendName[] {
    return nativeCall((n) => n.availableBackends()).filter((n): n is BackendName =>
      (BACKEND_NAMES as readonly string[]).includes(n),
    );
  }

  get threads(): number {
    this.assertLive();
    return this.#native.threads;
  }
  get disposed(): boolean {
    return this.#disposed;
  }

  assertLive(): void {
    if (this.#disposed) throw new DisposedError('backend');
  }

  allocate(bytes: number): NativeBuffer {
    this.assertLive();
    return callNative(() => this.#native.allocate(bytes));
  }
  wrap(file: NativeMappedFile, offset: number, length: number): NativeBuffer {
    this.assertLive();
    return callNative(() => this.#native.wrap(file, offset, length));
  }
  upload(buffer: NativeBuffer, offset: number, data: ArrayBufferView): void {
    this.assertLive();
    callNative(() => this.#native.upload(buffer, offset, data));
  }
  download(buffer: NativeBuffer, offset: number, data: ArrayBufferView): void {
    this.assertLive();
    callNative(() => this.#native.download(buffer, offset, data));
  }
  supports(op: OpName, types: number[]): boolean {
    this.assertLive();
    return callNative(() => this.#native.supports(op, types));
  }
  createGraph(spec: GraphSpec): Graph {
    this.assertLive();
    return new Graph(
      callNative(() => this.#native.createGraph(spec)),
      this,
    );
  }
  /**
   * One sampled token from a row of logits (the addon's sampleLogits: top-k → top-p → min-p → temperature →
   * the draw at `r`), synchronously, with this backend's CPU threads taking part when no graph run holds
   * them (between two decode steps); the same token whoever runs it.
   */
  sampleLogits(logits: Float32Array, topK: number, topP: number, minP: number, temperature: number, r: number): number {
    this.assertLive();
    return callNative(() => this.#native.sampleLogits(logits, topK, topP, minP, temperature, r));
  }
  /** Waits for in-flight runs, then frees the backend's threads and memory. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await awaitNative(this.#native.dispose());
  }
}
