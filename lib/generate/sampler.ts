/**
 * Token sampler, in llama.cpp's default order: repetition/presence/frequency
 * penalties → top-k → top-p → min-p → temperature → draw. Temperature 0 is
 * greedy (argmax after penalties). Penalties touch only the tokens in the
 * window; the selection and the draw run natively in O(vocab) without sorting
 * the vocabulary (native/cpu/sampler.cc), on the logits in place (no copy).
 *
 * Only ids that have a token are candidates: a model may have more logits than
 * its tokenizer has tokens (Qwen2.5: 151,936 logits, 151,665 tokens), and a
 * tokenizer.json may leave holes in its ids; those are never returned.
 */
import { nativeCall } from '../native';
import { Rng } from './rng';

export interface SamplerOptions {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repeatPenalty: number;
  repeatLastN: number;
  presencePenalty: number;
  frequencyPenalty: number;
  seed: number;
}

/**
 * The native selection and draw over one row of logits: the addon's sampleLogits by default, or a
 * backend's (`Backend.sampleLogits`: its idle CPU threads take part; the same token).
 */
export type RowSampler = (
  logits: Float32Array,
  topK: number,
  topP: number,
  minP: number,
  temperature: number,
  r: number,
) => number;

const addonRowSampler: RowSampler = (logits, topK, topP, minP, temperature, r) =>
  nativeCall((a) => a.sampleLogits(logits, topK, topP, minP, temperature, r));

export class Sampler {
  readonly #o: SamplerOptions;
  readonly #rng: Rng;
  readonly #counts = new Map<number, number>(); // the penalty window's token counts, reused
  /** Logits at or past this index have no token. */
  readonly #tokens: number;
  /** Ids below #tokens without a token. */
  readonly #holes: Int32Array;
  readonly #row: RowSampler;

  /**
   * `vocabSize`: how many ids have a token (logits past it are ignored);
   * `holes`: ids below it that have no token either; `row`: what runs the selection and draw.
   */
  constructor(
    options: SamplerOptions,
    vocabSize: number,
    holes: readonly number[] = [],
    row: RowSampler = addonRowSampler,
  ) {
    this.#o = options;
    this.#rng = new Rng(options.seed);
    this.#tokens = vocabSize;
    this.#holes = Int32Array.from(holes);
    this.#row = row;
  }

  /** Picks the next token from one row of logits ([vocab]; penalties modify it in place). */
  sample(all: Float32Array, history: readonly number[]): number {
    const logits = all.length > this.#tokens ? all.subarray(0, this.#tokens) : all;
    for (const id of this.#holes) if (id < logits.length) logits[id] = -Infinity;
    this.#applyPenalties(logits, history);
    const o = this.#o;
    // The draw consumes one random number; greedy consumes none.
    const r = o.temperature > 0 ? this.#rng.next() : 0;
    return this.#row(logits, o.topK, o.topP, o.minP, o.temperature, r);
  }

  #applyPenalties(logits: Float32Array, history: readonly number[]): void {
    const o = this.#o;
    if (o.repeatLastN === 0 || (o.repeatPenalty === 1 && o.presencePenalty === 0 && o.frequencyPenalty === 0)) return;
    const from = o.repeatLastN < 0 ? 0 : Math.max(0, history.length - o.repeatLastN);
    const counts = this.#counts;
    counts.clear();
    for (let i = from; i < history.length; i++) {
      const t = history[i]!;
      counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    for (const [t, c] of counts) {
      if (t < 0 || t >= logits.length) continue;
      let l = logits[t]!;
      // llama.cpp: divide positive logits, multiply negative ones.
      if (o.repeatPenalty !== 1) l = l > 0 ? l / o.repeatPenalty : l * o.repeatPenalty;
      l -= c * o.frequencyPenalty + o.presencePenalty;
      logits[t] = l;
    }
  }
}
