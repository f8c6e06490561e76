/**
 * Logits processing before the sampler: the user's `logitsProcessor` hook,
 * then the grammar's token mask (disallowed tokens get -Infinity, so no
 * sampler setting can pick them). Kept apart from the sampling math: the
 * sampler only ever sees logits.
 */
import { InternalError, MiniMacLLMError } from '../errors';
import type { Grammar } from '../grammar/grammar';
import { GrammarMatcher } from '../grammar/matcher';
import type { Mask, MaskEngine } from '../grammar/masks';
import type { Tokenizer } from '../tokenizer/tokenizer';

/** What a logits processor is told about the generation so far. */
export interface LogitsContext {
  /** The prompt and the tokens generated so far (do not modify). */
  readonly tokens: readonly number[];
  /** How many of `tokens` were generated. */
  readonly generated: number;
}

/**
 * Changes the logits (in place) before the next token is sampled. Runs
 * synchronously on the main thread once per generated token: keep it cheap.
 * The array is reused for the next token; don't keep it.
 */
export type LogitsProcessor = (logits: Float32Array, context: LogitsContext) => void;

/** What the generation loop asks of a constraint on the next token. */
export interface TokenConstraint {
  /** Computes the next mask ahead of time (while the model runs). */
  prepare(): void;
  /** Sets the logits of tokens not allowed next to -Infinity. */
  apply(logits: Float32Array): void;
  allows(token: number): boolean;
  /** Advances past a sampled (allowed) token. */
  accept(token: number): void;
  /** Nothing but the end of generation may follow. */
  readonly finished: boolean;
}

/** The grammar's mask, kept in step with the generated tokens. */
export class GrammarConstraint implements TokenConstraint {
  readonly #matcher: GrammarMatcher;
  #mask: Mask | undefined;

  constructor(matcher: GrammarMatcher) {
    this.#matcher = matcher;
  }

  /** Computes the mask for the next token ahead of time (while the model runs). */
  prepare(): void {
    this.#mask ??= this.#matcher.mask();
  }

  /** Sets every token the grammar does not allow next to -Infinity. */
  apply(logits: Float32Array): void {
    this.prepare();
    const { bits, allowed } = this.#mask!;
    if (allowed === 0) {
      throw new MiniMacLLMError(
        'ERR_INVALID_ARG',
        'the grammar cannot continue with any token of this vocabulary (it needs text no token spells)',
      );
    }
    applyMask(logits, bits, allowed);
  }

  /** Whether the grammar allows `token` next. */
  allows(token: number): boolean {
    this.prepare();
    const bits = this.#mask!.bits;
    return token >= 0 && token < bits.length * 32 && ((bits[token >>> 5]! >>> (token & 31)) & 1) === 1;
  }

  /** Advances past a sampled token (which must be allowed). */
  accept(token: number): void {
    if (!this.#matcher.accept(token)) throw new InternalError(`grammar: token ${token} was sampled but not allowed`);
    this.#mask = undefined;
  }

  /** The grammar is complete and nothing can follow: generation is over. */
  get finished(): boolean {
    return this.#matcher.finished;
  }
}

/** The offset in the reply's bytes where a lazy grammar takes over, or WAIT (not yet) / NEVER. */
export type StartFinder = (bytes: Uint8Array) => number;
export const WAIT = -1;
export const NEVER = -2;

/**
 * A grammar that constrains only part of a reply: free text until `findStart`
 * sees where the grammar begins (a tool call's opening), then the grammar
 * (fed the bytes already generated from that point); when it is complete,
 * free text again (`repeat`) or the end of generation.
 */
export interface LazyGrammar {
  grammar: Grammar;
  findStart: StartFinder;
  repeat: boolean;
}

/** Keeps this many bytes of unconstrained text for findStart (triggers are short). */
const TAIL = 64;

export class LazyGrammarConstraint implements TokenConstraint {
  readonly #lazy: LazyGrammar;
  readonly #engine: MaskEngine;
  readonly #tokenizer: Tokenizer;
  #active: GrammarConstraint | undefined;
  #matcher: GrammarMatcher | undefined;
  #buf = new Uint8Array(256);
  #len = 0;
  #never = false;
  #done = false;
  #first = true;

