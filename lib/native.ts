/**
 * The native addon, loaded lazily (so pure-TS features such as readGGUF and the
 * tokenizers work even before anything native is needed) with node-gyp-build:
 * a matching prebuild from prebuilds/ first, else build/Release.
 *
 * This file describes what the addon exports. Library code reaches it only
 * through nativeCall() (and lib/backend.ts's Backend / Graph, which wrap the
 * objects it returns), so every native error becomes a MiniMacLLMError;
 * test/layering.test.ts checks that nothing else calls native().
 */
import * as path from 'node:path';
import { callNative, NativeUnavailableError } from './errors';

export { DType, type DTypeId, type DTypeName } from './dtype';

export interface NativeTypeInfo {
  name: string;
  blockSize: number;
  typeSize: number;
  isQuantized: boolean;
}

export interface NativeCpuInfo {
  physicalCores: number;
  logicalCores: number;
  /**
   * SIMD path the CPU kernels use: 'avx512' (AVX2 + AVX-512 VNNI prefill) | 'avx-vnni' | 'avx2' |
   * 'neon-i8mm' (arm64 smmla prefill panels) | 'neon-dotprod' (sdot panels) | 'neon' | 'scalar'.
   */
  simd: string;
  features: string[];
}

/** A file mapped read-only into memory. */
export interface NativeMappedFile {
  readonly size: number;
  readonly path: string;
  /** Zero-copy view of bytes [offset, offset + length) of the mapping. */
  view(offset: number, length: number): Uint8Array;
  /** Bytes of the mapping resident in RAM, or -1 if the OS cannot say. */
  residentBytes(): number;
  /** Whether the backends read a copy of the file in transparent huge pages (mapFileAsync with hugePages). */
  readonly hugePages: boolean;
  /** Drops this object's hold on the mapping and detaches the views it handed out. */
  close(): void;
}

export interface NativeBuffer {
  readonly size: number;
  /** Releases this object's reference to the memory now (graphs using it hold their own). */
  dispose(): void;
}

export interface NativeTensorSpec {
  buffer: NativeBuffer;
  /** Byte offset of row 0 in the buffer. */
  offset: number;
  /** ggml type id (see DType). */
  type: number;
  /** Elements per row. */
  cols: number;
  /** Fixed rows; a step's rows are `rows + rowsPerToken * nTokens`. */
  rows: number;
  rowsPerToken?: number;
  /** Bytes between rows (default: packed). */
  rowStride?: number;
}

export interface NativeNodeSpec {
  op: string;
  src: number[];
  dst: number;
  params?: { [key: string]: number | boolean | undefined };
}

export interface NativeStepArgs {
  nTokens: number;
  nPast?: number;
  /** Copied into the given tensors' rows [0, nTokens*rowsPerToken + rows) before the step. */
  inputs?: Array<{ tensor: number; data: Float32Array | Int32Array | Uint16Array | Uint8Array }>;
  /** Copied out of the given tensors after the step. */
  outputs?: Array<{ tensor: number; data: Float32Array | Uint8Array }>;
}

export interface NativeGraph {
  run(step: NativeStepArgs): Promise<void>;
  runSync(step: NativeStepArgs): void;
  /** Makes off the main thread what the first run would make for itself (the CPU's regrouped and copied weights). */
  warm(): Promise<void>;
  /**
   * How the scheduler split the graph: runs of nodes per backend ('cpu' for the fallback), tensors copied around
   * each, and the nodes a GPU plan runs inside others at decode steps (each entry: the producer, then its consumers).
   */
  segments(): Array<{
    backend: string;
    nodes: number[];
    copiesIn: number;
    copiesOut: number;
    fused: number[][];
    /**
     * Matmul nodes whose q4_0 or q8_0 weights the CPU reads regrouped 8 rows at a time, or q4_K, q5_K or q6_K weights
     * interleaved 4 rows at a time (x86 levels): once run
     * or warmed, or from creation where the copies exist already (made by another graph over the same weights).
     */
    regrouped: number[];
    /**
     * Matmul nodes whose weights of other types the CPU reads from a copy of their rows in huge pages (x86
     * levels, Linux with transparent huge pages on request), under the same conditions as `regrouped`.
     */
    copied: number[];
  }>;
  /** Releases the graph and its references to buffers now (a run in flight keeps its own). */
  dispose(): void;
}

export interface NativeBackend {
  readonly name: string;
  readonly threads: number;
  allocate(bytes: number): NativeBuffer;
  /** Adopts bytes of a mapped file as a read-only buffer, without copying. */
  wrap(file: NativeMappedFile, offset: number, length: number): NativeBuffer;
  upload(buffer: NativeBuffer, offset: number, data: ArrayBufferView): void;
  download(buffer: NativeBuffer, offset: number, data: ArrayBufferView): void;
  supports(op: string, types: number[]): boolean;
  createGraph(spec: { tensors: NativeTensorSpec[]; nodes: NativeNodeSpec[]; maxTokens: number }): NativeGraph;
  /** The addon's sampleLogits, with this backend's CPU threads taking part when no run holds them. */
  sampleLogits(logits: Float32Array, topK: number, topP: number, minP: number, temperature: number, r: number): number;
  /** Waits for in-flight runs, then frees the backend's threads. */
  dispose(): Promise<void>;
}

