/**
 * A context: one KV cache plus the graphs that run the model over it. It
 * remembers which tokens its cache holds, so a later call that starts with
 * the same tokens (the next chat turn, a longer prompt) only processes the
 * new ones. Calls on one context run one at a time (FIFO lock).
 */
import '../dispose-symbol';
import type { Backend, Graph, StepArgs } from '../backend';
import { AbortError, ContextOverflowError, DisposedError, InvalidArgumentError, showValue } from '../errors';
import type { ModelFamily } from './arch/family';
import type { NativeBuffer } from '../native';
import type { ModelHParams } from './hparams';
import { buildContextGraphs } from './graph-builder';
import type { KvCache } from './kv-cache';
import { KV_DTYPE, type KvType } from './kv-type';
import { Mutex } from './mutex';
import type { ModelWeights } from './weights';

export interface EvaluateOptions {
  /** Return the logits of every token passed ([tokens.length * vocabSize]) instead of the last one. Default false. */
  allLogits?: boolean;
}

/** What a context needs from its model. */
export interface ContextHost {
  readonly backend: Backend;
  readonly family: ModelFamily;
  readonly hp: ModelHParams;
  readonly weights: ModelWeights;
  /** The KV cache type of contexts that don't choose one (loadModel's kvType). */
  readonly kvType: KvType;
  assertLive(): void;
  forget(ctx: Context): void;
}

/** Prefill batch: big enough for matrix-matrix efficiency, small enough for memory. */
export const MAX_BATCH = 512;
/** Bytes of the all-logits output buffer ([rows, vocab] f32). */
const ALL_LOGITS_BYTES = 64 << 20;

/** @internal How a sequence slot's context differs from a standalone one. */
export interface ContextLayout {
  /** Slot `slot` of a shared KV cache instead of its own. */
  kvSlot?: { kv: KvCache; slot: number };
  /** Rows per prefill run (default MAX_BATCH). */
  maxTokens?: number;
  /** Without allLogits use (sequence slots): a one-row all-logits graph. */
  noAllLogits?: boolean;
  /** Windowed layers keep the whole context (no ring): what tests compare the ring against. */
  fullKv?: boolean;
  /** The KV cache's type (default: the host's); a slot's is its shared cache's. */
  kvType?: KvType;
}

export class Context {
  readonly contextSize: number;
  readonly #host: ContextHost;
  readonly #lock = new Mutex();
  readonly #last: Graph;
  readonly #all: Graph;
  readonly #ids: number;
  readonly #positions: number;
  readonly #logitsLastIdx: number;
  readonly #logitsAllIdx: number;
  readonly #maxTokens: number;
  readonly #maxTokensAll: number;
  // Kept so the native buffers live as long as the graphs that point at them; freed by dispose().
  #buffers: NativeBuffer[];
  /** Tokens whose keys/values are in the cache, in position order; the next token goes at #cached.length. */
  #cached: number[] = [];
  /** Bumped whenever the cache loses tokens (truncated, reset): while it stays, the cache only grew. */
  #epoch = 0;
  /**
   * Ring layers (sliding windows): their window and rows, and the first cached position whose
   * keys they still hold (a ring keeps the last ringRows positions written; positions below
   * this were overwritten, or are stale after a truncation). 0, 0, 0 without a ring.
   */
  readonly #window: number;
  readonly #ringRows: number;
  #ringFloor = 0;
  /** Bytes of the KV cache this context allocated (0 for a slot of a shared one). */
  readonly kvBytes: number;
  // Reused step inputs and the last-row logits: nothing is allocated per token.
  readonly #idsBuf: Int32Array; // [maxTokens]
  readonly #posBuf: Int32Array; // [maxTokens]
  readonly #logits: Float32Array; // [vocab]
  // One decode step's arguments, reused: the token and its position go in place.
  readonly #decode: StepArgs;
  readonly #decodeIds = new Int32Array(1); // [1] i32
  readonly #decodePos = new Int32Array(1); // [1] i32
  #disposed = false;

