/**
 * JSON Schema `pattern` → GBNF for the contents of a JSON string.
 *
 * The supported subset of ECMAScript regular expressions (as ajv runs them,
 * with the `u` flag): literals, `.`, classes `[...]` / `[^...]` with ranges,
 * `\d \D \w \W \s \S`, escapes (`\n \t \r \f \v \0 \xHH \uHHHH \u{H...} \cX`
 * and escaped syntax characters), groups `(...)` `(?:...)` `(?<name>...)`,
 * `|`, quantifiers `* + ? {n} {n,} {n,m}` (lazy forms too), and `^` / `$`
 * at the very start / end. A pattern is a search, as in JSON Schema: without
 * `^` (or `$`) any text may come before (or after) the match. Word
 * boundaries, back-references, lookaround and `\p{...}` are ERR_UNSUPPORTED.
 *
 * A pattern matches the decoded string, so each character is written the
 * way JSON needs it: `"` `\` and control characters as escapes.
 */
import { UnsupportedError, InvalidArgumentError } from '../errors';
import { complementRanges, MAX_CODE_POINT, normalizeRanges, type CodePointRange } from './ast';
import { gbnfClass, gbnfLiteral } from './gbnf-text';

type Node =
  | { t: 'set'; ranges: CodePointRange[] }
  | { t: 'seq'; items: Node[] }
  | { t: 'alt'; alts: Node[] }
  | { t: 'rep'; item: Node; min: number; max: number }
  | { t: 'anchor'; which: '^' | '$' };

const DIGIT: CodePointRange[] = [[0x30, 0x39]];
const WORD: CodePointRange[] = normalizeRanges([
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
]);
const SPACE: CodePointRange[] = normalizeRanges([
  [0x09, 0x0d],
  [0x20, 0x20],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff],
]);
const LINE_TERMINATORS: CodePointRange[] = [
  [0x0a, 0x0a],
  [0x0d, 0x0d],
  [0x2028, 0x2029],
];
const SYNTAX = '^$\\.*+?()[]{}|/-';

class RegexParser {
  readonly #src: string;
  #pos = 0;
  constructor(src: string) {
    this.#src = src;
  }

