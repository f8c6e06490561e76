/**
 * Rank-based BPE (GPT-2 / Llama 3 / Qwen2 byte-level vocabularies, and HF
 * `"BPE"` models such as Llama 2's tokenizer.json with byte fallback).
 *
 * Merges are applied lowest rank first, leftmost first on ties: the order
 * both llama.cpp and Hugging Face use. Symbols are token ids, so a merge is one
 * Map lookup on a packed (left id, right id) key.
 */
import { BYTE_TO_CHAR } from './byte-level';
import { NumberHeap } from './heap';
import { CLOCK_EVERY, longPiece, type Defer, type MergeJob } from './merge-job';
import { PairTable } from './pair-table';
import { utf8Encode } from './unicode';
import type { TokenLookup } from './token-index';

export interface BpeOptions {
  tokenToId: TokenLookup;
  tokens: readonly string[];
  /** In rank order: "left right" strings or [left, right] pairs. Not read when `mergeIds` is given. */
  merges: ArrayLike<string | readonly string[]>;
  /** The merges as the ids of their sides, -1 for a side that is not a token (spec.ts TokenizerJsonParts). */
  mergeIds?: Int32Array | undefined; // [n_merges * 2]
  /** Symbols are the UTF-8 bytes of a piece, spelled with GPT-2's byte characters. */
  byteLevel: boolean;
  /** Characters missing from the vocabulary become `<0xXX>` byte tokens (char-level models only). */
  byteFallback?: boolean;
  /** Token for characters that are missing and have no byte fallback (char-level models). */
  unkId?: number;
  fuseUnk?: boolean;
  /** A piece that is itself a token is emitted whole, without merging (Llama 3). */
  ignoreMerges?: boolean;
}

// Module-level: a global (Math.floor) looked up in a hot loop is ~30x slower inside a vm context (jest).
const floor = Math.floor;

/** Words longer than this use the heap; shorter ones a plain scan (faster for short words). */
const SCAN_MAX = 48;
/** Pieces longer than this are not cached (they are rare, and keep the cache small). */
const CACHE_MAX_PIECE = 64;
const CACHE_MAX_ENTRIES = 200_000;

export class BpeModel {
  private pairTable: PairTable | undefined;
  private readonly byteToId = new Int32Array(256).fill(-1);
  private readonly byteTokenId = new Int32Array(256).fill(-1);
  /** Char-level models: the id of each character (-1: not a token; -2: not looked up yet). */
  private readonly charIds = new Map<number, number>();
  private readonly bmpIds = new Int32Array(0x10000).fill(-2);
  private cache = new Map<string, readonly number[]>();
  private scratch = new Uint8Array(1024);
  // Reused work arrays for the merge loop.
  private ids = new Int32Array(64);
  private next = new Int32Array(64);
  private prev = new Int32Array(64);

  constructor(private readonly o: BpeOptions) {
    const t = o.tokenToId;
    for (let b = 0; b < 256; b++) {
      const id = t.get(BYTE_TO_CHAR[b]!);
      if (id !== undefined) this.byteToId[b] = id;
      const hex = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
      const bid = t.get(hex);
      if (bid !== undefined) this.byteTokenId[b] = bid;
    }
  }

  /** Merges [0, pairsBuilt) are in `pairsPartial`; `pairTable` is set once all are. */
  private pairsPartial: PairTable | undefined;
  private pairsBuilt = 0;
  private preparing: Promise<void> | undefined;

  /**
   * The merge table, built on first use: loading stays fast (150k merges cost
   * tens of ms), and a tokenizer used only to detokenize never pays for it.
   * prepare() builds it a slice at a time instead; this getter finishes what is left.
   */
  private get pairs(): PairTable {
    if (this.pairTable) return this.pairTable;
    this.buildPairs(Infinity);
    return this.pairTable!;
  }

