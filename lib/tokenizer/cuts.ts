/**
 * Where a text may be cut so that tokenizing the parts gives exactly the
 * tokens of the whole (tokenizeAsync tokenizes long texts in slices this way).
 *
 * A cut before index i is safe when every stage is unaffected by it:
 * - special tokens: none occurs near the cut (checked by the Tokenizer);
 * - the normalizer maps the text piecewise there (normalizerCuts in hf-normalizers.ts);
 * - the pre-tokenizer always ends a piece there whatever follows and starts the next piece afresh: for the
 *   GPT-2 / Llama 3 / Qwen2 splitters that holds between a non-space and a space, between a letter and a
 *   non-letter that is not a space, and between a number and a letter (each alternative of their regexes
 *   stops at such a boundary and none looks further back);
 * - models that merge across a whole fragment (SentencePiece, BPE without a splitting pre-tokenizer):
 *   no token can contain both characters, so no merge crosses the cut.
 * Anything else gets no cuts and is tokenized in one step.
 */
import { cpFlags, LETTER, NUMBER, WHITESPACE } from './unicode';

/** Whether a cut between code points `prev` and `cur` is safe for one stage. */
export type CutRule = (prev: number, cur: number) => boolean;

export interface CutPlan {
  /** Builds what the rule needs (once); yields to the event loop while it works. */
  ready(): Promise<void>;
  /** Whether `s` may be cut before index `i` (`i` is not inside a surrogate pair). */
  safe(s: string, i: number): boolean;
}

const SPACE = 0x20;

/** A space after a non-space: every whitespace-splitting pre-tokenizer ends a piece there. */
export const spaceCuts: CutRule = (prev, cur) => cur === SPACE && (cpFlags(prev) & WHITESPACE) === 0;

/** Boundaries the GPT-2 / Llama 3 / Qwen2 splitters (and llama.cpp's default stages around them) always split at. */
export const splitterCuts: CutRule = (prev, cur) => {
  const p = cpFlags(prev);
  if (cur === SPACE) return (p & WHITESPACE) === 0;
  const c = cpFlags(cur);
  if (p & LETTER) return (c & (LETTER | WHITESPACE)) === 0;
  if (p & NUMBER) return (c & LETTER) !== 0;
  return false;
};

/** Code point at `i` and the one before it (UTF-16 index `i` starts a code point). */
export function cpAround(s: string, i: number): [number, number] {
  let p = s.charCodeAt(i - 1);
  if (p >= 0xdc00 && p < 0xe000 && i >= 2) {
    const hi = s.charCodeAt(i - 2);
    if (hi >= 0xd800 && hi < 0xdc00) p = 0x10000 + ((hi - 0xd800) << 10) + (p - 0xdc00);
  }
  return [p, s.codePointAt(i)!];
}

const yieldNow = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * For models that merge across a whole fragment: a merge can only produce a token, so a cut between two
 * characters is safe when no token holds them side by side. Kept small: the characters that occur in
 * tokens of two or more characters, and those that precede `space` (▁) inside a token.
 */
export class MergeBarrier {
  #inMulti: Set<number> | undefined;
  #beforeSpace: Set<number> | undefined;
  #building: Promise<void> | undefined;

  constructor(
    private readonly tokens: readonly string[],
    /** The character spaces become before merging (▁), or -1. */
    private readonly space: number,
  ) {}

  /** Whether ready() has finished (before, rule() answers false: no cut). */
  get built(): boolean {
    return this.#inMulti !== undefined;
  }

  ready(): Promise<void> {
    this.#building ??= this.#build();
    return this.#building;
  }

  async #build(): Promise<void> {
    const inMulti = new Set<number>();
    const beforeSpace = new Set<number>();
    let t0 = performance.now();
    for (let id = 0; id < this.tokens.length; id++) {
      const t = this.tokens[id]!;
      if (t.length < 2) continue;
      const h = t.charCodeAt(0);
      if (t.length === 2 && h >= 0xd800 && h < 0xdc00) continue; // one astral character
      let prev = -1;
      for (const ch of t) {
        const c = ch.codePointAt(0)!;
        inMulti.add(c);
        if (c === this.space && prev >= 0) beforeSpace.add(prev);
        prev = c;
      }
      // Checked often: the first pass runs in V8's interpreter (4096 tokens took 30 ms there).
      if ((id & 255) === 0 && performance.now() - t0 > 8) {
        await yieldNow();
        t0 = performance.now();
      }
    }
    this.#inMulti = inMulti;
    this.#beforeSpace = beforeSpace;
  }

  rule: CutRule = (prev, cur) => {
    const multi = this.#inMulti;
    if (!multi) return false;
    if (!multi.has(prev) || !multi.has(cur)) return true;
    return cur === this.space && !this.#beforeSpace!.has(prev);
  };
}

/** A plan from one rule on the code points around the cut (after `map`, e.g. the normalizer on one character). */
export function plan(rule: CutRule, prepare: () => Promise<void> = () => Promise.resolve()): CutPlan {
  return {
    ready: prepare,
    safe: (s, i) => {
      const [p, c] = cpAround(s, i);
      return rule(p, c);
    },
  };
}
