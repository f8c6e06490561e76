/**
 * SentencePiece-style BPE as llama.cpp runs GGUF `"llama"` vocabularies:
 * start from single characters, repeatedly merge the adjacent pair whose
 * concatenation is the highest-scoring token (leftmost on ties), and spell any
 * character that never became a token as `<0xXX>` byte tokens.
 *
 * The caller has already applied the whitespace handling (leading space, ' ' → '▁').
 */
import { CLOCK_EVERY, longPiece, type Defer, type MergeJob } from './merge-job';
import { utf8Bytes } from './unicode';
import type { TokenLookup } from './token-index';

/**
 * Max-heap of bigrams by score (the leftmost first on ties), in typed arrays: no object per bigram,
 * so long texts stay linear in practice (an object heap cost 2-4x more per character at 64 KB and up:
 * garbage collection and cache misses). Popped slots are reused.
 */
class BigramHeap {
  left: Int32Array;
  right: Int32Array;
  bsize: Int32Array;
  score: Float64Array;
  private heap: Int32Array;
  private free: number[] = [];
  private used = 0;
  size = 0;

  constructor(capacity: number) {
    const c = Math.max(16, capacity);
    this.left = new Int32Array(c);
    this.right = new Int32Array(c);
    this.bsize = new Int32Array(c);
    this.score = new Float64Array(c);
    this.heap = new Int32Array(c);
  }

  /** Whether bigram a comes out before bigram b. */
  private before(a: number, b: number): boolean {
    const sa = this.score[a]!;
    const sb = this.score[b]!;
    return sa > sb || (sa === sb && this.left[a]! < this.left[b]!);
  }