  /** Builds the merge table in slices of ~5 ms with the event loop free in between (tokenizeAsync). */
  prepare(): Promise<void> {
    if (this.pairTable) return Promise.resolve();
    this.preparing ??= (async () => {
      while (!this.buildPairs(performance.now() + 5)) await new Promise((r) => setImmediate(r));
    })();
    return this.preparing;
  }

  /** Adds merges to the table until done (true) or past the deadline (false). */
  private buildPairs(deadline: number): boolean {
    const ids = this.o.mergeIds;
    if (ids !== undefined) return this.buildPairsFromIds(ids, deadline);
    const m = this.o.merges;
    const t = this.o.tokenToId;
    const pairs = (this.pairsPartial ??= new PairTable(m.length));
    let r = this.pairsBuilt;
    while (r < m.length) {
      // Often: an add can fault in a fresh page of the table (~12 µs each on a VM).
      if ((r & 127) === 0 && r > this.pairsBuilt && performance.now() > deadline) break;
      const e = m[r]!;
      let a: string | undefined;
      let b: string | undefined;
      if (typeof e === 'string') {
        // Split at the first space after the first character, as llama.cpp does.
        const sp = e.indexOf(' ', 1);
        a = sp < 0 ? undefined : e.slice(0, sp);
        b = sp < 0 ? undefined : e.slice(sp + 1);
      } else {
        a = e[0];
        b = e[1];
      }
      const ia = a === undefined ? undefined : t.get(a);
      const ib = b === undefined ? undefined : t.get(b);
      if (ia !== undefined && ib !== undefined) pairs.add(ia, ib, r);
      r++;
    }
    this.pairsBuilt = r;
    if (r < m.length) return false;
    this.pairTable = pairs;
    return true;
  }

  /** buildPairs from merges given as ids. */
  private buildPairsFromIds(ids: Int32Array, deadline: number): boolean {
    const n = ids.length >> 1;
    const pairs = (this.pairsPartial ??= new PairTable(n));
    let r = this.pairsBuilt;
    while (r < n) {
      if ((r & 255) === 0 && r > this.pairsBuilt && performance.now() > deadline) break;
      const a = ids[2 * r]!;
      const b = ids[2 * r + 1]!;
      if (a >= 0 && b >= 0) pairs.add(a, b, r);
      r++;
    }
    this.pairsBuilt = r;
    if (r < n) return false;
    this.pairTable = pairs;
    return true;
  }

  /**
   * Encodes one pre-tokenized piece, appending ids to `out`. With `defer`, a piece longer than
   * `longPiece.chars` is merged later, a slice at a time (merge-job.ts): a placeholder goes in `out`.
   */
  encode(piece: string, out: number[], defer?: Defer): void {
    if (piece.length === 0) return;
    if (defer !== undefined && piece.length > longPiece.chars) {
      this.encodeUncached(piece, out, defer);
      return;
    }
    const cacheable = piece.length <= CACHE_MAX_PIECE;
    if (cacheable) {
      const hit = this.cache.get(piece);
      if (hit !== undefined) {
        for (let i = 0; i < hit.length; i++) out.push(hit[i]!);
        return;
      }
    }
    const res: number[] = [];
    this.encodeUncached(piece, res);
    if (cacheable) {
      if (this.cache.size >= CACHE_MAX_ENTRIES) this.cache = new Map();
      this.cache.set(piece, res);
    }
    for (let i = 0; i < res.length; i++) out.push(res[i]!);
  }