  #fail(what: string): never {
    throw new UnsupportedError(`pattern ${JSON.stringify(this.#src)}: ${what} (at offset ${this.#pos})`);
  }

  #bad(what: string): never {
    throw new InvalidArgumentError(`pattern ${JSON.stringify(this.#src)} is not a valid regular expression: ${what}`);
  }

  #peek(): string | undefined {
    return this.#src[this.#pos];
  }

  parse(): Node {
    const n = this.#alt();
    if (this.#pos < this.#src.length) this.#bad(`unexpected "${this.#peek()}"`);
    return n;
  }

  #alt(): Node {
    const alts = [this.#seq()];
    while (this.#peek() === '|') {
      this.#pos++;
      alts.push(this.#seq());
    }
    return alts.length === 1 ? alts[0]! : { t: 'alt', alts };
  }

  #seq(): Node {
    const items: Node[] = [];
    for (;;) {
      const c = this.#peek();
      if (c === undefined || c === '|' || c === ')') break;
      let atom = this.#atom();
      atom = this.#quantified(atom);
      items.push(atom);
    }
    return { t: 'seq', items };
  }

  #quantified(atom: Node): Node {
    const c = this.#peek();
    let min: number, max: number;
    if (c === '*') [min, max] = [0, Infinity];
    else if (c === '+') [min, max] = [1, Infinity];
    else if (c === '?') [min, max] = [0, 1];
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.#src.slice(this.#pos));
      if (!m) this.#bad('"{" that does not start a quantifier');
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
      if (max < min) this.#bad('quantifier range out of order');
      this.#pos += m[0].length - 1;
    } else return atom;
    this.#pos++;
    if (this.#peek() === '?') this.#pos++; // lazy: same language
    if (atom.t === 'anchor') this.#bad('nothing to repeat');
    return { t: 'rep', item: atom, min, max };
  }

  #atom(): Node {
    const c = this.#peek()!;
    if (c === '^' || c === '$') {
      this.#pos++;
      return { t: 'anchor', which: c };
    }
    if (c === '(') {
      this.#pos++;
      if (this.#peek() === '?') {
        const rest = this.#src.slice(this.#pos);
        if (rest.startsWith('?:')) this.#pos += 2;
        else if (/^\?<[A-Za-z_$][\w$]*>/.test(rest)) this.#pos = this.#src.indexOf('>', this.#pos) + 1;
        else this.#fail('lookaround assertions are not supported');
      }
      const inner = this.#alt();
      if (this.#peek() !== ')') this.#bad('unterminated group');
      this.#pos++;
      return inner;
    }
    if (c === '[') return this.#class();
    if (c === '.') {
      this.#pos++;
      return { t: 'set', ranges: complementRanges(normalizeRanges(LINE_TERMINATORS)) };
    }
    if (c === '\\') return { t: 'set', ranges: this.#escape(false) };
    if (c === ')' || c === ']' || c === '}' || c === '*' || c === '+' || c === '?' || c === '{')
      this.#bad(`unexpected "${c}"`);
    const cp = this.#src.codePointAt(this.#pos)!;
    this.#pos += cp > 0xffff ? 2 : 1;
    return { t: 'set', ranges: [[cp, cp]] };
  }

  #hex(n: number): number {
    const h = this.#src.slice(this.#pos, this.#pos + n);
    if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(h)) this.#bad('bad hex escape');
    this.#pos += n;
    return parseInt(h, 16);
  }

  /** An escape (the backslash is at #pos), as a set of code points. */
  #escape(inClass: boolean): CodePointRange[] {
    this.#pos++;
    const e = this.#peek();
    if (e === undefined) this.#bad('trailing backslash');
    this.#pos++;
    const one = (cp: number): CodePointRange[] => [[cp, cp]];
    switch (e) {
      case 'd':
        return DIGIT;
      case 'D':
        return complementRanges(DIGIT);
      case 'w':
        return WORD;
      case 'W':
        return complementRanges(WORD);
      case 's':
        return SPACE;
      case 'S':
        return complementRanges(SPACE);
      case 'n':
        return one(10);
      case 'r':
        return one(13);
      case 't':
        return one(9);
      case 'f':
        return one(12);
      case 'v':
        return one(11);
      case '0':
        if (/[0-9]/.test(this.#peek() ?? '')) this.#fail('octal escapes are not supported');
        return one(0);
      case 'x':
        return one(this.#hex(2));
      case 'u': {
        if (this.#peek() === '{') {
          const end = this.#src.indexOf('}', this.#pos);
          const h = this.#src.slice(this.#pos + 1, end);
          if (end < 0 || !/^[0-9a-fA-F]{1,6}$/.test(h) || parseInt(h, 16) > MAX_CODE_POINT) this.#bad('bad \\u{...}');
          this.#pos = end + 1;
          return one(parseInt(h, 16));
        }
        const hi = this.#hex(4);
        // A surrogate pair written as two escapes is one character.
        if (hi >= 0xd800 && hi <= 0xdbff && this.#src.startsWith('\\u', this.#pos)) {
          const save = this.#pos;
          this.#pos += 2;
          const lo = this.#hex(4);
          if (lo >= 0xdc00 && lo <= 0xdfff) return one(0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00));
          this.#pos = save;
        }
        return one(hi);
      }
      case 'c': {
        const l = this.#peek();
        if (l === undefined || !/[A-Za-z]/.test(l)) this.#bad('bad \\c escape');
        this.#pos++;
        return one(l.charCodeAt(0) % 32);
      }
      case 'b':
        if (inClass) return one(8);
        this.#fail('word boundaries (\\b) are not supported');
        break;
      case 'B':
        this.#fail('word boundaries (\\B) are not supported');
        break;
      case 'p':
      case 'P':
        this.#fail('Unicode property escapes (\\p{...}) are not supported');
        break;
      case 'k':
        this.#fail('back-references are not supported');
        break;
      default:
        if (/[1-9]/.test(e)) this.#fail('back-references are not supported');
        if (SYNTAX.includes(e)) return one(e.charCodeAt(0));
        this.#bad(`unknown escape "\\${e}"`);
    }
    return [];
  }

  #class(): Node {
    this.#pos++; // [
    let negated = false;
    if (this.#peek() === '^') {
      negated = true;
      this.#pos++;
    }
    const ranges: CodePointRange[] = [];
    const member = (): CodePointRange[] => {
      if (this.#peek() === '\\') return this.#escape(true);
      const cp = this.#src.codePointAt(this.#pos)!;
      this.#pos += cp > 0xffff ? 2 : 1;
      return [[cp, cp]];
    };
    for (;;) {
      const c = this.#peek();
      if (c === undefined) this.#bad('unterminated class');
      if (c === ']') break;
      const lo = member();
      if (this.#peek() === '-' && this.#src[this.#pos + 1] !== ']' && this.#src[this.#pos + 1] !== undefined) {
        this.#pos++;
        const hi = member();
        if (lo.length !== 1 || hi.length !== 1 || lo[0]![0] !== lo[0]![1] || hi[0]![0] !== hi[0]![1])
          this.#bad('a class range needs single characters at both ends');
        if (hi[0]![0] < lo[0]![0]) this.#bad('class range out of order');
        ranges.push([lo[0]![0], hi[0]![0]]);
      } else ranges.push(...lo);
    }
    this.#pos++;
    const set = normalizeRanges(ranges);
    return { t: 'set', ranges: negated ? complementRanges(set) : set };
  }
}

