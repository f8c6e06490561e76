/**
 * Splits text around special / added tokens before the model sees it, the way
 * llama.cpp's tokenizer_st_partition does: tokens are tried longest first, each
 * over every remaining text fragment, left to right. Control tokens take part
 * only when parsing specials; user-defined (added) tokens always do.
 */
import { wellFormed } from './unicode';
import { ATTR_CONTROL, ATTR_LSTRIP, ATTR_RSTRIP, ATTR_UNKNOWN, ATTR_UNUSED, ATTR_USER_DEFINED } from './vocab';

export type Fragment = { token: number } | { start: number; end: number };

interface Candidate {
  id: number;
  text: string;
  /** UTF-8 length: llama.cpp tries longer tokens first by byte length. */
  bytes: number;
  always: boolean;
  lstrip: boolean;
  rstrip: boolean;
}

/** C isspace(): llama.cpp strips only ASCII whitespace around lstrip/rstrip tokens. */
function isCSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

export class SpecialMatcher {
  private readonly candidates: Candidate[];
  /** Longest candidate, in UTF-16 units. */
  private readonly maxLength: number;

  constructor(tokens: readonly string[], attrs: Uint16Array) {
    const c: Candidate[] = [];
    for (let id = 0; id < tokens.length; id++) {
      const a = attrs[id]!;
      if (!(a & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN))) continue;
      const text = tokens[id]!;
      if (text.length === 0) continue;
      c.push({
        id,
        text,
        bytes: Buffer.byteLength(text),
        always: (a & (ATTR_CONTROL | ATTR_UNKNOWN | ATTR_UNUSED)) === 0,
        lstrip: (a & ATTR_LSTRIP) !== 0,
        rstrip: (a & ATTR_RSTRIP) !== 0,
      });
    }
    // Longest first; ties by id so the order is deterministic.
    c.sort((x, y) => y.bytes - x.bytes || x.id - y.id);
    this.candidates = c;
    this.maxLength = c.reduce((m, x) => Math.max(m, x.text.length), 0);
  }

  /** Whether a token looked for (with `parseSpecial`) occurs within its own length of index `i`. */
  near(text: string, i: number, parseSpecial: boolean): boolean {
    let window: string | undefined;
    for (const cand of this.candidates) {
      if (!parseSpecial && !cand.always) continue;
      window ??= wellFormed(text.slice(Math.max(0, i - this.maxLength), i + this.maxLength));
      if (window.includes(cand.text)) return true;
    }
    return false;
  }

  /** Whether any token would be looked for in text (to skip the work entirely). */
  hasCandidates(parseSpecial: boolean): boolean {
    return this.candidates.some((c) => parseSpecial || c.always);
  }

  partition(text: string, parseSpecial: boolean): Fragment[] {
    let frags: Fragment[] = [{ start: 0, end: text.length }];
    for (const cand of this.candidates) {
      if (!parseSpecial && !cand.always) continue;
      if (text.indexOf(cand.text) < 0) continue;
      const next: Fragment[] = [];
      for (const f of frags) {
        if ('token' in f) {
          next.push(f);
          continue;
        }
        this.splitFragment(text, f.start, f.end, cand, next);
      }
      frags = next;
    }
    return frags;
  }

  private splitFragment(text: string, start: number, end: number, cand: Candidate, out: Fragment[]): void {
    // Search inside this fragment only, so the total work per token stays linear in the text.
    const sub = text.slice(start, end);
    const tl = cand.text.length;
    let from = 0;
    for (;;) {
      const m = sub.indexOf(cand.text, from);
      if (m < 0) break;
      let leftEnd = start + m;
      if (cand.lstrip) while (leftEnd > start + from && isCSpace(text.charCodeAt(leftEnd - 1))) leftEnd--;
      if (leftEnd > start + from) out.push({ start: start + from, end: leftEnd });
      out.push({ token: cand.id });
      from = m + tl;
      if (cand.rstrip) while (from < sub.length && isCSpace(sub.charCodeAt(from))) from++;
    }
    if (from < sub.length) out.push({ start: start + from, end });
  }
}