  private constructor(lazy: LazyGrammar, engine: MaskEngine, tokenizer: Tokenizer) {
    this.#lazy = lazy;
    this.#engine = engine;
    this.#tokenizer = tokenizer;
  }

  static async create(lazy: LazyGrammar, tokenizer: Tokenizer): Promise<LazyGrammarConstraint> {
    return new LazyGrammarConstraint(lazy, await lazy.grammar.engine(tokenizer), tokenizer);
  }

  prepare(): void {
    this.#active?.prepare();
  }

  apply(logits: Float32Array): void {
    this.#active?.apply(logits);
  }

  allows(token: number): boolean {
    return this.#active ? this.#active.allows(token) : true;
  }

  accept(token: number): void {
    if (this.#active) {
      this.#active.accept(token);
      this.#afterGrammar();
      return;
    }
    let bytes = this.#tokenizer.tokenBytes(token);
    if (this.#first && bytes.length > 0) {
      if (this.#tokenizer.stripsLeadingSpace && bytes[0] === 0x20) bytes = bytes.subarray(1);
      this.#first = false;
    }
    if (this.#never) return;
    if (this.#len + bytes.length > this.#buf.length) {
      const b = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + bytes.length));
      b.set(this.#buf.subarray(0, this.#len));
      this.#buf = b;
    }
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.length;
    const text = this.#buf.subarray(0, this.#len);
    const at = this.#lazy.findStart(text);
    if (at === NEVER) {
      this.#never = true;
      return;
    }
    if (at === WAIT) {
      if (this.#len > TAIL) {
        this.#buf.copyWithin(0, this.#len - TAIL, this.#len);
        this.#len = TAIL;
      }
      return;
    }
    const matcher = new GrammarMatcher(this.#engine, false);
    const rest = text.subarray(at);
    this.#len = 0;
    // Text already past the start that the grammar rejects: leave this one unconstrained.
    if (!matcher.acceptBytes(rest)) return;
    this.#matcher = matcher;
    this.#active = new GrammarConstraint(matcher);
    this.#afterGrammar();
  }

  #afterGrammar(): void {
    if (!this.#matcher?.finished) return;
    this.#active = undefined;
    this.#matcher = undefined;
    if (!this.#lazy.repeat) this.#done = true;
  }

  get finished(): boolean {
    return this.#done;
  }
}

let keptIds = new Int32Array(1024);
let keptValues = new Float32Array(1024);

/**
 * logits[i] = -Infinity where bit i of `bits` is clear (and beyond the bits).
 * Few tokens allowed (structure, numbers): fill everything, put the allowed
 * logits back. Many allowed (inside a string): clear only the masked ones.
 */
export function applyMask(logits: Float32Array, bits: Uint32Array, allowed: number): void {
  const n = logits.length;
  const words = Math.min(bits.length, n >>> 5);
  if (allowed * 8 < n) {
    if (keptIds.length < allowed) {
      keptIds = new Int32Array(allowed);
      keptValues = new Float32Array(allowed);
    }
    let k = 0;
    for (let w = 0; w < bits.length; w++) {
      let m = bits[w]!;
      while (m !== 0) {
        const t = (w << 5) | (31 - Math.clz32(m & -m));
        m &= m - 1;
        if (t < n) {
          keptIds[k] = t;
          keptValues[k++] = logits[t]!;
        }
      }
    }
    logits.fill(-Infinity);
    for (let i = 0; i < k; i++) logits[keptIds[i]!] = keptValues[i]!;
    return;
  }
  for (let w = 0; w < words; w++) {
    const m = bits[w]!;
    if (m === 0xffffffff) continue;
    const base = w << 5;
    for (let b = 0; b < 32; b++) if (((m >>> b) & 1) === 0) logits[base + b] = -Infinity;
  }
  for (let i = words << 5; i < n; i++) {
    const w = i >>> 5;
    if (w >= bits.length || ((bits[w]! >>> (i & 31)) & 1) === 0) logits[i] = -Infinity;
  }
}

/** The allowed token with the largest logit (a fallback when sampling lands on a masked token). */
export function bestAllowed(logits: Float32Array, allows: (t: number) => boolean): number {
  let best = -1;
  for (let t = 0; t < logits.length; t++) if (allows(t) && (best < 0 || logits[t]! > logits[best]!)) best = t;
  if (best < 0) throw new InternalError('grammar: no token is allowed');
  return best;
}