  private encodeUncached(piece: string, out: number[], defer?: Defer): void {
    let n: number;
    if (this.o.byteLevel) {
      if (this.scratch.length < piece.length * 3) this.scratch = new Uint8Array(piece.length * 3 + 16);
      const bytes = this.scratch;
      n = utf8Encode(piece, 0, piece.length, bytes, 0);
      if (this.o.ignoreMerges && n <= this.maxTokenLength) {
        let s = '';
        for (let i = 0; i < n; i++) s += BYTE_TO_CHAR[bytes[i]!]!;
        const whole = this.o.tokenToId.get(s);
        if (whole !== undefined) {
          out.push(whole);
          return;
        }
      }
      this.reserve(n);
      for (let i = 0; i < n; i++) this.ids[i] = this.byteToId[bytes[i]!]!;
    } else {
      if (this.o.ignoreMerges && piece.length <= this.maxTokenLength) {
        const whole = this.o.tokenToId.get(piece);
        if (whole !== undefined) {
          out.push(whole);
          return;
        }
      }
      n = this.charSymbols(piece);
    }
    if (n === 0) return;
    const ids = this.ids;
    if (defer !== undefined && n > SCAN_MAX) {
      // The job owns its arrays (other pieces, and other calls, are tokenized meanwhile).
      const own = ids.slice(0, n);
      let valid = 0;
      for (let i = 0; i < n; i++) if (own[i]! >= 0) valid++;
      const job = new HeapMerge(this, own, new Int32Array(n), new Int32Array(n), n);
      job.minTokens = Math.ceil(valid / this.maxTokenLength);
      out.push(defer(job));
      return;
    }
    if (n > 1) {
      if (n <= SCAN_MAX) {
        this.mergeScan(n);
        emitList(ids, this.next, out);
      } else {
        const job = new HeapMerge(this, ids, this.next, this.prev, n);
        job.run(Infinity);
        job.finish(out);
      }
    } else if (ids[0]! >= 0) out.push(ids[0]!);
  }

  private maxLen = 0;
  /** The longest token text (UTF-16 units; a token merges at most that many symbols). */
  private get maxTokenLength(): number {
    if (this.maxLen === 0) {
      let m = 1;
      for (const t of this.o.tokens) if (t !== undefined && t.length > m) m = t.length;
      this.maxLen = m;
    }
    return this.maxLen;
  }

  private reserve(n: number): void {
    if (this.ids.length < n) {
      const size = Math.max(n, this.ids.length * 2);
      this.ids = new Int32Array(size);
      this.next = new Int32Array(size);
      this.prev = new Int32Array(size);
    }
  }

  /** Char-level models: one symbol per codepoint, with byte fallback / unk for unknown characters. */
  private charSymbols(piece: string): number {
    this.reserve(piece.length * 4);
    const t = this.o.tokenToId;
    let n = 0;
    let prevUnk = false;
    // By index, without a string per character (the strings cost ~4x the rest on long pieces).
    for (let i = 0; i < piece.length;) {
      const cp = piece.codePointAt(i)!;
      i += cp > 0xffff ? 2 : 1;
      let id = cp < 0x10000 ? this.bmpIds[cp]! : (this.charIds.get(cp) ?? -2);
      if (id === -2) {
        id = t.get(String.fromCodePoint(cp)) ?? -1;
        if (cp < 0x10000) this.bmpIds[cp] = id;
        else this.charIds.set(cp, id);
      }
      if (id >= 0) {
        this.ids[n++] = id;
        prevUnk = false;
        continue;
      }
      if (this.o.byteFallback) {
        const bytes = new TextEncoder().encode(String.fromCodePoint(cp));
        let ok = true;
        for (const b of bytes) if (this.byteTokenId[b]! < 0) ok = false;
        if (ok) {
          for (const b of bytes) this.ids[n++] = this.byteTokenId[b]!;
          prevUnk = false;
          continue;
        }
      }
      if (this.o.unkId === undefined) continue;
      if (this.o.fuseUnk && prevUnk) continue;
      this.ids[n++] = this.o.unkId;
      prevUnk = true;
    }
    return n;
  }

  /**
   * Rank of merging (a, b), or -1. The merged id is resolved on first use
   * (saves a string concatenation per merge at load); a merge whose result is
   * not a token never fires (HF refuses such files).
   */
  /** @internal */
  lookup(a: number, b: number): number {
    if (a < 0 || b < 0) return -1;
    const pairs = this.pairTable ?? this.pairs;
    const slot = pairs.find(a, b);
    if (slot < 0) return -1;
    let m = pairs.mergedAt(slot);
    if (m === -2) {
      m = this.o.tokenToId.get(this.o.tokens[a]! + this.o.tokens[b]!) ?? -1;
      pairs.setMerged(slot, m);
    }
    return m < 0 ? -1 : pairs.rankAt(slot);
  }