/** The native tables lib/ mirrors (native/core/dtype.cc, op_table.cc; native/metal/plan.cc's kernels). */
export interface NativeTables {
  readonly types: ReadonlyArray<{
    id: number;
    name: string;
    blockSize: number;
    typeSize: number;
    isQuantized: boolean;
  }>;
  readonly ops: ReadonlyArray<{ name: string; minSrc: number; maxSrc: number; params: string[] }>;
  readonly params: ReadonlyArray<{ name: string; kind: 'number' | 'integer' | 'boolean' }>;
  /** Kernels the Metal dispatch plans can use (empty in builds without Metal or metal-sim). */
  readonly gpuKernels: readonly string[];
}

export interface NativeBinding {
  /** package.json's version, compiled in. */
  readonly version: string;
  readonly tables: NativeTables;
  cpuInfo(): NativeCpuInfo;
  /**
   * 'scalar' forces the portable kernels (tests compare them with the SIMD ones); the others cap the
   * level ('neon-dotprod': no i8mm panels; 'neon': no panels); 'auto' restores.
   */
  setCpuSimd(mode: 'scalar' | 'avx2' | 'avx-vnni' | 'neon' | 'neon-dotprod' | 'auto'): void;
  typeInfo(type: number): NativeTypeInfo | null;
  /**
   * Measured read bandwidth (GB/s: from a buffer in transparent huge pages where the system gives
   * them; readGBsSmallPages from 4 KB pages, as a file mapping reads) and peak f32 FMA GFLOP/s with
   * `threads` threads.
   */
  probeHardware(options?: { bandwidthBytes?: number; threads?: number }): {
    readGBs: number;
    readGBsSmallPages: number;
    peakGflops: number;
  };
  availableBackends(): string[];
  /** Quantizes rows of `rowLength` floats into `type` blocks (f16, bf16, q8_0, q4_0, q4_1, q5_1, q8_K). */
  quantize(type: number, src: Float32Array, rowLength: number): Uint8Array;
  /** Expands `count` elements of `type` to floats (every supported type). */
  dequantize(type: number, src: Uint8Array, count: number): Float32Array;
  mapFile(path: string): NativeMappedFile;
  /**
   * mapFile on a worker thread; with hugePages (Linux with transparent huge pages on request) what
   * the backends read is a copy of the whole file in 2 MB pages, read here, instead of the mapping.
   */
  mapFileAsync(path: string, hugePages: boolean): Promise<NativeMappedFile>;
  /**
   * One sampled token from a row of logits, in O(vocab): top-k (0 off) → top-p (1 off) → min-p (0 off) →
   * temperature (<= 0: argmax) → the ranked candidate where the running probability passes `r` in [0, 1].
   */
  sampleLogits(logits: Float32Array, topK: number, topP: number, minP: number, temperature: number, r: number): number;
  /** Externally allocated bytes V8 accounts for (native buffers report theirs), for tests. */
  externalMemory(): number;
  /** What this addon's buffers report to V8 now: its own share of externalMemory(), for tests. */
  reportedMemory(): number;
  /**
   * The backend with the CPU as its fallback. For tests: `fallback: false` makes a node the backend doesn't run
   * ERR_UNSUPPORTED; `skipOps` are never given to the backend; metal-sim checks its cached plans every step with
   * `verifyPlans` and caps its threads per threadgroup at `maxGroupThreads`.
   */
  createBackend(
    name: string,
    options: {
      threads?: number;
      fallback?: boolean;
      skipOps?: string[];
      verifyPlans?: boolean;
      maxGroupThreads?: number;
    },
  ): NativeBackend;
}

let cached: NativeBinding | undefined;
let unavailable: NativeUnavailableError | undefined;

/** scripts/native-advice.js (shipped beside dist/): what is missing and what to run. */
function adviceLines(root: string): string[] {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const m = require(path.join(root, 'scripts', 'native-advice.js')) as {
      nativeAdvice(o: { runtime: boolean }): string[];
    };
    return m.nativeAdvice({ runtime: true });
  } catch {
    return ['Reinstall minimacllm, or build it: npm rebuild minimacllm'];
  }
}

/**
 * The addon; loads it on first use. Throws ERR_NATIVE_UNAVAILABLE (the same advice the install
 * step gives) when no prebuilt or built binary matches this machine or it cannot be loaded.
 */
export function native(): NativeBinding {
  if (cached) return cached;
  if (unavailable) throw unavailable;
  // lib/native.ts (ts-jest) and dist/native.js both sit one level below the package root.
  const root = path.resolve(__dirname, '..');
  try {
    // `npm run test:sanitize` points this at the ASan/UBSan build (scripts/sanitize.js).
    const override = process.env.MINIMACLLM_ADDON_PATH;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const load = require('node-gyp-build') as (dir: string) => NativeBinding;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cached = override ? (require(path.resolve(override)) as NativeBinding) : load(root);
  } catch (e) {
    const why = (e as Error).message.split('\n')[0] ?? '';
    // node-gyp-build found nothing, or found a binary the system cannot load (an older glibc, a
    // different libstdc++): the second needs a build from source, not a reinstall.
    const advice = why.startsWith('No native build was found')
      ? adviceLines(root)
      : [
          'A binary was found but this system cannot load it (its C library or C++ runtime may be older than the',
          'prebuilt binary needs). Build one here: npm rebuild minimacllm --build-from-source',
        ];
    unavailable = new NativeUnavailableError([`the native addon cannot be loaded (${why})`, ...advice].join('\n'), {
      cause: e,
    });
    throw unavailable;
  }
  return cached;
}

/** Calls the addon, rethrowing its errors as MiniMacLLMErrors: every library call into native code goes through here. */
export function nativeCall<T>(fn: (addon: NativeBinding) => T): T {
  return callNative(() => fn(native()));
}
