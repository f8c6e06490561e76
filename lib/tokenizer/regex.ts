/**
 * Regexes from tokenizer.json files (`Split` pre-tokenizers, `Replace`
 * normalizers) run on RE2 (the `re2js` package): time linear in the text for
 * any pattern, so a crafted pattern such as `(a+)+b` cannot stall tokenization.
 *
 * The files are written for Oniguruma (what Hugging Face tokenizers runs), so
 * patterns are translated to RE2 syntax with the same meaning: `\s`, `\d`, `\w`
 * are Unicode classes there (ASCII in RE2); Oniguruma's `(?m)` is RE2's `(?s)`;
 * `^`/`$` are line anchors. One lookahead is supported exactly because real
 * GPT-style patterns use it: a top-level alternative `\s+(?!\S)` (a whitespace
 * run, less its last character when a non-space follows). Anything RE2 cannot
 * run in linear time or that would change meaning (other lookarounds,
 * backreferences, possessive quantifiers, `\b`, POSIX brackets) is
 * ERR_UNSUPPORTED at load.
 *
 * Empty matches are skipped (the search moves on by one code point).
 */
import { RE2JS } from 're2js';
import { UnsupportedError } from '../errors';

/** Unicode White_Space (Oniguruma's `\s`; also unicode.ts's WHITESPACE). */
const WS_RANGES: Array<[number, number]> = [
  [0x09, 0x0d],
  [0x20, 0x20],
  [0x85, 0x85],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
];

const hex = (c: number): string => `\\x{${c.toString(16)}}`;
const rangeBody = (r: Array<[number, number]>): string =>
  r.map(([a, b]) => (a === b ? hex(a) : `${hex(a)}-${hex(b)}`)).join('');
function complement(r: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let next = 0;
  for (const [a, b] of r) {
    if (a > next) out.push([next, a - 1]);
    next = b + 1;
  }
  if (next <= 0x10ffff) out.push([next, 0x10ffff]);
  return out;
}
const WS = rangeBody(WS_RANGES);
const NOT_WS = rangeBody(complement(WS_RANGES));
const WORD = '\\p{L}\\p{M}\\p{Nd}\\p{Pc}';

function unsupported(src: string, why: string): never {
  throw new UnsupportedError(`unsupported regex in tokenizer.json: ${JSON.stringify(src)} (${why})`);
}

/** Oniguruma (Ruby syntax) → RE2 syntax. Capturing groups become non-capturing. */
function translate(src: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === '\\') {
      const e = src[i + 1];
      if (e === undefined) unsupported(src, 'trailing backslash');
      i++;
      switch (e) {
        case 's':
          out += inClass ? WS : `[${WS}]`;
          break;
        case 'S':
          out += inClass ? NOT_WS : `[^${WS}]`;
          break;
        case 'd':
          out += '\\p{Nd}';
          break;
        case 'D':
          out += '\\P{Nd}';
          break;
        case 'w':
          out += inClass ? WORD : `[${WORD}]`;
          break;
        case 'W':
          if (inClass) unsupported(src, '\\W inside a character class');
          out += `[^${WORD}]`;
          break;
        case 'u': {
          const h = src.slice(i + 1, i + 5);
          if (!/^[0-9a-fA-F]{4}$/.test(h)) unsupported(src, 'bad \\u escape');
          out += `\\x{${h}}`;
          i += 4;
          break;
        }
        case 'b':
        case 'B':
        case 'G':
        case 'Z':
        case 'K':
        case 'R':
        case 'X':
        case 'h':
        case 'H':
          unsupported(src, `\\${e} has no RE2 equivalent with the same meaning`);
          break;
        default:
          if (e >= '1' && e <= '9' && !inClass) unsupported(src, 'backreferences');
          out += '\\' + e;
      }
      continue;
    }
    if (inClass) {
      if (c === '[') unsupported(src, 'nested classes and POSIX brackets');
      if (c === '&' && src[i + 1] === '&') unsupported(src, 'class intersection');
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member.
      if (src[i + 1] === '^') out += src[++i];
      if (src[i + 1] === ']') out += '\\' + src[++i];
      continue;
    }
    if (c === '(') {
      if (src[i + 1] !== '?') {
        out += '(?:';
        continue;
      }
      const rest = src.slice(i + 2);
      const named = /^<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest) ?? /^P<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest);
      if (named) {
        out += '(?:';
        i += 1 + named[0].length;
        continue;
      }
      const flags = /^([imx]*)(?:-([imx]*))?([:)])/.exec(rest);
      if (flags) {
        const on = flags[1]!;
        const off = flags[2] ?? '';
        if ((on + off).includes('x')) unsupported(src, 'extended mode (?x)');
        const map = (f: string) => f.replace('m', 's');
        out += `(?${map(on)}${off ? '-' + map(off) : ''}${flags[3]}`;
        i += 1 + flags[0].length;
        continue;
      }
      // (?: passes through; lookarounds, atomic groups and the rest are rejected by RE2 below.
      out += c;
      continue;
    }
    out += c;
  }
  if (inClass) unsupported(src, 'unterminated character class');
  return out;
}

