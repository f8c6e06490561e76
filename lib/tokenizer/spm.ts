/**
 * SentencePiece-style BPE as llama.cpp runs GGUF `"llama"` vocabularies:
 * start from single characters, repeatedly merge the adjacent pair whose
 * concatenation is the highest-scoring token (leftmost on ties), and spell any
 * character that never became a token as `<0xXX>` byte tokens.
 *
 * The caller has already applied the whitespace handling (leading space, ' ' → '▁').
 */
import { Heap } from './heap';
import { utf8Bytes } from './unicode';

interface Bigram {
  left: number;
  right: number;
  score: number;
  size: number;
}

export interface SpmOptions {
  tokenToId: ReadonlyMap<string, number>;
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

  encode(text: string, out: number[]): void {
    const n16 = text.length;
    if (n16 === 0) return;
    const t = this.o.tokenToId;
    const scores = this.o.scores;
    // Symbols: UTF-16 start and length of each character; len 0 = merged away.
    const st = new Int32Array(n16);
    const len = new Int32Array(n16);
    const next = new Int32Array(n16);
    const prev = new Int32Array(n16);
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

    const heap = new Heap<Bigram>((x, y) => x.score > y.score || (x.score === y.score && x.left < y.left));
    const tryAdd = (left: number, right: number) => {
      if (left < 0 || right < 0) return;
      const id = t.get(text.slice(st[left], st[right]! + len[right]!));
      if (id === undefined) return;
      heap.push({ left, right, score: scores[id] ?? 0, size: len[left]! + len[right]! });
    };
    for (let i = 1; i < n; i++) tryAdd(i - 1, i);

    for (;;) {
      const bg = heap.pop();
      if (bg === undefined) break;
      const { left, right } = bg;
      // Skip bigrams made stale by an earlier merge.
      if (len[left] === 0 || len[right] === 0 || len[left]! + len[right]! !== bg.size) continue;
      len[left] = bg.size;
      len[right] = 0;
      const k = next[right]!;
      next[left] = k;
      if (k >= 0) prev[k] = left;
      tryAdd(prev[left]!, left);
      tryAdd(left, k);
    }

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
