/**
 * GBNF, llama.cpp's grammar format: `name ::= alternatives` rules (names of
 * letters, digits and `-`), a `root` rule, `|` alternation, `( )` grouping,
 * `"literals"`, `[classes]` with ranges and `^` negation, `.` (any
 * character), postfix `*` `+` `?` `{m}` `{m,}` `{m,n}`, escapes `\n \r \t \\
 * \" \[ \] \- \xHH \uHHHH \UHHHHHHHH`, and `#` comments. As in llama.cpp, a
 * rule ends at a newline unless inside parentheses or right after `|` / `::=`.
 *
 * Errors are GrammarError (code ERR_INVALID_ARG) with the line and column;
 * an undefined rule and left recursion are reported by name.
 */
import { InvalidArgumentError } from '../errors';
import {
  complementRanges,
  isNullable,
  MAX_CODE_POINT,
  normalizeRanges,
  type CodePointRange,
  type Expr,
  type GrammarAst,
  type Rule,
} from './ast';

/** A malformed grammar: ERR_INVALID_ARG with the 1-based line and column of the problem. */
export class GrammarError extends InvalidArgumentError {
  readonly line: number;
  readonly column: number;
  constructor(message: string, line: number, column: number) {
    super(`grammar error at line ${line}, column ${column}: ${message}`);
    this.line = line;
    this.column = column;
  }
}

/** Largest repetition count accepted in `{m,n}`. */
export const MAX_REPETITION = 100_000;

const isWordChar = (c: string | undefined): boolean =>
  c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c === '-');
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

class Parser {
  readonly #src: string;
  #pos = 0;
  readonly rules = new Map<string, Rule>();
  /** Every rule reference, to check they are all defined. */
  readonly refs: Array<Extract<Expr, { kind: 'ref' }>> = [];

  /** Offsets where lines start. */
  readonly #lines: number[] = [0];

  constructor(src: string) {
    this.#src = src;
    for (let i = 0; i < src.length; i++) if (src[i] === '\n') this.#lines.push(i + 1);
  }

  #where(pos: number): { line: number; column: number } {
    let lo = 0,
      hi = this.#lines.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#lines[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    const start = this.#lines[lo]!;
    // Columns count code points, as an editor shows them.
    return { line: lo + 1, column: [...this.#src.slice(start, pos)].length + 1 };
  }

  fail(message: string, pos = this.#pos): never {
    const { line, column } = this.#where(pos);
    throw new GrammarError(message, line, column);
  }

  #peek(off = 0): string | undefined {
    return this.#src[this.#pos + off];
  }

