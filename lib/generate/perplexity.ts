/**
 * Perplexity the way the reference measures it: non-overlapping windows of
 * `ctx` tokens of the text (tokenized without BOS), each run with BOS in
 * front; the NLL of every window token given the tokens before it in its
 * window. ppl = exp(mean NLL).
 */
import { AbortError, DisposedError, InvalidArgumentError, UnsupportedError } from '../errors';
import type { Model } from '../model/model';

export interface PerplexityOptions {
  /** Window length in tokens. Default 512. */
  ctx?: number;
  /** Windows to score; default: as many as the text holds. */
  windows?: number;
  /** Called after each window with the running perplexity. */
  onWindow?: (window: number, windows: number, ppl: number) => void;
  signal?: AbortSignal;
}

export interface PerplexityResult {
  ppl: number;
  /** Mean negative log-likelihood (nats per token). */
  nll: number;
  tokens: number;
  windows: number;
  ctx: number;
}

/** log-softmax of row `r` of `logits` ([rows, vocab]) at `target`: one pass over the row. */
function logProb(logits: Float32Array, vocab: number, r: number, target: number): number {
  const base = r * vocab;
  let max = -Infinity;
  for (let i = 0; i < vocab; i++) if (logits[base + i]! > max) max = logits[base + i]!;
  let sum = 0;
  for (let i = 0; i < vocab; i++) sum += Math.exp(logits[base + i]! - max);
  return logits[base + target]! - max - Math.log(sum);
}

export async function perplexity(
  model: Model,
  text: string,
  options: PerplexityOptions = {},
): Promise<PerplexityResult> {
  const show = (v: unknown): string => (typeof v === 'number' ? String(v) : typeof v);
  if (typeof model?.tokenize !== 'function') throw new InvalidArgumentError('model must be a Model from loadModel()');
  if (typeof text !== 'string') throw new InvalidArgumentError(`text must be a string, got ${show(text)}`);
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options must be an object');
  const ctxLen = options.ctx ?? 512;
  if (!Number.isInteger(ctxLen) || ctxLen < 2)
    throw new InvalidArgumentError(`ctx must be an integer >= 2, got ${show(ctxLen)}`);
  if (options.onWindow !== undefined && typeof options.onWindow !== 'function')
    throw new InvalidArgumentError('onWindow must be a function');
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal))
    throw new InvalidArgumentError('signal must be an AbortSignal');
  const bos = model.tokenizer.bos;
  if (bos === undefined) throw new UnsupportedError('perplexity needs a model with a BOS token');
  if (options.windows !== undefined && (!Number.isInteger(options.windows) || options.windows < 1)) {
    throw new InvalidArgumentError(`windows must be a positive integer, got ${show(options.windows)}`);
  }
  // A slice at a time (a long text never holds the event loop).
  if (model.disposed) throw new DisposedError('model');
  // A Uint32Array: a text of any length (a number[] result is capped at MAX_TOKEN_ARRAY ids).
  const tokens = await model.tokenizer.tokenizeAsync(text, { addSpecial: false, signal: options.signal, as: 'uint32' });
  const available = Math.floor(tokens.length / ctxLen);
  const windows = options.windows === undefined ? available : Math.min(options.windows, available);
  if (windows < 1)
    throw new InvalidArgumentError(`the text has ${tokens.length} tokens, fewer than one window of ${ctxLen}`);
  const vocab = model.info.vocabSize;
  const ctx = model.createContext({ contextSize: ctxLen });
  let nllSum = 0;
  let count = 0;
  try {
    for (let w = 0; w < windows; w++) {
      if (options.signal?.aborted) throw new AbortError();
      const win = tokens.subarray(w * ctxLen, (w + 1) * ctxLen);
      // Position i predicts win[i]: BOS, then all but the window's last token.
      const input = [bos, ...win.subarray(0, ctxLen - 1)];
      const logits = await ctx.evaluate(input, { allLogits: true }); // [ctx, vocab]
      for (let i = 0; i < ctxLen; i++) nllSum -= logProb(logits, vocab, i, win[i]!);
      count += ctxLen;
      options.onWindow?.(w + 1, windows, Math.exp(nllSum / count));
    }
  } finally {
    await ctx.dispose();
  }
  const nll = nllSum / count;
  return { ppl: Math.exp(nll), nll, tokens: count, windows, ctx: ctxLen };
}
