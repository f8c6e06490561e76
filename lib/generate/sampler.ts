/**
 * Token sampler, in llama.cpp's default order: repetition/presence/frequency
 * penalties → top-k → top-p → min-p → temperature → draw. Temperature 0 is
 * greedy (argmax after penalties). Top-k keeps a size-k min-heap over the
 * vocabulary instead of sorting it; only the k survivors are sorted.
 *
 * Only ids that have a token are candidates: a model may have more logits than
 * its tokenizer has tokens (Qwen2.5: 151,936 logits, 151,665 tokens), and a
 * tokenizer.json may leave holes in its ids; those are never returned.
 */
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

export class Sampler {
  readonly #o: SamplerOptions;
  readonly #rng: Rng;
  /** Logits at or past this index have no token. */
  readonly #tokens: number;
  /** Ids below #tokens without a token. */
  readonly #holes: Int32Array;
  // Candidate scratch, reused every step: [vocab] at most.
  #idx: Int32Array;
  #val: Float32Array;
  #prob: Float64Array;

  /**
   * `vocabSize`: how many ids have a token (logits past it are ignored);
   * `holes`: ids below it that have no token either.
   */
  constructor(options: SamplerOptions, vocabSize: number, holes: readonly number[] = []) {
    this.#o = options;
    this.#rng = new Rng(options.seed);
    this.#tokens = vocabSize;
    this.#holes = Int32Array.from(holes);
    const cap = options.topK > 0 ? Math.min(options.topK, vocabSize) : vocabSize;
    this.#idx = new Int32Array(cap);
    this.#val = new Float32Array(cap);
    this.#prob = new Float64Array(cap);
  }

  /** Picks the next token from one row of logits ([vocab]; penalties modify it in place). */
  sample(all: Float32Array, history: readonly number[]): number {
    const logits = all.length > this.#tokens ? all.subarray(0, this.#tokens) : all;
    for (const id of this.#holes) if (id < logits.length) logits[id] = -Infinity;
    this.#applyPenalties(logits, history);
    if (this.#o.temperature <= 0) return argmax(logits);
    let n = this.#topK(logits);
    n = this.#topP(n);
    n = this.#minP(n);
    return this.#draw(n);
  }

  #applyPenalties(logits: Float32Array, history: readonly number[]): void {
    const o = this.#o;
    if (o.repeatLastN === 0 || (o.repeatPenalty === 1 && o.presencePenalty === 0 && o.frequencyPenalty === 0)) return;
    const from = o.repeatLastN < 0 ? 0 : Math.max(0, history.length - o.repeatLastN);
    const counts = new Map<number, number>();
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

  // Fills the candidates with the k largest logits, sorted descending; returns their count.
  #topK(logits: Float32Array): number {
    const V = logits.length;
    const k = this.#idx.length;
    const idx = this.#idx;
    const val = this.#val;
    if (k >= V) {
      for (let i = 0; i < V; i++) idx[i] = i;
      const order = Array.from(idx.subarray(0, V)).sort((a, b) => logits[b]! - logits[a]! || a - b);
      for (let i = 0; i < V; i++) {
        idx[i] = order[i]!;
        val[i] = logits[order[i]!]!;
      }
      return V;
    }
    // Min-heap of size k on (value, -index): the root is the weakest kept candidate.
    const less = (i: number, j: number): boolean => val[i]! < val[j]! || (val[i] === val[j] && idx[i]! > idx[j]!);
    const siftDown = (i: number, n: number): void => {
      for (;;) {
        const l = 2 * i + 1,
          r = l + 1;
        let m = i;
        if (l < n && less(l, m)) m = l;
        if (r < n && less(r, m)) m = r;
        if (m === i) return;
        const ti = idx[i]!,
          tv = val[i]!;
        idx[i] = idx[m]!;
        val[i] = val[m]!;
        idx[m] = ti;
        val[m] = tv;
        i = m;
      }
    };
    for (let i = 0; i < k; i++) {
      idx[i] = i;
      val[i] = logits[i]!;
    }
    for (let i = (k >> 1) - 1; i >= 0; i--) siftDown(i, k);
    for (let t = k; t < V; t++) {
      const v = logits[t]!;
      if (v > val[0]!) {
        idx[0] = t;
        val[0] = v;
        siftDown(0, k);
      }
    }
    // Heap sort ascending by "less", which leaves the array descending.
    for (let end = k - 1; end > 0; end--) {
      const ti = idx[0]!,
        tv = val[0]!;
      idx[0] = idx[end]!;
      val[0] = val[end]!;
      idx[end] = ti;
      val[end] = tv;
      siftDown(0, end);
    }
    return k;
  }

  // Softmax (temperature 1) of the n sorted candidates into #prob.
  #softmax(n: number, temperature = 1): void {
    const val = this.#val;
    const prob = this.#prob;
    const max = val[0]!;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const e = Math.exp((val[i]! - max) / temperature);
      prob[i] = e;
      sum += e;
    }
    for (let i = 0; i < n; i++) prob[i] = prob[i]! / sum;
  }

  #topP(n: number): number {
    const p = this.#o.topP;
    if (p >= 1) return n;
    this.#softmax(n);
    let cum = 0;
    for (let i = 0; i < n; i++) {
      cum += this.#prob[i]!;
      if (cum >= p) return i + 1;
    }
    return n;
  }

  #minP(n: number): number {
    const m = this.#o.minP;
    if (m <= 0) return n;
    // p_i >= m * p_max  ⇔  logit_i >= logit_max + ln(m)
    const threshold = this.#val[0]! + Math.log(m);
    let keep = 1;
    while (keep < n && this.#val[keep]! >= threshold) keep++;
    return keep;
  }

  #draw(n: number): number {
    this.#softmax(n, this.#o.temperature);
    let r = this.#rng.next();
    for (let i = 0; i < n; i++) {
      r -= this.#prob[i]!;
      if (r < 0) return this.#idx[i]!;
    }
    return this.#idx[n - 1]!;
  }
}

/** Index of the largest value (the first one on ties). */
export function argmax(x: Float32Array): number {
  let best = 0;
  let bv = x[0]!;
  for (let i = 1; i < x.length; i++) {
    if (x[i]! > bv) {
      bv = x[i]!;
      best = i;
    }
  }
  return best;
}
