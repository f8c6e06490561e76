/**
 * Parallel sequences with continuous batching. One shared KV cache holds
 * `maxSequences` slots of contextSize rows; each slot has a context (its own
 * prefill graphs over its rows). A generation leases a slot for each step it
 * runs (a stream gives it back while its consumer holds a chunk, so a paused
 * or abandoned consumer holds nothing). The engine loop alternates:
 *  - one decode step for every sequence waiting for its next token, in ONE
 *    graph run (B rows through every matmul: the weights are read once; each
 *    row attends its own slot's cache rows);
 *  - one prefill chunk (at most `prefillChunk` tokens) of one waiting prompt,
 *    round-robin, so a new prompt neither waits for the running streams to
 *    end nor stalls them for its whole length.
 * A row's result does not depend on the other rows of its step (per-row
 * kernels), and a prompt is chunked the same way whatever else runs, so a
 * greedy generation is the same alone or among others.
 * A free slot is chosen to reuse the longest cached prefix (a finished
 * conversation's next turn, a shared system prompt), else the least recently
 * used one.
 */
import type { Graph, StepArgs } from '../backend';
import { AbortError, ContextOverflowError, DisposedError, InvalidArgumentError } from '../errors';
import type { GenerationTarget } from '../generate/generate';
import type { NativeBuffer } from '../native';
import { checkTokenIds, Context, type ContextHost } from './context';
import { buildBatchGraph } from './graph-builder';
import { allocateKvCache, kvLayout, type KvCache } from './kv-cache';
import { KV_DTYPE } from './kv-type';
import { Mutex } from './mutex';

/** Tokens per prefill run while other sequences decode: bounds their inter-token latency. */
export const PREFILL_CHUNK = 128;
/** A prefix another slot holds is copied (not recomputed) from this many tokens on. */
const MIN_SHARED = 16;
/** Bytes of keys and values copied per engine step (on the main thread: bounded). */
const COPY_BYTES = 8 << 20;

interface Slot {
  readonly index: number;
  readonly ctx: Context;
  readonly logits: Float32Array; // [vocab] this slot's last logits
  leased: boolean;
  lastUsed: number;
  /** The running generation that last held it: others take it only when no other slot is free. */
  reservedBy: object | undefined;
}

interface Waiter {
  who: object | undefined;
  prefer: Slot | undefined;
  hint: readonly number[];
  grant: (slot: Slot) => void;
  fail: (e: unknown) => void;
}

interface Pending<T> {
  slot: Slot;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

export class SequenceEngine {
  readonly maxSequences: number;
  readonly contextSize: number;
  readonly #kv: KvCache;
  readonly #slots: Slot[] = [];
  /** The batched decode step (CPU); undefined where its per-sequence ops have no kernel (Metal): one run per sequence. */
  readonly #graph: Graph | undefined;
  readonly #buffers: NativeBuffer[];
  readonly #vocab: number;
  // Step inputs and outputs, reused: [maxSequences] ids, positions, cache rows; [maxSequences, 2] spans
  // (the ring layers' rows and spans likewise).
  readonly #ids: Int32Array;
  readonly #pos: Int32Array;
  readonly #rows: Int32Array;
  readonly #spans: Int32Array;
  readonly #ringRows: Int32Array;
  readonly #ringSpans: Int32Array;
  readonly #out: Float32Array; // [maxSequences, vocab]
  readonly #step:
    | {
        ids: number;
        positions: number;
        kvRows: number;
        kvSpans: number;
        ring: { kvRows: number; kvSpans: number } | undefined;
        logits: number;
      }
    | undefined;
  readonly #waiters: Waiter[] = [];
  #decodes: Array<Pending<Float32Array> & { ids: readonly number[]; token: number; pos: number }> = [];
  #prefills: Array<Pending<Float32Array> & { ids: readonly number[]; signal: AbortSignal | undefined }> = [];
  #running = false;
  #clock = 0;
  #disposing = false;
  #disposed = false;
  #idle: Array<() => void> = [];
  readonly #pinned = new Set<PinnedSequence>();
  /** Counters: batched decode steps and the rows they ran, prompt tokens prefilled. */
  readonly stats = { decodeSteps: 0, decodeRows: 0, prefillTokens: 0, sharedTokens: 0 };