/** Splits a pattern at its top-level `|`. */
function topLevelAlternatives(src: string): string[] {
  const alts: string[] = [];
  let depth = 0;
  let inClass = false;
  let start = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') {
      inClass = true;
      if (src[i + 1] === '^') i++;
      if (src[i + 1] === ']') i++;
    } else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      alts.push(src.slice(start, i));
      start = i + 1;
    }
  }
  alts.push(src.slice(start));
  return alts;
}

const TRAILING_WS_ALT = '\\s+(?!\\S)';

function compile(src: string, re2: string): RE2JS {
  try {
    return RE2JS.compile(re2);
  } catch (e) {
    unsupported(src, (e as Error).message);
  }
}

/** Width in UTF-16 units of the code point at `i`. */
function cpWidth(s: string, i: number): number {
  const c = s.charCodeAt(i);
  return c >= 0xd800 && c < 0xdc00 && i + 1 < s.length ? 2 : 1;
}

/** A tokenizer.json regex, ready to run in linear time. */
export class FileRegex {
  readonly source: string;
  private readonly re: RE2JS;
  /** Set when the pattern has the `\s+(?!\S)` alternative: what follows it, tried where it fails. */
  private readonly rest: RE2JS | undefined;
  private readonly hasLookahead: boolean;

  constructor(src: string) {
    this.source = src;
    const alts = topLevelAlternatives(src);
    const k = alts.indexOf(TRAILING_WS_ALT);
    if (k < 0) {
      this.re = compile(src, translate(src));
      this.hasLookahead = false;
      return;
    }
    const parts = alts.map((a, i) => (i === k ? `([${WS}]+)` : translate(a)));
    this.re = compile(src, parts.join('|'));
    this.hasLookahead = true;
    const after = alts.slice(k + 1);
    this.rest = after.length > 0 ? compile(src, after.map(translate).join('|')) : undefined;
  }

  /** Calls `cb` with the UTF-16 [start, end) of every non-empty match of `s`, left to right. */
  forEachMatch(s: string, cb: (start: number, end: number) => void): void {
    const n = s.length;
    const m = this.re.matcher(s);
    const restM = this.rest?.matcher(s);
    // The last answer of `restM`: the leftmost match at or after restFrom (restStart -1: none).
    let restFrom = -1;
    let restStart = -1;
    let restEnd = -1;
    let pos = 0;
    while (pos <= n && m.find(pos)) {
      const start = m.start();
      let end = m.end();
      if (this.hasLookahead && m.start(1) >= 0 && end < n) {
        // \s+ took the whole run and a non-space follows: \s+(?!\S) gives the run less its last character,
        // or, for a single space, fails, and the alternatives after it get their turn at `start`.
        if (end - start >= 2) end--;
        else {
          end = -1;
          if (restM) {
            if (!(restFrom >= 0 && start >= restFrom && (restStart < 0 || start <= restStart))) {
              restFrom = start;
              if (restM.find(start)) {
                restStart = restM.start();
                restEnd = restM.end();
              } else restStart = -1;
            }
            if (restStart === start) end = restEnd;
          }
          if (end < 0) {
            pos = start + cpWidth(s, start);
            continue;
          }
        }
      }
      if (end > start) {
        cb(start, end);
        pos = end;
      } else pos = start + cpWidth(s, start);
    }
  }
}
