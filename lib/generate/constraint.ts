/**
 * Logits processing before the sampler: the user's `logitsProcessor` hook,
 * then the grammar's token mask (disallowed tokens get -Infinity, so no
 * sampler setting can pick them). Kept apart from the sampling math: the
 * sampler only ever sees logits.
 */
import { InternalError, MiniMacLLMError } from '../errors';
import type { GrammarMatcher } from '../grammar/matcher';
import type { Mask } from '../grammar/masks';

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

/** The grammar's mask, kept in step with the generated tokens. */
export class GrammarConstraint {
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
