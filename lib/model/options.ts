/** loadModel() options: public shape, defaults and validation. */
import { BACKEND_NAMES, type BackendName } from '../backend';
import { InvalidArgumentError } from '../errors';
import type { DownloadProgress } from '../hub/download';
import { checkHubOptions, type HubOptions } from '../hub/settings';
import { checkLogger, type Logger } from '../log';
import { checkKvType, type KvType } from './kv-type';

export type BackendChoice = 'auto' | BackendName;

export type LoadProgress =
  | {
      /** 'checksum': verifying sha256; 'map': reading the headers and mapping the weights; 'ready': done. */
      stage: 'checksum' | 'map' | 'ready';
      /** Progress of the stage in [0, 1]: each stage reports 0 when it starts, 'ready' reports 1. */
      progress: number;
    }
  /** An `hf:` source's file arriving (before the other stages). */
  | ({ stage: 'download' } & DownloadProgress);

export interface LoadModelOptions {
  /** Compute backend. 'auto' (default) = 'metal' where available, else 'cpu' (with a one-time warning on a Mac). */
  backend?: BackendChoice;
  /** CPU threads; 0 or undefined = the machine's physical cores. */
  threads?: number;
  /** Tokens of the default context (used by generate/stream/chat). Default min(model's context length, 4096). */
  contextSize?: number;
  /** Expected SHA-256 (64 hex digits) of the GGUF file; checked before loading (ERR_CHECKSUM). */
  sha256?: string;
  /** Aborts loading (ERR_ABORTED). */
  signal?: AbortSignal;
  onProgress?: (p: LoadProgress) => void;
  /** Drop this model's debug/info/warn notices (errors still go to the logger). Default false. */
  quiet?: boolean;
  /**
   * Generations that run at once, batched into one graph run per decode step
   * (more queue FIFO). Each has its own slot of contextSize tokens in one KV
   * cache allocated up front, so memory grows with it. Default 1 (one
   * generation at a time, the KV cache of one context).
   */
  maxSequences?: number;
  /** Where this model's notices go (level and sink); default: the one given to setLogger(), else stderr. */
  logger?: Logger;
  /** Hugging Face Hub settings for `hf:` sources (cache folder, endpoint, token, offline); default from the environment. */
  hub?: HubOptions;
  /**
   * The KV cache's type for the default context, parallel sequences and createContext():
   * 'f16' (default), 'q8_0' (about half the bytes; needs head_dim % 32 == 0 and the CPU
   * backend: ERR_UNSUPPORTED otherwise) or 'f32'.
   */
  kvType?: KvType;
  /**
   * Linux, CPU backend: read the weights once into memory backed by transparent huge pages (2 MB)
   * instead of using the file's mapping in place (4 KB pages), where the system gives huge pages
   * on request (/sys/kernel/mm/transparent_hugepage/enabled "always" or "madvise"). Streaming
   * weights through 4 KB pages costs a TLB miss every 4 KB (in a VM, a two-level page walk): in
   * bench/README.md's 2-vCPU VM decode ran 10-33% faster with huge pages while the machine was
   * busy, within +-6% when it was quiet. The cost: loading reads the whole file up front (off the
   * event loop; 0.1-1 s for 700 MB), and the copy is this process's own memory, not shared with
   * other processes mapping the same file. Default false; ignored where huge pages are off.
   */
  hugePages?: boolean;
}

export interface ResolvedLoadOptions {
  backend: BackendChoice;
  threads: number | undefined;
  contextSize: number | undefined;
  sha256: string | undefined;
  signal: AbortSignal | undefined;
  onProgress: ((p: LoadProgress) => void) | undefined;
  quiet: boolean;
  hub: HubOptions | undefined;
  maxSequences: number;
  logger: Logger | undefined;
  kvType: KvType;
  hugePages: boolean | undefined;
}

const KNOWN = new Set([
  'backend',
  'threads',
  'contextSize',
  'sha256',
  'signal',
  'onProgress',
  'quiet',
  'hub',
  'maxSequences',
  'logger',
  'kvType',
  'hugePages',
]);
const show = (v: unknown): string =>
  typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' && v !== null ? 'an object' : String(v);

export function checkContextSize(v: unknown, what = 'contextSize'): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 1 << 24) {
    throw new InvalidArgumentError(`${what} must be an integer in [1, 16777216], got ${show(v)}`);
  }
  return v;
}

export function resolveLoadOptions(options: LoadModelOptions | undefined): ResolvedLoadOptions {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object')
    throw new InvalidArgumentError(`options must be an object, got ${show(options)}`);
  const o = options as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!KNOWN.has(k) && o[k] !== undefined) throw new InvalidArgumentError(`unknown option "${k}"`);
  const backend = o['backend'] ?? 'auto';
  if (backend !== 'auto' && !(BACKEND_NAMES as readonly unknown[]).includes(backend)) {
    throw new InvalidArgumentError(`backend must be one of auto, ${BACKEND_NAMES.join(', ')}, got ${show(backend)}`);
  }
  const threads = o['threads'];
  if (
    threads !== undefined &&
    (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 0 || threads > 1024)
  ) {
    throw new InvalidArgumentError(`threads must be an integer in [0, 1024], got ${show(threads)}`);
  }
  const sha256 = o['sha256'];
  if (sha256 !== undefined && (typeof sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(sha256))) {
    throw new InvalidArgumentError(`sha256 must be 64 hexadecimal digits, got ${show(sha256)}`);
  }
  const signal = o['signal'];
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new InvalidArgumentError(`signal must be an AbortSignal, got ${show(signal)}`);
  const onProgress = o['onProgress'];
  if (onProgress !== undefined && typeof onProgress !== 'function')
    throw new InvalidArgumentError(`onProgress must be a function, got ${show(onProgress)}`);
  const quiet = o['quiet'] ?? false;
  if (typeof quiet !== 'boolean') throw new InvalidArgumentError(`quiet must be a boolean, got ${show(quiet)}`);
  const hugePages = o['hugePages'];
  if (hugePages !== undefined && typeof hugePages !== 'boolean')
    throw new InvalidArgumentError(`hugePages must be a boolean, got ${show(hugePages)}`);
  const maxSequences = o['maxSequences'] ?? 1;
  if (typeof maxSequences !== 'number' || !Number.isInteger(maxSequences) || maxSequences < 1 || maxSequences > 256)
    throw new InvalidArgumentError(`maxSequences must be an integer in [1, 256], got ${show(maxSequences)}`);
  return {
    maxSequences,
    backend: backend as BackendChoice,
    threads: threads,
    contextSize: checkContextSize(o['contextSize']),
    sha256: sha256,
    signal: signal,
    onProgress: onProgress as ((p: LoadProgress) => void) | undefined,
    quiet,
    hub: checkHubOptions(o['hub']),
    logger: checkLogger(o['logger']),
    kvType: checkKvType(o['kvType']) ?? 'f16',
    hugePages,
  };
}