  /** @internal */
  mergedId(a: number, b: number): number {
    const pairs = this.pairs;
    return pairs.mergedAt(pairs.find(a, b));
  }

  /** O(n²) scan for short words: lowest rank, leftmost on ties. */
  private mergeScan(n: number): void {
    const { ids, next } = this;
    for (let i = 0; i < n; i++) next[i] = i + 1 < n ? i + 1 : -1;
    for (;;) {
      let best = 0x7fffffff;
      let at = -1;
      for (let i = 0; next[i]! !== -1; i = next[i]!) {
        const r = this.lookup(ids[i]!, ids[next[i]!]!);
        if (r >= 0 && r < best) {
          best = r;
          at = i;
        }
      }
      if (at < 0) return;
      ids[at] = this.mergedId(ids[at]!, ids[next[at]!]!);
      next[at] = next[next[at]!]!;
    }
  }
}

/** The symbols left in the linked list, in order (a byte missing from the vocabulary is dropped, as llama.cpp does). */
function emitList(ids: Int32Array, next: Int32Array, out: number[]): void {
  for (let i = 0; i !== -1; i = next[i]!) {
    const id = ids[i]!;
    if (id >= 0) out.push(id);
  }
}

/**
 * Heap + linked list for long words: O(n log n). Resumable: run() stops at a deadline and goes on
 * where it stopped (tokenizeAsync); encode() runs it with no deadline.
 */
class HeapMerge implements MergeJob {
  minTokens = 0;
  private readonly span: number;
  private readonly heap = new NumberHeap();
  private readonly alive: Uint8Array;
  /** Next symbol to link and queue (with the one after it) in the initial pass; n once it is done. */
  private queued = 0;

  constructor(
    private readonly model: BpeModel,
    private readonly ids: Int32Array,
    private readonly next: Int32Array,
    private readonly prev: Int32Array,
    private readonly n: number,
  ) {
    // key = rank * span + left position: pops lowest rank, then leftmost.
    let span = 1;
    while (span <= n) span *= 2;
    this.span = span;
    this.alive = new Uint8Array(n).fill(1);
  }

  private push(i: number): void {
    const j = this.next[i]!;
    if (j < 0) return;
    const r = this.model.lookup(this.ids[i]!, this.ids[j]!);
    if (r >= 0) this.heap.push(r * this.span + i);
  }

  run(deadline: number): boolean {
    const { ids, next, prev, alive, heap, span, model } = this;
    let steps = 0;
    // The initial pass links the symbols and queues every pair (inside run(): it is O(n) work too).
    const n = this.n;
    while (this.queued < n) {
      const i = this.queued++;
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
      this.push(i);
      if (++steps === CLOCK_EVERY) {
        steps = 0;
        if (performance.now() > deadline) return false;
      }
    }
    for (;;) {
      if (++steps === CLOCK_EVERY) {
        steps = 0;
        if (performance.now() > deadline) return false;
      }
      const key = heap.pop();
      if (key === undefined) return true;
      const rank = floor(key / span);
      const i = key - rank * span;
      if (!alive[i]) continue;
      const j = next[i]!;
      if (j < 0) continue;
      // Stale entry: the pair at i changed since it was queued.
      if (model.lookup(ids[i]!, ids[j]!) !== rank) continue;
      ids[i] = model.mergedId(ids[i]!, ids[j]!);
      alive[j] = 0;
      const k = next[j]!;
      next[i] = k;
      if (k >= 0) prev[k] = i;
      const p = prev[i]!;
      if (p >= 0) this.push(p);
      this.push(i);
    }
  }

  finish(out: number[]): void {
    emitList(this.ids, this.next, out);
  }
}