  readonly #backend: ContextHost['backend'];

  constructor(host: ContextHost, maxSequences: number, contextSize: number) {
    this.#backend = host.backend;
    this.maxSequences = maxSequences;
    this.contextSize = contextSize;
    const hp = host.hp;
    this.#vocab = hp.vocabSize;
    // Cache rows are i32 indices in the batched step.
    if (maxSequences * contextSize > 2 ** 31 - 1)
      throw new InvalidArgumentError(
        `maxSequences × contextSize must be below 2^31 cache rows, got ${maxSequences} × ${contextSize}`,
      );
    this.#kv = allocateKvCache(
      host.backend,
      kvLayout(hp, host.family, {
        contextSize,
        maxTokens: Math.min(PREFILL_CHUNK, contextSize),
        slots: maxSequences,
        type: KV_DTYPE[host.kvType],
      }),
    );
    const built: NativeBuffer[] = [this.#kv.buffer];
    try {
      for (let i = 0; i < maxSequences; i++) {
        const ctx = new Context(host, contextSize, {
          kvSlot: { kv: this.#kv, slot: i },
          maxTokens: PREFILL_CHUNK,
          noAllLogits: true,
        });
        this.#slots.push({
          index: i,
          ctx,
          logits: new Float32Array(hp.vocabSize),
          leased: false,
          lastUsed: 0,
          reservedBy: undefined,
        });
      }
      // Metal has no kernel for per-sequence attention yet: its cache would travel to the CPU every step.
      if (host.backend.name === 'cpu') {
        const g = buildBatchGraph(host.backend, {
          family: host.family,
          hp,
          weights: host.weights.model,
          kv: this.#kv,
          maxRows: maxSequences,
        });
        built.push(...g.buffers);
        this.#graph = host.backend.createGraph(g.spec);
        this.#step = {
          ids: g.ids,
          positions: g.positions,
          kvRows: g.kvRows,
          kvSpans: g.kvSpans,
          ring: g.ring,
          logits: g.logits,
        };
      }
    } catch (e) {
      for (const s of this.#slots) void s.ctx.dispose();
      for (const b of built) b.dispose();
      throw e;
    }
    this.#buffers = built;
    this.#ids = new Int32Array(maxSequences);
    this.#pos = new Int32Array(maxSequences);
    this.#rows = new Int32Array(maxSequences);
    this.#spans = new Int32Array(2 * maxSequences);
    this.#ringRows = new Int32Array(maxSequences);
    this.#ringSpans = new Int32Array(2 * maxSequences);
    this.#out = new Float32Array(maxSequences * hp.vocabSize);
  }

  /** Bytes of the shared KV cache. */
  get kvBytes(): number {
    return this.#kv.bytes;
  }

  get disposing(): boolean {
    return this.#disposing;
  }

  /** @internal */
  checkTokens(tokens: ArrayLike<number>): number[] {
    return checkTokenIds(tokens, this.contextSize, this.#vocab);
  }

  /** @internal Whether a free slot (not kept for another running generation) caches more of `ids` than `held`. */
  hasBetterSlot(held: Slot, ids: readonly number[]): boolean {
    const have = held.ctx.prefixLength(ids);
    return this.#slots.some(
      (s) =>
        !s.leased && (s.reservedBy === undefined || s.reservedBy === held.reservedBy) && s.ctx.prefixLength(ids) > have,
    );
  }

