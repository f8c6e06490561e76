/**
 * Code point sets → UTF-8 byte automata. The matcher works on bytes, so a
 * character split across two tokens is simply a byte sequence that continues
 * in the next token; only well-formed UTF-8 (no surrogates, no overlong
 * forms) is ever accepted.
 */
import type { CodePointRange } from './ast';

/** One way to spell some code points: a byte range per position, e.g. [[0xC2,0xDF],[0x80,0xBF]]. */
export type ByteSeq = Array<readonly [number, number]>;

const LIMITS = [0x7f, 0x7ff, 0xffff, 0x10ffff];

export function utf8Encode(cp: number): number[] {
  if (cp < 0x80) return [cp];
  if (cp < 0x800) return [0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)];
  if (cp < 0x10000) return [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
  return [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
}

function split(lo: number, hi: number, out: ByteSeq[]): void {
  if (lo > hi) return;
  // Surrogates have no UTF-8 spelling.
  if (lo <= 0xdfff && hi >= 0xd800) {
    split(lo, 0xd7ff, out);
    split(0xe000, hi, out);
    return;
  }
  // One encoded length at a time.
  for (const limit of LIMITS) {
    if (lo <= limit && hi > limit) {
      split(lo, limit, out);
      split(limit + 1, hi, out);
      return;
    }
  }
  if (hi < 0x80) {
    out.push([[lo, hi]]);
    return;
  }
  // Split until every byte position is an independent range.
  const n = utf8Encode(lo).length;
  for (let i = 1; i < n; i++) {
    const m = (1 << (6 * i)) - 1;
    if ((lo & ~m) !== (hi & ~m)) {
      if ((lo & m) !== 0) {
        split(lo, lo | m, out);
        split((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) !== m) {
        split(lo, (hi & ~m) - 1, out);
        split(hi & ~m, hi, out);
        return;
      }
    }
  }
  const a = utf8Encode(lo),
    b = utf8Encode(hi);
  out.push(a.map((x, i) => [x, b[i]!] as const));
}

/** The byte sequences spelling exactly the code points in `ranges`. */
export function utf8Sequences(ranges: readonly CodePointRange[]): ByteSeq[] {
  const out: ByteSeq[] = [];
  for (const [lo, hi] of ranges) split(lo, hi, out);
  return out;
}
