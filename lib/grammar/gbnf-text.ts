/** Writing GBNF: literals and character classes with the escapes the parser reads back. */
import type { CodePointRange } from './ast';

function escapeCp(cp: number, special: string): string {
  const ch = String.fromCodePoint(cp);
  if (ch === '^' && special.includes(ch)) return '\\x5e';
  if (special.includes(ch)) return `\\${ch}`;
  if (cp === 10) return '\\n';
  if (cp === 13) return '\\r';
  if (cp === 9) return '\\t';
  if (cp < 0x20 || cp === 0x7f) return `\\x${cp.toString(16).padStart(2, '0')}`;
  if (cp >= 0x80 && cp <= 0xa0) return `\\u${cp.toString(16).padStart(4, '0')}`;
  return ch;
}

/** A GBNF literal matching exactly `text`. */
export function gbnfLiteral(text: string): string {
  let out = '"';
  for (const ch of text) out += escapeCp(ch.codePointAt(0)!, '"\\');
  return `${out}"`;
}

/** A GBNF class matching exactly the code points in `ranges` (normalized, non-empty). */
export function gbnfClass(ranges: readonly CodePointRange[]): string {
  let out = '[';
  for (const [lo, hi] of ranges) {
    out += escapeCp(lo, '\\]-^[');
    if (hi > lo) out += `-${escapeCp(hi, '\\]-^[')}`;
  }
  return `${out}]`;
}