  push(left: number, right: number, score: number, size: number): void {
    let b = this.free.pop();
    if (b === undefined) {
      if (this.used === this.left.length) this.grow();
      b = this.used++;
    }
    this.left[b] = left;
    this.right[b] = right;
    this.bsize[b] = size;
    this.score[b] = score;
    const h = this.heap;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(b, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = b;
  }

  /** Removes the first bigram and returns its slot (valid until the next push). Only when size > 0. */
  pop(): number {
    const h = this.heap;
    const top = h[0]!;
    const n = --this.size;
    if (n > 0) {
      const v = h[n]!;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && this.before(h[r]!, h[l]!) ? r : l;
        if (!this.before(h[c]!, v)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = v;
    }
    this.free.push(top);
    return top;
  }

  private grow(): void {
    const c = this.left.length * 2;
    const g32 = (a: Int32Array) => {
      const b = new Int32Array(c);
      b.set(a);
      return b;
    };
    this.left = g32(this.left);
    this.right = g32(this.right);
    this.bsize = g32(this.bsize);
    this.heap = g32(this.heap);
    const s = new Float64Array(c);
    s.set(this.score);
    this.score = s;
  }
}

export interface SpmOptions {
  tokenToId: TokenLookup;
  scores: ArrayLike<number>;
  unkId?: number;
}

export class SpmModel {
  private readonly byteIds = new Int32Array(256).fill(-1);

  constructor(private readonly o: SpmOptions) {
    for (let b = 0; b < 256; b++) {
      const id =
        o.tokenToId.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`) ??
        o.tokenToId.get(String.fromCharCode(b));
      if (id !== undefined) this.byteIds[b] = id;
    }
  }

  /**
   * Encodes one fragment, appending ids to `out`. With `defer`, a fragment longer than
   * `longPiece.chars` is merged later, a slice at a time (merge-job.ts): a placeholder goes in `out`.
   */
  encode(text: string, out: number[], defer?: Defer): void {
    if (text.length === 0) return;
    const job = new SpmMerge(this.o, this.byteIds, text);
    if (defer !== undefined && text.length > longPiece.chars) {
      // Each token covers at most the longest token's text, or one character (byte fallback, unk);
      // a character with neither gives no token at all, so then nothing is promised.
      const all = this.o.unkId !== undefined || this.byteIds.every((b) => b >= 0);
      job.minTokens = all ? Math.ceil(text.length / Math.max(2, this.maxTokenLength)) : 0;
      out.push(defer(job));
      return;
    }
    job.run(Infinity);
    job.finish(out);
  }

  private maxLen = 0;
  /** The longest token text (UTF-16 units). */
  private get maxTokenLength(): number {
    if (this.maxLen === 0) {
      let m = 1;
      for (const k of this.o.tokenToId.keys()) if (k.length > m) m = k.length;
      this.maxLen = m;
    }
    return this.maxLen;
  }
}

/** One fragment's merge loop; resumable: run() stops at a deadline and goes on where it stopped. */
class SpmMerge implements MergeJob {
  minTokens = 0;
  // Symbols: UTF-16 start and length of each character; len 0 = merged away.
  private readonly st: Int32Array;
  private readonly len: Int32Array;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly n: number;
  private readonly heap: BigramHeap;
  /** Next symbol whose bigram with the one before is queued in the initial pass; n once done. */
  private queued = 1;

  constructor(
    private readonly o: SpmOptions,
    private readonly byteIds: Int32Array,
    private readonly text: string,
  ) {
    const n16 = text.length;
    const st = (this.st = new Int32Array(n16));
    const len = (this.len = new Int32Array(n16));
    const next = (this.next = new Int32Array(n16));
    const prev = (this.prev = new Int32Array(n16));
    let n = 0;
    for (let i = 0; i < n16;) {
      const c = text.charCodeAt(i);
      const w = c >= 0xd800 && c < 0xdc00 && i + 1 < n16 ? 2 : 1;
      st[n] = i;
      len[n] = w;
      prev[n] = n - 1;
      next[n] = i + w < n16 ? n + 1 : -1;
      n++;
      i += w;
    }
    this.n = n;
    this.heap = new BigramHeap(n);
  }

  private tryAdd(left: number, right: number): void {
    if (left < 0 || right < 0) return;
    const { st, len } = this;
    const id = this.o.tokenToId.get(this.text.slice(st[left], st[right]! + len[right]!));
    if (id === undefined) return;
    this.heap.push(left, right, this.o.scores[id] ?? 0, len[left]! + len[right]!);
  }

  run(deadline: number): boolean {
    const { len, next, prev, heap } = this;
    let steps = 0;
    while (this.queued < this.n) {
      this.tryAdd(this.queued - 1, this.queued);
      this.queued++;
      if (++steps === CLOCK_EVERY) {
        steps = 0;
        if (performance.now() > deadline) return false;
      }
    }
    while (heap.size > 0) {
      if (++steps === CLOCK_EVERY) {
        steps = 0;
        if (performance.now() > deadline) return false;
      }
      const b = heap.pop();
      const left = heap.left[b]!;
      const right = heap.right[b]!;
      const size = heap.bsize[b]!;
      // Skip bigrams made stale by an earlier merge.
      if (len[left] === 0 || len[right] === 0 || len[left]! + len[right]! !== size) continue;
      len[left] = size;
      len[right] = 0;
      const k = next[right]!;
      next[left] = k;
      if (k >= 0) prev[k] = left;
      this.tryAdd(prev[left]!, left);
      this.tryAdd(left, k);
    }
    return true;
  }

  finish(out: number[]): void {
    const { st, len, next, text } = this;
    const t = this.o.tokenToId;
    for (let i = 0; i !== -1; i = next[i]!) {
      const piece = text.slice(st[i], st[i]! + len[i]!);
      const id = t.get(piece);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      // Merged symbols are always tokens, so only single characters get here.
      for (const b of utf8Bytes(piece)) {
        const bid = this.byteIds[b]!;
        if (bid >= 0) out.push(bid);
        else if (this.o.unkId !== undefined) out.push(this.o.unkId);
      }
    }
  }
}
