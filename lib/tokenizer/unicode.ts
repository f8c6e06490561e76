/**
 * Codepoint classes for the pre-tokenizers, with the meanings llama.cpp gives
 * them: \p{L}, \p{N}, \p{P}, and whitespace = the Unicode White_Space property
 * (JS's \s differs: it adds U+FEFF and lacks U+0085).
 */

export const LETTER = 1;
export const NUMBER = 2;
export const WHITESPACE = 4;
export const PUNCT = 8;
/** Set once a codepoint's entry has been computed (entries fill lazily). */
const KNOWN = 128;

const table = new Uint8Array(0x110000);

const WHITE_SPACE = [
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006,
  0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
];
const whiteSet = new Set(WHITE_SPACE);

const reL = /^\p{L}$/u;
const reN = /^\p{N}$/u;
const reP = /^\p{P}$/u;

function compute(cp: number): number {
  // Lone surrogates never reach here (inputs are made well-formed first).
  const s = String.fromCodePoint(cp);
  let f = KNOWN;
  if (reL.test(s)) f |= LETTER;
  else if (reN.test(s)) f |= NUMBER;
  if (whiteSet.has(cp)) f |= WHITESPACE;
  if (reP.test(s)) f |= PUNCT;
  table[cp] = f;
  return f;
}

for (let cp = 0; cp < 256; cp++) compute(cp);

/** Class bits of a codepoint (LETTER | NUMBER | WHITESPACE | PUNCT). */
export function cpFlags(cp: number): number {
  const f = table[cp]!;
  return (f !== 0 ? f : compute(cp)) & 0x7f;
}

/** A fragment as codepoints, with their class bits and UTF-16 offsets (so pieces can be sliced back out). */
export interface CodepointView {
  readonly text: string;
  readonly cps: Uint32Array;
  readonly flags: Uint8Array;
  /** `pos[i]` = UTF-16 index of codepoint i; `pos[n]` = text.length. */
  readonly pos: Uint32Array;
  readonly length: number;
}

export function toCodepoints(text: string): CodepointView {
  const n16 = text.length;
  const cps = new Uint32Array(n16);
  const flags = new Uint8Array(n16);
  const pos = new Uint32Array(n16 + 1);
  let n = 0;
  for (let i = 0; i < n16;) {
    let cp = text.charCodeAt(i);
    pos[n] = i;
    if (cp >= 0xd800 && cp < 0xdc00 && i + 1 < n16) {
      const lo = text.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo < 0xe000) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i += 2;
      } else i += 1;
    } else i += 1;
    cps[n] = cp;
    const f = table[cp]!;
    flags[n] = (f !== 0 ? f : compute(cp)) & 0x7f;
    n++;
  }
  pos[n] = n16;
  return { text, cps, flags, pos, length: n };
}

const loneSurrogate = /\p{Cs}/u;

/**
 * Replaces lone surrogates by U+FFFD: the same bytes any UTF-8 encoder (and so
 * llama.cpp, fed through Node) sees for such a string.
 */
export function wellFormed(text: string): string {
  // Node 20+: native and several times faster than the regex on long texts.
  const t = text as string & { isWellFormed?: () => boolean; toWellFormed?: () => string };
  if (typeof t.isWellFormed === 'function' && typeof t.toWellFormed === 'function')
    return t.isWellFormed() ? text : t.toWellFormed();
  if (!loneSurrogate.test(text)) return text;
  return text.replace(/\p{Cs}/gu, '\uFFFD');
}

/** Encodes a JS string (assumed well-formed) to UTF-8, appending to `out` from `at`; returns the new end. */
export function utf8Encode(text: string, start: number, end: number, out: Uint8Array, at: number): number {
  let j = at;
  for (let i = start; i < end; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) out[j++] = c;
    else if (c < 0x800) {
      out[j++] = 0xc0 | (c >> 6);
      out[j++] = 0x80 | (c & 63);
    } else if (c >= 0xd800 && c < 0xdc00 && i + 1 < end) {
      const lo = text.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        i++;
        out[j++] = 0xf0 | (c >> 18);
        out[j++] = 0x80 | ((c >> 12) & 63);
        out[j++] = 0x80 | ((c >> 6) & 63);
        out[j++] = 0x80 | (c & 63);
      } else {
        out[j++] = 0xef;
        out[j++] = 0xbf;
        out[j++] = 0xbd;
      }
    } else if (c >= 0xd800 && c < 0xe000) {
      out[j++] = 0xef;
      out[j++] = 0xbf;
      out[j++] = 0xbd;
    } else {
      out[j++] = 0xe0 | (c >> 12);
      out[j++] = 0x80 | ((c >> 6) & 63);
      out[j++] = 0x80 | (c & 63);
    }
  }
  return j;
}

const encoder = new TextEncoder();
export function utf8Bytes(s: string): Uint8Array {
  return encoder.encode(s);
}