  #describe(): string {
    const c = this.#peek();
    if (c === undefined) return 'end of input';
    if (c === '\n' || c === '\r') return 'end of line';
    return JSON.stringify(String.fromCodePoint(this.#src.codePointAt(this.#pos)!));
  }

  #space(newlineOk: boolean): void {
    for (;;) {
      const c = this.#peek();
      if (c === ' ' || c === '\t' || (newlineOk && (c === '\r' || c === '\n'))) this.#pos++;
      else if (c === '#') {
        while (this.#pos < this.#src.length && this.#peek() !== '\n' && this.#peek() !== '\r') this.#pos++;
      } else return;
    }
  }

  #name(): string {
    const start = this.#pos;
    while (isWordChar(this.#peek())) this.#pos++;
    if (this.#pos === start) this.fail(`expected a rule name, found ${this.#describe()}`);
    return this.#src.slice(start, this.#pos);
  }

  #int(): number {
    const start = this.#pos;
    while (isDigit(this.#peek())) this.#pos++;
    if (this.#pos === start) this.fail(`expected an integer, found ${this.#describe()}`);
    const v = Number(this.#src.slice(start, this.#pos));
    if (v > MAX_REPETITION) this.fail(`repetition count ${v} is larger than ${MAX_REPETITION}`, start);
    return v;
  }

  #hex(digits: number): number {
    const start = this.#pos;
    let v = 0;
    for (let i = 0; i < digits; i++) {
      const c = this.#peek();
      const d = c === undefined ? NaN : parseInt(c, 16);
      if (Number.isNaN(d) || !/[0-9a-fA-F]/.test(c!)) this.fail(`expected ${digits} hex digits`, start);
      v = v * 16 + d;
      this.#pos++;
    }
    return v;
  }

  /** One (possibly escaped) character of a literal or class, as a code point. */
  #char(): number {
    const start = this.#pos;
    const c = this.#peek();
    if (c === undefined) this.fail('unexpected end of input');
    if (c !== '\\') {
      const cp = this.#src.codePointAt(this.#pos)!;
      this.#pos += cp > 0xffff ? 2 : 1;
      return cp;
    }
    const e = this.#peek(1);
    this.#pos += 2;
    let cp: number;
    switch (e) {
      case 'x':
        cp = this.#hex(2);
        break;
      case 'u':
        cp = this.#hex(4);
        break;
      case 'U':
        cp = this.#hex(8);
        break;
      case 't':
        return 9;
      case 'r':
        return 13;
      case 'n':
        return 10;
      case '\\':
      case '"':
      case '[':
      case ']':
      case '-':
        return e.charCodeAt(0);
      default:
        this.fail(`unknown escape "\\${e ?? ''}"`, start);
    }
    if (cp > MAX_CODE_POINT) this.fail(`code point U+${cp.toString(16).toUpperCase()} is out of range`, start);
    if (cp >= 0xd800 && cp <= 0xdfff)
      this.fail(`U+${cp.toString(16).toUpperCase()} is a surrogate, not a character`, start);
    return cp;
  }

  #literal(): Expr {
    const open = this.#pos;
    this.#pos++; // "
    const cps: number[] = [];
    for (;;) {
      const c = this.#peek();
      if (c === undefined) this.fail('unterminated literal', open);
      if (c === '"') break;
      cps.push(this.#char());
    }
    this.#pos++;
    return { kind: 'lit', cps };
  }

  #class(): Expr {
    const open = this.#pos;
    this.#pos++; // [
    let negated = false;
    if (this.#peek() === '^') {
      negated = true;
      this.#pos++;
    }
    const ranges: CodePointRange[] = [];
    for (;;) {
      const c = this.#peek();
      if (c === undefined) this.fail('unterminated character class', open);
      if (c === ']') break;
      const at = this.#pos;
      const lo = this.#char();
      let hi = lo;
      if (this.#peek() === '-' && this.#peek(1) !== ']' && this.#peek(1) !== undefined) {
        this.#pos++;
        hi = this.#char();
        if (hi < lo) this.fail('character range is out of order', at);
      }
      ranges.push([lo, hi]);
    }
    this.#pos++;
    if (ranges.length === 0 && !negated) this.fail('empty character class', open);
    const set = normalizeRanges(ranges);
    return { kind: 'class', ranges: negated ? complementRanges(set) : set };
  }

  #alternates(nested: boolean): Expr {
    const alts = [this.#sequence(nested)];
    while (this.#peek() === '|') {
      this.#pos++;
      this.#space(true);
      alts.push(this.#sequence(nested));
    }
    return alts.length === 1 ? alts[0]! : { kind: 'alt', alts };
  }

  #sequence(nested: boolean): Expr {
    const items: Expr[] = [];
    const repeat = (min: number, max: number, at: number): void => {
      const last = items.pop();
      if (last === undefined) this.fail('*, +, ? and {} need an item before them', at);
      items.push({ kind: 'repeat', item: last, min, max });
    };
    for (;;) {
      const c = this.#peek();
      const at = this.#pos;
      if (c === '"') items.push(this.#literal());
      else if (c === '[') items.push(this.#class());
      else if (isWordChar(c)) {
        const { line, column } = this.#where(at);
        const ref = { kind: 'ref' as const, name: this.#name(), line, column };
        this.refs.push(ref);
        items.push(ref);
      } else if (c === '(') {
        this.#pos++;
        this.#space(true);
        const inner = this.#alternates(true);
        if (this.#peek() !== ')')
          this.fail(`expected ")" to close the "(" at ${this.#at(at)}, found ${this.#describe()}`);
        this.#pos++;
        items.push(inner);
      } else if (c === '.') {
        this.#pos++;
        items.push({ kind: 'class', ranges: [[0, MAX_CODE_POINT]] });
      } else if (c === '*' || c === '+' || c === '?') {
        this.#pos++;
        repeat(c === '+' ? 1 : 0, c === '?' ? 1 : Infinity, at);
      } else if (c === '{') {
        this.#pos++;
        this.#space(nested);
        const min = this.#int();
        this.#space(nested);
        let max = min;
        if (this.#peek() === ',') {
          this.#pos++;
          this.#space(nested);
          max = isDigit(this.#peek()) ? this.#int() : Infinity;
          this.#space(nested);
        }
        if (this.#peek() !== '}') this.fail(`expected "}" or "," in a repetition, found ${this.#describe()}`);
        this.#pos++;
        if (max < min) this.fail(`repetition {${min},${max}} has its maximum below its minimum`, at);
        repeat(min, max, at);
      } else break;
      this.#space(nested);
    }
    return items.length === 1 ? items[0]! : { kind: 'seq', items };
  }

  #at(pos: number): string {
    const { line, column } = this.#where(pos);
    return `line ${line}, column ${column}`;
  }

  #rule(): void {
    const start = this.#pos;
    const name = this.#name();
    this.#space(false);
    if (this.#src.slice(this.#pos, this.#pos + 3) !== '::=') this.fail(`expected "::=" after rule name "${name}"`);
    this.#pos += 3;
    this.#space(true);
    const expr = this.#alternates(false);
    const c = this.#peek();
    if (c === '\r') this.#pos += this.#peek(1) === '\n' ? 2 : 1;
    else if (c === '\n') this.#pos++;
    else if (c !== undefined) this.fail(`unexpected ${this.#describe()}`);
    const prev = this.rules.get(name);
    const { line, column } = this.#where(start);
    if (prev) this.fail(`rule "${name}" is already defined at line ${prev.line}`, start);
    this.rules.set(name, { name, expr, line, column });
    this.#space(true);
  }

  parse(): void {
    this.#space(true);
    while (this.#pos < this.#src.length) this.#rule();
  }
}

/** Parses GBNF text and checks it: every referenced rule defined, `root` present, no left recursion. */
export function parseGBNF(text: string, root = 'root'): GrammarAst {
  if (typeof text !== 'string') throw new InvalidArgumentError('grammar must be a string of GBNF rules');
  const p = new Parser(text);
  p.parse();
  for (const ref of p.refs) {
    if (!p.rules.has(ref.name)) throw new GrammarError(`undefined rule "${ref.name}"`, ref.line, ref.column);
  }
  if (!p.rules.has(root)) {
    if (p.rules.size === 0) throw new GrammarError('the grammar has no rules', 1, 1);
    throw new GrammarError(`the grammar has no "${root}" rule to start from`, 1, 1);
  }
  const ast: GrammarAst = { rules: p.rules, root };
  checkLeftRecursion(ast);
  return ast;
}

/** Names of the rules that match the empty string. */
export function nullableRules(ast: GrammarAst): Set<string> {
  const nullable = new Set<string>();
  for (let changed = true; changed;) {
    changed = false;
    for (const r of ast.rules.values()) {
      if (!nullable.has(r.name) && isNullable(r.expr, (n) => nullable.has(n))) {
        nullable.add(r.name);
        changed = true;
      }
    }
  }
  return nullable;
}

/** Rules an expression can call before consuming any input. */
function leftRefs(e: Expr, nullable: Set<string>, out: Set<string>): void {
  const isNull = (x: Expr): boolean => isNullable(x, (n) => nullable.has(n));
  switch (e.kind) {
    case 'ref':
      out.add(e.name);
      return;
    case 'seq':
      for (const x of e.items) {
        leftRefs(x, nullable, out);
        if (!isNull(x)) return;
      }
      return;
    case 'alt':
      for (const x of e.alts) leftRefs(x, nullable, out);
      return;
    case 'repeat':
      if (e.max > 0) leftRefs(e.item, nullable, out);
      return;
    default:
      return;
  }
}

/**
 * Left recursion (a rule reaching itself before consuming input) would make
 * a top-down matcher loop forever; llama.cpp rejects it too.
 */
function checkLeftRecursion(ast: GrammarAst): void {
  const nullable = nullableRules(ast);
  const edges = new Map<string, string[]>();
  for (const r of ast.rules.values()) {
    const out = new Set<string>();
    leftRefs(r.expr, nullable, out);
    edges.set(r.name, [...out]);
  }
  const state = new Map<string, 1 | 2>(); // 1 = on the path, 2 = done
  const path: string[] = [];
  const visit = (name: string): void => {
    state.set(name, 1);
    path.push(name);
    for (const next of edges.get(name) ?? []) {
      const s = state.get(next);
      if (s === 1) {
        const cycle = [...path.slice(path.indexOf(next)), next];
        const rule = ast.rules.get(next)!;
        throw new GrammarError(
          `rule "${next}" is left-recursive (${cycle.join(' -> ')}): it can reach itself without consuming input`,
          rule.line,
          rule.column,
        );
      }
      if (s === undefined) visit(next);
    }
    path.pop();
    state.set(name, 2);
  };
  for (const name of ast.rules.keys()) if (!state.has(name)) visit(name);
}
