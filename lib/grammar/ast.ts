/**
 * The parsed form of a grammar: named rules whose bodies are expressions over
 * Unicode code points (literals, character classes, any character), rule
 * references, sequences, alternatives and bounded or unbounded repetition.
 */

/** An inclusive code point range. */
export type CodePointRange = readonly [number, number];

export type Expr =
  | { readonly kind: 'alt'; readonly alts: readonly Expr[] }
  | { readonly kind: 'seq'; readonly items: readonly Expr[] }
  /** A literal string, as code points (empty = matches the empty string). */
  | { readonly kind: 'lit'; readonly cps: readonly number[] }
  /** A set of code points: sorted, disjoint ranges (negation already applied). */
  | { readonly kind: 'class'; readonly ranges: readonly CodePointRange[] }
  | { readonly kind: 'ref'; readonly name: string; readonly line: number; readonly column: number }
  /** `max` is Infinity when unbounded. */
  | { readonly kind: 'repeat'; readonly item: Expr; readonly min: number; readonly max: number };

export interface Rule {
  readonly name: string;
  readonly expr: Expr;
  /** Where the rule is defined (1-based). */
  readonly line: number;
  readonly column: number;
}

export interface GrammarAst {
  /** Rules in definition order. */
  readonly rules: ReadonlyMap<string, Rule>;
  readonly root: string;
}

export const MAX_CODE_POINT = 0x10ffff;

/** Sorts and merges ranges into disjoint ascending ones. */
export function normalizeRanges(ranges: readonly CodePointRange[]): CodePointRange[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

/** The code points not in `ranges` (which must be normalized). */
export function complementRanges(ranges: readonly CodePointRange[]): CodePointRange[] {
  const out: CodePointRange[] = [];
  let next = 0;
  for (const [lo, hi] of ranges) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= MAX_CODE_POINT) out.push([next, MAX_CODE_POINT]);
  return out;
}

/** Whether the expression matches the empty string, given which rules do. */
export function isNullable(e: Expr, nullableRule: (name: string) => boolean): boolean {
  switch (e.kind) {
    case 'lit':
      return e.cps.length === 0;
    case 'class':
      return false;
    case 'ref':
      return nullableRule(e.name);
    case 'seq':
      return e.items.every((x) => isNullable(x, nullableRule));
    case 'alt':
      return e.alts.some((x) => isNullable(x, nullableRule));
    case 'repeat':
      return e.min === 0 || e.max === 0 || isNullable(e.item, nullableRule);
  }
}