  /** A new sequence: a generation's handle on the engine (leases a slot per step). */
  sequence(prompt: readonly number[]): Sequence {
    if (this.#disposing) throw new DisposedError('model');
    return new Sequence(this, prompt);
  }

  /** A sequence that holds a slot (its cache) until disposed: waits for a free one. */
  async pinned(): Promise<PinnedSequence> {
    if (this.#disposing) throw new DisposedError('model');
    const slot = await this.lease(undefined, [], {});
    slot.ctx.reset(); // a fresh conversation
    const seq = new PinnedSequence(this, slot, () => {
      this.#pinned.delete(seq);
      slot.reservedBy = undefined;
      this.release(slot);
    });
    this.#pinned.add(seq);
    return seq;
  }

  /** @internal Waits (FIFO) for a free slot: `prefer` if free, else the longest cached prefix of `hint`, else the least recently used. */
  lease(prefer: Slot | undefined, hint: readonly number[], who?: object): Promise<Slot> {
    if (this.#disposed) return Promise.reject(new DisposedError('model'));
    if (this.#waiters.length === 0) {
      const s = this.#pick(prefer, hint, who);
      if (s) return Promise.resolve(this.#take(s, who));
    }
    return new Promise<Slot>((grant, fail) => this.#waiters.push({ who, prefer, hint, grant, fail }));
  }

  /** @internal */
  release(slot: Slot): void {
    slot.leased = false;
    slot.lastUsed = ++this.#clock;
    const w = this.#waiters.shift();
    if (w) w.grant(this.#take(this.#pick(w.prefer, w.hint, w.who) ?? slot, w.who));
    else this.#checkIdle();
  }

  /** @internal Brings `slot`'s cache to `ids` (chunked, interleaved with decode steps); resolves with the last logits. */
  prefill(slot: Slot, ids: readonly number[], signal: AbortSignal | undefined): Promise<Float32Array> {
    if (ids.length > this.contextSize)
      return Promise.reject(
        new ContextOverflowError(`${ids.length} tokens do not fit the context of ${this.contextSize} tokens`),
      );
    return new Promise((resolve, reject) => {
      this.#prefills.push({ slot, ids, signal, resolve, reject });
      this.#kick();
    });
  }

  /** @internal Runs `token` at position `pos` of `slot` in the next batched decode step. */
  decode(slot: Slot, ids: readonly number[], pos: number): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.#decodes.push({ slot, ids, token: ids[pos]!, pos, resolve, reject });
      this.#kick();
    });
  }

  /** Waits for leased slots and queued steps, then frees the slots, the batch graph and the shared cache. */
  async dispose(): Promise<void> {
    this.#disposing = true;
    await Promise.all([...this.#pinned].map((s) => s.dispose()));
    while (this.#slots.some((s) => s.leased) || this.#waiters.length > 0 || this.#running)
      await new Promise<void>((r) => this.#idle.push(r));
    if (this.#disposed) return;
    this.#disposed = true;
    await Promise.all(this.#slots.map((s) => s.ctx.dispose()));
    this.#graph?.dispose();
    for (const b of this.#buffers) b.dispose();
  }

  #checkIdle(): void {
    if (this.#running || this.#waiters.length > 0 || this.#slots.some((s) => s.leased)) return;
    const idle = this.#idle;
    this.#idle = [];
    for (const r of idle) r();
  }

  #pick(prefer: Slot | undefined, hint: readonly number[], who: object | undefined): Slot | undefined {
    if (prefer && !prefer.leased) return prefer;
    return this.#best(hint, who, false) ?? this.#best(hint, who, true);
  }

  // The free slot with the longest cached prefix of `hint` (ties: least recently used), leaving slots
  // another running generation will come back to unless `anyFree`.
  #best(hint: readonly number[], who: object | undefined, anyFree: boolean): Slot | undefined {
    let best: Slot | undefined;
    let bestLen = -1;
    for (const s of this.#slots) {
      if (s.leased || (!anyFree && s.reservedBy !== undefined && s.reservedBy !== who)) continue;
      const len = s.ctx.prefixLength(hint);
      if (len > bestLen || (len === bestLen && best !== undefined && s.lastUsed < best.lastUsed)) {
        best = s;
        bestLen = len;
      }
    }
    return best;
  }

  #take(s: Slot, who: object | undefined): Slot {
    s.leased = true;
    s.reservedBy = who;
    s.lastUsed = ++this.#clock;
    return s;
  }

  #kick(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#loop();
  }

  async #loop(): Promise<void> {
    try {
      for (;;) {
        // Sequences that just got their logits sample and queue their next token: gather them into one step.
        await new Promise<void>((r) => setImmediate(r));
        if (this.#decodes.length === 0 && this.#prefills.length === 0) break;
        if (this.#decodes.length > 0) await this.#runDecodes();
        if (this.#prefills.length > 0) await this.#runPrefillChunk();
      }
    } finally {
      this.#running = false;
      this.#checkIdle();
    }
  }

  async #runDecodes(): Promise<void> {
    const batch = this.#decodes.splice(0, this.maxSequences);
    const n = batch.length;
    if (!this.#graph || !this.#step) {
      // One run per sequence over its own slot (each slot's context decodes its next token).
      for (const d of batch) {
        try {
          d.slot.logits.set(await d.slot.ctx.nextLocked(d.ids, d.slot.ctx.cacheEpoch));
          d.resolve(d.slot.logits);
        } catch (e) {
          d.reject(e);
        }
      }
      this.stats.decodeSteps += n;
      this.stats.decodeRows += n;
      return;
    }
    const ctxSize = this.contextSize;
    const ring = this.#kv.ringRows;
    for (let i = 0; i < n; i++) {
      const d = batch[i]!;
      const first = d.slot.index * ctxSize;
      this.#ids[i] = d.token;
      this.#pos[i] = d.pos;
      this.#rows[i] = first + d.pos;
      this.#spans[2 * i] = first;
      this.#spans[2 * i + 1] = d.pos + 1;
      // Ring layers: the slot's ring of `ring` rows, position p at row p % ring.
      if (ring > 0) {
        this.#ringRows[i] = d.slot.index * ring + (d.pos % ring);
        this.#ringSpans[2 * i] = d.slot.index * ring;
        this.#ringSpans[2 * i + 1] = d.pos + 1;
      }
      d.slot.ctx.noteWrite(d.pos + 1);
    }
    const vocab = this.#vocab;
    const args: StepArgs = {
      nTokens: n,
      nPast: 0,
      inputs: [
        { tensor: this.#step.ids, data: this.#ids.subarray(0, n) },
        { tensor: this.#step.positions, data: this.#pos.subarray(0, n) },
        { tensor: this.#step.kvRows, data: this.#rows.subarray(0, n) },
        { tensor: this.#step.kvSpans, data: this.#spans.subarray(0, 2 * n) },
        ...(this.#step.ring
          ? [
              { tensor: this.#step.ring.kvRows, data: this.#ringRows.subarray(0, n) },
              { tensor: this.#step.ring.kvSpans, data: this.#ringSpans.subarray(0, 2 * n) },
            ]
          : []),
      ],
      outputs: [{ tensor: this.#step.logits, data: this.#out.subarray(0, n * vocab) }],
    };
    try {
      await this.#graph.run(args);
    } catch (e) {
      for (const d of batch) d.reject(e);
      return;
    }
    this.stats.decodeSteps++;
    this.stats.decodeRows += n;
    for (let i = 0; i < n; i++) {
      const d = batch[i]!;
      d.slot.ctx.appendDecoded(d.token);
      d.slot.logits.set(this.#out.subarray(i * vocab, (i + 1) * vocab));
      d.resolve(d.slot.logits);
    }
  }

  /**
   * When another slot (running or finished) holds a longer prefix of `ids`
   * than `slot` does, copies that prefix's keys and values (at most
   * COPY_BYTES this step) instead of recomputing them. Returns whether it did.
   * Ring layers (sliding windows) copy only the positions their ring keeps:
   * the last ringRows of the copied range that the donor's ring still holds.
   */
  #copySharedPrefix(slot: Slot, ids: readonly number[]): boolean {
    const own = slot.ctx.prefixLength(ids);
    let donor: Slot | undefined;
    let best = own + MIN_SHARED - 1;
    for (const s of this.#slots) {
      if (s === slot) continue;
      const len = s.ctx.prefixLength(ids);
      if (len > best) [donor, best] = [s, len];
    }
    if (!donor) return false;
    const kv = this.#kv;
    const perToken = kv.rowBytes * 2 * kv.layers.length;
    const end = Math.min(best, own + Math.max(1, Math.floor(COPY_BYTES / perToken)));
    // The ring positions to copy, and the slot's first held ring position afterwards. Where the
    // donor's ring no longer holds a position the slot would need, nothing is copied.
    let ringFrom = own;
    let floor = slot.ctx.ringFloor;
    if (kv.ringRows > 0) {
      ringFrom = Math.max(own, end - kv.ringRows, donor.ctx.ringFloor);
      floor = ringFrom > own ? ringFrom : Math.max(floor, end - kv.ringRows);
      if (!slot.ctx.canResumeAt(end, floor)) return false;
    }
    const tmp = new Uint8Array((end - own) * kv.rowBytes);
    for (const l of kv.layers) {
      for (const base of [l.k, l.v]) {
        // Positions [from, end) of the donor's slot to the same rows of this one (mod ring).
        const from = l.ring > 0 ? ringFrom : own;
        for (let p = from; p < end;) {
          const row = l.ring > 0 ? p % l.ring : p;
          const len = l.ring > 0 ? Math.min(end - p, l.ring - row) : end - p;
          const part = tmp.subarray(0, len * kv.rowBytes);
          const at = (s: Slot): number => base + (s.index * l.rows + row) * kv.rowBytes;
          this.#backend.download(kv.buffer, at(donor), part);
          this.#backend.upload(kv.buffer, at(slot), part);
          p += len;
        }
      }
    }
    slot.ctx.adoptTokens(own, ids.slice(own, end), floor);
    this.stats.sharedTokens += end - own;
    return true;
  }

  async #runPrefillChunk(): Promise<void> {
    const p = this.#prefills.shift()!;
    if (p.signal?.aborted) return p.reject(new AbortError());
    try {
      if (this.#copySharedPrefix(p.slot, p.ids)) {
        this.#prefills.unshift(p); // computes the rest next
        return;
      }
    } catch (e) {
      return p.reject(e);
    }
    let logits: Float32Array | undefined;
    try {
      const before = p.slot.ctx.prefixLength(p.ids);
      logits = await p.slot.ctx.prefillChunkLocked(p.ids, PREFILL_CHUNK);
      this.stats.prefillTokens += p.slot.ctx.cachedTokens.length - before;
    } catch (e) {
      return p.reject(e);
    }
    if (logits) {
      p.slot.logits.set(logits);
      p.resolve(p.slot.logits);
    } else this.#prefills.push(p); // round-robin with other prompts
  }
}

/**
 * One generation's view of the engine, shaped like a context for the
 * generation loop: acquire() leases a slot (the one it had if still free),
 * the first evaluation prefills, each next token joins a batched step.
 */
export class Sequence implements GenerationTarget {
  readonly #engine: SequenceEngine;
  #slot: Slot | undefined;
  #prev: Slot | undefined;
  #hint: readonly number[];

  constructor(engine: SequenceEngine, prompt: readonly number[]) {
    this.#engine = engine;
    this.#hint = prompt;
  }

  get contextSize(): number {
    return this.#engine.contextSize;
  }

  get disposed(): boolean {
    return this.#engine.disposing;
  }

  async acquire(): Promise<() => void> {
    // While the model is disposed of, the generation loop sees `disposed` and ends with 'abort'.
    if (this.#engine.disposing) return () => undefined;
    const slot = await this.#engine.lease(this.#prev, this.#hint, this);
    this.#slot = slot;
    this.#prev = slot;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const s = this.#slot; // (prepare() may have moved it)
      this.#slot = undefined;
      if (s) this.#engine.release(s);
    };
  }

  checkTokens(tokens: ArrayLike<number>): number[] {
    return this.#engine.checkTokens(tokens);
  }

  /** The slot was leased before the prompt was tokenized: move to one that caches more of it, if free. */
  async prepare(prompt: readonly number[]): Promise<void> {
    this.#hint = prompt;
    const held = this.#slot;
    if (!held || !this.#engine.hasBetterSlot(held, prompt)) return;
    this.#slot = undefined;
    this.#engine.release(held);
    const s = await this.#engine.lease(undefined, prompt, this);
    this.#slot = s;
    this.#prev = s;
  }

  prefixLength(ids: readonly number[]): number {
    return this.#held().ctx.prefixLength(ids);
  }

  close(): void {
    if (this.#prev?.reservedBy === this) this.#prev.reservedBy = undefined;
  }

  /** Unique across slots: a sequence moved to another slot sees a different epoch. */
  get cacheEpoch(): number {
    const s = this.#held();
    return s.ctx.cacheEpoch * this.#engine.maxSequences + s.index;
  }

  evaluateLocked(ids: readonly number[], signal?: AbortSignal): Promise<Float32Array> {
    this.#hint = ids;
    return this.#engine.prefill(this.#held(), ids, signal);
  }

  nextLocked(ids: readonly number[], epoch: number, signal?: AbortSignal): Promise<Float32Array> {
    this.#hint = ids;
    const slot = this.#held();
    const pos = slot.ctx.cachedTokens.length;
    if (epoch !== this.cacheEpoch || pos !== ids.length - 1) return this.evaluateLocked(ids, signal);
    if (signal?.aborted) return Promise.reject(new AbortError());
    if (pos >= this.contextSize)
      return Promise.reject(
        new ContextOverflowError(`${pos + 1} tokens do not fit the context of ${this.contextSize} tokens`),
      );
    return this.#engine.decode(slot, ids, pos);
  }

  #held(): Slot {
    if (!this.#slot) throw new DisposedError('sequence slot (not leased)');
    return this.#slot;
  }
}

/**
 * An explicit sequence: one slot held from creation to dispose(), so what it
 * generated stays in its cache for the next call (only new tokens are
 * processed). Calls on it run one at a time, in order.
 */
export class PinnedSequence implements GenerationTarget {
  readonly #engine: SequenceEngine;
  readonly #slot: Slot;
  readonly #lock = new Mutex();
  readonly #unpin: () => void;
  #disposed = false;
  #disposing: Promise<void> | undefined;

  /** @internal */
  constructor(engine: SequenceEngine, slot: Slot, unpin: () => void) {
    this.#engine = engine;
    this.#slot = slot;
    this.#unpin = unpin;
  }

  get contextSize(): number {
    return this.#engine.contextSize;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Tokens held in this sequence's cache. */
  get cachedTokens(): readonly number[] {
    return this.#slot.ctx.cachedTokens;
  }

  acquire(): Promise<() => void> {
    return this.#lock.acquire();
  }

  checkTokens(tokens: ArrayLike<number>): number[] {
    return this.#engine.checkTokens(tokens);
  }

  prefixLength(ids: readonly number[]): number {
    return this.#slot.ctx.prefixLength(ids);
  }

  get cacheEpoch(): number {
    return this.#slot.ctx.cacheEpoch;
  }

  evaluateLocked(ids: readonly number[], signal?: AbortSignal): Promise<Float32Array> {
    if (this.#disposed) return Promise.reject(new DisposedError('sequence'));
    return this.#engine.prefill(this.#slot, ids, signal);
  }

  nextLocked(ids: readonly number[], epoch: number, signal?: AbortSignal): Promise<Float32Array> {
    const pos = this.#slot.ctx.cachedTokens.length;
    if (epoch !== this.cacheEpoch || pos !== ids.length - 1) return this.evaluateLocked(ids, signal);
    if (signal?.aborted) return Promise.reject(new AbortError());
    if (pos >= this.contextSize)
      return Promise.reject(
        new ContextOverflowError(`${pos + 1} tokens do not fit the context of ${this.contextSize} tokens`),
      );
    return this.#engine.decode(this.#slot, ids, pos);
  }

  /** Waits for its running call, then gives its slot back. Idempotent. */
  dispose(): Promise<void> {
    this.#disposing ??= (async () => {
      const release = await this.#lock.acquire();
      this.#disposed = true;
      this.#unpin();
      release();
    })();
    return this.#disposing;
  }
}