  /** @internal Use model.createContext(). */
  constructor(host: ContextHost, contextSize: number, layout: ContextLayout = {}) {
    this.#host = host;
    this.contextSize = contextSize;
    const hp = host.hp;
    this.#maxTokens = Math.min(layout.maxTokens ?? MAX_BATCH, contextSize);
    this.#maxTokensAll = layout.noAllLogits
      ? 1
      : Math.max(1, Math.min(this.#maxTokens, Math.floor(ALL_LOGITS_BYTES / (hp.vocabSize * 4))));
    const g = buildContextGraphs(host.backend, {
      ...(layout.kvSlot ? { kvSlot: layout.kvSlot } : {}),
      family: host.family,
      hp,
      weights: host.weights.model,
      contextSize,
      maxTokens: this.#maxTokens,
      maxTokensAll: this.#maxTokensAll,
      kvType: layout.kvSlot?.kv.type ?? KV_DTYPE[layout.kvType ?? host.kvType],
      ...(layout.fullKv && { fullKv: true }),
    });
    this.#window = g.kv.window;
    this.#ringRows = g.kv.ringRows;
    this.kvBytes = g.kvBytes;
    this.#last = host.backend.createGraph(g.last);
    this.#all = host.backend.createGraph(g.all);
    this.#ids = g.ids;
    this.#positions = g.positions;
    this.#logitsLastIdx = g.logitsLast;
    this.#logitsAllIdx = g.logitsAll;
    this.#buffers = g.buffers;
    this.#idsBuf = new Int32Array(this.#maxTokens);
    this.#posBuf = new Int32Array(this.#maxTokens);
    this.#logits = new Float32Array(hp.vocabSize);
    this.#decode = {
      nTokens: 1,
      nPast: 0,
      inputs: [
        { tensor: this.#ids, data: this.#decodeIds },
        { tensor: this.#positions, data: this.#decodePos },
      ],
      outputs: [{ tensor: this.#logitsLastIdx, data: this.#logits }],
    };
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Tokens currently held in the KV cache. */
  get cachedTokens(): readonly number[] {
    return this.#cached;
  }

  /**
   * Runs the model over `tokens` (the whole sequence from position 0; the
   * prefix already in the cache is reused) and resolves with the logits of
   * the last token ([vocabSize]) or, with `allLogits`, of every token
   * ([tokens.length * vocabSize], row-major).
   */
  async evaluate(tokens: ArrayLike<number>, options: EvaluateOptions = {}): Promise<Float32Array> {
    this.#assertLive();
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options must be an object');
    const allLogits = options.allLogits ?? false;
    if (typeof allLogits !== 'boolean')
      throw new InvalidArgumentError(`allLogits must be a boolean, got ${showValue(allLogits)}`);
    const ids = this.checkTokens(tokens);
    return this.#lock.run(async () => {
      this.#assertLive();
      if (allLogits) return this.#evaluateAll(ids);
      // The run writes into a fresh array the caller keeps: no second copy.
      return this.evaluateLocked(ids, undefined, new Float32Array(this.#host.hp.vocabSize));
    });
  }

  /** Forgets the cached tokens; the next call starts from position 0. */
  reset(): void {
    this.#assertLive();
    this.#cached = [];
    this.#ringFloor = 0;
    this.#epoch++;
  }

  /** @internal The segments of the decode ('last') or prefill ('all') graph (tests). */
  segments(which: 'last' | 'all'): ReturnType<Graph['segments']> {
    this.#assertLive();
    return (which === 'last' ? this.#last : this.#all).segments();
  }

  /** @internal Makes what this context's first run would make for itself, without running (Model.warm). */
  async warm(): Promise<void> {
    this.#assertLive();
    await this.#lock.run(() => this.#last.warm());
  }

  /** Waits for running work, then frees the KV cache and activations at once (not at GC). Idempotent. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    const release = await this.#lock.acquire();
    if (this.#disposed) return release();
    this.#disposed = true;
    this.#last.dispose();
    this.#all.dispose();
    for (const b of this.#buffers) b.dispose();
    this.#buffers = [];
    this.#cached = [];
    this.#ringFloor = 0;
    this.#epoch++;
    this.#host.forget(this);
    release();
  }

  /** `await using ctx = model.createContext()` disposes the context at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** @internal Validates token ids and length against this context (before copying anything). */
  checkTokens(tokens: ArrayLike<number>): number[] {
    return checkTokenIds(tokens, this.contextSize, this.#host.hp.vocabSize);
  }

  /** @internal How many leading tokens of `ids` a call would reuse from the cache. */
  prefixLength(ids: readonly number[]): number {
    const cached = this.#cached;
    const lim = Math.min(cached.length, ids.length - 1);
    let n = 0;
    while (n < lim && cached[n] === ids[n]) n++;
    return this.canResumeAt(n) ? n : 0;
  }

  /**
   * @internal Whether the cache can continue after its first `n` tokens: the ring layers still
   * hold the keys position n sees, (n - window, n). (The last ringRows positions written are in
   * the ring; going back further than ringRows - window from the end, they are gone.)
   */
  canResumeAt(n: number, floor = this.#ringFloor): boolean {
    return n === 0 || this.#ringRows === 0 || Math.max(0, n - this.#window + 1) >= floor;
  }

  /** @internal The first position the ring layers hold (see #ringFloor). */
  get ringFloor(): number {
    return this.#ringFloor;
  }

  /** @internal Rows per ring, window of its layers (0, 0: none). */
  get ring(): { rows: number; window: number } {
    return { rows: this.#ringRows, window: this.#window };
  }

  /** @internal Holds the context's lock (generation holds it for all its steps). */
  acquire(): Promise<() => void> {
    return this.#lock.acquire();
  }

  /**
   * @internal With the lock held: brings the cache to `ids` and returns the
   * last row's logits in `logits` ([vocab]; by default a buffer reused by the next call).
   */
  async evaluateLocked(
    ids: readonly number[],
    signal?: AbortSignal,
    logits: Float32Array = this.#logits,
  ): Promise<Float32Array> {
    this.#assertLive();
    if (ids.length > this.contextSize) {
      throw new ContextOverflowError(`${ids.length} tokens do not fit the context of ${this.contextSize} tokens`);
    }
    // Reuse the longest cached prefix, but always run at least the last token (its logits are not kept).
    let start = this.prefixLength(ids);
    this.#truncate(start);
    const cached = this.#cached;
    while (start < ids.length) {
      if (signal?.aborted) throw new AbortError();
      const n = Math.min(this.#maxTokens, ids.length - start);
      const last = start + n === ids.length;
      await this.#runChunk(this.#last, ids, start, n, last ? [{ tensor: this.#logitsLastIdx, data: logits }] : []);
      for (let i = 0; i < n; i++) cached.push(ids[start + i]!);
      start += n;
    }
    return logits;
  }

  /**
   * @internal With the lock held: one prefill run of at most `maxChunk`
   * tokens towards `ids` (reusing the cached prefix). Resolves with the last
   * row's logits once the cache holds all of ids but the last token's
   * logits are known, else undefined (call again).
   */
  async prefillChunkLocked(ids: readonly number[], maxChunk: number): Promise<Float32Array | undefined> {
    this.#assertLive();
    if (ids.length > this.contextSize) {
      throw new ContextOverflowError(`${ids.length} tokens do not fit the context of ${this.contextSize} tokens`);
    }
    const start = this.prefixLength(ids);
    this.#truncate(start);
    const n = Math.min(maxChunk, this.#maxTokens, ids.length - start);
    const last = start + n === ids.length;
    await this.#runChunk(this.#last, ids, start, n, last ? [{ tensor: this.#logitsLastIdx, data: this.#logits }] : []);
    for (let i = 0; i < n; i++) this.#cached.push(ids[start + i]!);
    return last ? this.#logits : undefined;
  }

  /**
   * @internal Keys and values of `tokens` were copied into the cache at
   * positions [start, start + tokens.length) (from another sequence sharing
   * the prefix): the cache now holds its first `start` tokens and these.
   */
  adoptTokens(start: number, tokens: readonly number[], ringFloor: number): void {
    this.#truncate(start);
    for (const t of tokens) this.#cached.push(t);
    this.#ringFloor = ringFloor;
  }

  /** @internal A batched decode step wrote `token`'s keys and values at the next position. */
  appendDecoded(token: number): void {
    this.#cached.push(token);
  }

  /**
   * @internal A step is about to write positions up to `end` (exclusive): the ring layers lose
   * the positions ringRows back from there (noted before the run: a failed run may have written).
   */
  noteWrite(end: number): void {
    if (this.#ringRows > 0) this.#ringFloor = Math.max(this.#ringFloor, end - this.#ringRows);
  }

  /** @internal Changes whenever the cache loses tokens; see nextLocked. */
  get cacheEpoch(): number {
    return this.#epoch;
  }

  /**
   * @internal With the lock held: the logits after `ids`, one more token than
   * the caller's previous step. When the cache has only grown since then
   * (`epoch` is still cacheEpoch) and holds ids minus its last token, that
   * token runs alone at the next position: nothing is compared. Otherwise (a
   * stream whose cache another call changed meanwhile) evaluateLocked reuses
   * the longest cached prefix.
   */
  async nextLocked(ids: readonly number[], epoch: number, signal?: AbortSignal): Promise<Float32Array> {
    this.#assertLive();
    const pos = this.#cached.length;
    if (epoch !== this.#epoch || pos !== ids.length - 1) return this.evaluateLocked(ids, signal);
    if (signal?.aborted) throw new AbortError();
    if (pos >= this.contextSize) {
      throw new ContextOverflowError(`${pos + 1} tokens do not fit the context of ${this.contextSize} tokens`);
    }
    const token = ids[pos]!;
    this.#decodeIds[0] = token;
    this.#decodePos[0] = pos;
    this.#decode.nPast = pos;
    this.noteWrite(pos + 1);
    await this.#last.run(this.#decode);
    this.#cached.push(token);
    return this.#logits;
  }

  // Keeps the first n cached tokens.
  #truncate(n: number): void {
    if (n >= this.#cached.length) return;
    this.#cached.length = n;
    if (n === 0) this.#ringFloor = 0; // everything is rewritten from position 0
    this.#epoch++;
  }

  async #evaluateAll(ids: readonly number[]): Promise<Float32Array> {
    // Every row's logits are wanted, so nothing cached can be skipped.
    const vocab = this.#host.hp.vocabSize;
    const out = new Float32Array(ids.length * vocab); // [n_tokens, vocab]
    this.#cached = [];
    this.#ringFloor = 0;
    this.#epoch++;
    for (let start = 0; start < ids.length;) {
      const n = Math.min(this.#maxTokensAll, ids.length - start);
      await this.#runChunk(this.#all, ids, start, n, [
        { tensor: this.#logitsAllIdx, data: out.subarray(start * vocab, (start + n) * vocab) },
      ]);
      for (let i = 0; i < n; i++) this.#cached.push(ids[start + i]!);
      start += n;
    }
    return out;
  }

  // One graph run over ids[start, start+n) at positions [start, start+n).
  async #runChunk(
    graph: Graph,
    ids: readonly number[],
    start: number,
    n: number,
    outputs: Array<{ tensor: number; data: Float32Array }>,
  ): Promise<void> {
    const idsIn = this.#idsBuf.subarray(0, n); // [n] i32
    const posIn = this.#posBuf.subarray(0, n); // [n] i32
    for (let i = 0; i < n; i++) {
      idsIn[i] = ids[start + i]!;
      posIn[i] = start + i;
    }
    this.noteWrite(start + n);
    await graph.run({
      nTokens: n,
      nPast: start,
      inputs: [
        { tensor: this.#ids, data: idsIn },
        { tensor: this.#positions, data: posIn },
      ],
      outputs,
    });
  }

  #assertLive(): void {
    if (this.#disposed) throw new DisposedError('context');
    this.#host.assertLive();
  }
}

/** @internal Validates token ids and length (before copying anything). */
export function checkTokenIds(tokens: ArrayLike<number>, contextSize: number, vocab: number): number[] {
  if (tokens === null || typeof tokens !== 'object') {
    throw new InvalidArgumentError('tokens must be an array of token ids');
  }
  const length: unknown = tokens.length;
  // An array's length is at most 2^32 - 1; anything else is not an array of tokens.
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 0 || length > 2 ** 32 - 1) {
    throw new InvalidArgumentError(
      `tokens must be an array of token ids; its length ${typeof length === 'number' ? length : typeof length} is not a valid length`,
    );
  }
  if (length === 0) throw new InvalidArgumentError('tokens must not be empty');
  if (length > contextSize) {
    throw new ContextOverflowError(`${length} tokens do not fit the context of ${contextSize} tokens`);
  }
  const ids = new Array<number>(length);
  for (let i = 0; i < length; i++) {
    const t: unknown = tokens[i];
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t >= vocab) {
      throw new InvalidArgumentError(
        `tokens[${i}] = ${typeof t === 'number' ? t : typeof t} is not a token id in [0, ${vocab})`,
      );
    }
    ids[i] = t;
  }
  return ids;
}