const SHORT_ESCAPES = new Map<number, string>([
  [0x22, '\\"'],
  [0x5c, '\\\\'],
  [0x08, '\\b'],
  [0x0c, '\\f'],
  [0x0a, '\\n'],
  [0x0d, '\\r'],
  [0x09, '\\t'],
]);

/** GBNF for one JSON-string character from `ranges`, spelled as JSON requires. */
export function jsonCharsFor(ranges: readonly CodePointRange[]): string {
  const raw: CodePointRange[] = [];
  const escaped: string[] = [];
  for (const [lo, hi] of ranges) {
    for (let cp = lo; cp <= Math.min(hi, 0x7f); cp++) {
      if (cp < 0x20 || cp === 0x22 || cp === 0x5c || cp === 0x7f) {
        escaped.push(gbnfLiteral(SHORT_ESCAPES.get(cp) ?? `\\u${cp.toString(16).padStart(4, '0')}`));
      }
    }
    // Raw: printable ASCII other than " and \, and everything above DEL except surrogates.
    const parts: CodePointRange[] = [
      [0x20, 0x21],
      [0x23, 0x5b],
      [0x5d, 0x7e],
      [0x80, 0xd7ff],
      [0xe000, MAX_CODE_POINT],
    ];
    for (const [plo, phi] of parts) {
      const a = Math.max(lo, plo),
        b = Math.min(hi, phi);
      if (a <= b) raw.push([a, b]);
    }
  }
  const alts = [...(raw.length > 0 ? [gbnfClass(normalizeRanges(raw))] : []), ...escaped];
  if (alts.length === 0) throw new UnsupportedError('pattern: a character class that matches nothing');
  return alts.length === 1 ? alts[0]! : `(${alts.join(' | ')})`;
}

function emit(n: Node): string {
  switch (n.t) {
    case 'set':
      return jsonCharsFor(n.ranges);
    case 'seq':
      return n.items.length === 0
        ? '""'
        : n.items.length === 1
          ? emit(n.items[0]!)
          : `(${n.items.map(emit).join(' ')})`;
    case 'alt':
      return `(${n.alts.map(emit).join(' | ')})`;
    case 'rep': {
      const inner = emit(n.item);
      if (n.min === 0 && n.max === Infinity) return `${inner}*`;
      if (n.min === 1 && n.max === Infinity) return `${inner}+`;
      if (n.min === 0 && n.max === 1) return `${inner}?`;
      return `${inner}{${n.min},${n.max === Infinity ? '' : n.max}}`;
    }
    case 'anchor':
      throw new UnsupportedError(`pattern anchors (${n.which}) are only supported at the very start and end`);
  }
}

/**
 * GBNF for the contents (between the quotes) of a JSON string matching
 * `pattern`; `anyChar` is the rule for any one JSON string character.
 */
export function patternToGbnf(pattern: string, anyChar: string): string {
  const root = new RegexParser(pattern).parse();
  const items = root.t === 'seq' ? [...root.items] : [root];
  const anchoredStart = items[0]?.t === 'anchor' && items[0].which === '^';
  if (anchoredStart) items.shift();
  const last = items[items.length - 1];
  const anchoredEnd = last?.t === 'anchor' && last.which === '$';
  if (anchoredEnd) items.pop();
  const body = emit({ t: 'seq', items });
  return [anchoredStart ? '' : `${anyChar}*`, body, anchoredEnd ? '' : `${anyChar}*`].filter(Boolean).join(' ');
}
