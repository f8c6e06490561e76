/**
 * The generation loop: prefill the prompt (batched, reusing the context's
 * cached prefix), then one graph run per token → sampler → incremental,
 * UTF-8-safe detokenization → stop-string check. A driven generation
 * (generate(), chat()) holds the context's lock for its whole life, so
 * concurrent generations queue instead of mixing KV caches. A stream releases
 * the lock while its consumer holds a chunk (a consumer may abandon it, or
 * pull another stream in lock-step) and takes it back for the next step,
 * re-running the part of its history another caller evicted from the cache.
 * A generation whose context was disposed meanwhile ends with 'abort'.
 */
import { AbortError, ContextOverflowError } from '../errors';
import type { Tokenizer } from '../tokenizer/tokenizer';
import { bestAllowed, GrammarConstraint, LazyGrammarConstraint, type TokenConstraint } from './constraint';
import type { GenerationChunk, ResolvedGenerateOptions } from './options';
import { type RowSampler, Sampler } from './sampler';
import { StopMatcher } from './stop';

/**
 * What the generation loop runs on: a Context, or a parallel sequence (the
 * same protocol over a slot of a shared cache, decoded in batched steps).
 */
export interface GenerationTarget {
  readonly contextSize: number;
  readonly disposed: boolean;
  /** Holds the cache for the steps that follow (released while a stream's consumer holds a chunk). */
  acquire(): Promise<() => void>;
  prefixLength(ids: readonly number[]): number;
  readonly cacheEpoch: number;
  evaluateLocked(ids: readonly number[], signal?: AbortSignal): Promise<Float32Array>;
  nextLocked(ids: readonly number[], epoch: number, signal?: AbortSignal): Promise<Float32Array>;
  /** Validates token ids and length against the context (throws ERR_INVALID_ARG / ERR_CONTEXT_OVERFLOW). */
  checkTokens(tokens: ArrayLike<number>): number[];
  /** The prompt is known (tokenized): a parallel sequence may move to a slot that caches more of it. */
  prepare?(prompt: readonly number[]): Promise<void>;
  /** The generation is over (its cache may go to others first). */
  close?(): void;
}

export type FinishReason = 'eos' | 'stop' | 'length' | 'abort';

export interface GenerateResult {
  /** Generated text (stop strings and the end-of-sequence token excluded). */
  text: string;
  /** Generated token ids (the end-of-sequence token excluded). */
  tokens: number[];
  finishReason: FinishReason;
  /** With `jsonSchema` or `json`: the parsed output (undefined unless generation ended with 'eos'). */
  json?: unknown;
  usage: { promptTokens: number; completionTokens: number };
  timings: {
    /** Time to process the prompt (the part not already cached). */
    promptMs: number;
    /** Time from the end of the prompt to the end of generation. */
    generateMs: number;
    promptTokensPerSecond: number;
    generateTokensPerSecond: number;
  };
}

const perSecond = (n: number, ms: number): number => (ms > 0 ? (n * 1000) / ms : 0);

/** A prompt as token ids (already checked against the context), or as text to tokenize. */
export type PromptInput = readonly number[] | { text: string; addSpecial: boolean; parseSpecial: boolean };

const aborted = (): GenerateResult => ({
  text: '',
  tokens: [],
  finishReason: 'abort',
  usage: { promptTokens: 0, completionTokens: 0 },
  timings: { promptMs: 0, generateMs: 0, promptTokensPerSecond: 0, generateTokensPerSecond: 0 },
});

/**
 * Tokenizes a text prompt a slice at a time (the event loop stays free), stopping as soon as it is
 * known not to fit the context.
 */
async function promptTokens(ctx: GenerationTarget, tokenizer: Tokenizer, input: PromptInput, signal?: AbortSignal) {
  if (!('text' in input)) return input;
  const size = ctx.contextSize;
  try {
    const ids = await tokenizer.tokenizeAsync(input.text, {
      addSpecial: input.addSpecial,
      parseSpecial: input.parseSpecial,
      maxTokens: size,
      as: 'uint32', // a context may hold more than MAX_TOKEN_ARRAY ids; checkTokens copies them into a number[]
      ...(signal ? { signal } : {}),
    });
    return ctx.checkTokens(ids);
  } catch (e) {
    if (e instanceof ContextOverflowError)
      throw new ContextOverflowError(`the prompt has more than ${size} tokens: it does not fit the context of ${size}`);
    throw e;
  }
}

/**
 * Runs one generation; yields a chunk per token and returns the result. `rows`: what runs the sampler's
 * selection and draw (the model's backend, whose idle threads take part; the addon alone by default).
 */
export async function* runGeneration(
  ctx: GenerationTarget,
  tokenizer: Tokenizer,
  input: PromptInput,
  o: ResolvedGenerateOptions,
  streaming = false,
  rows?: RowSampler,
): AsyncGenerator<GenerationChunk, GenerateResult, undefined> {
  // Builds the tokenizer's trie on first use: before taking the context.
  let constraint: TokenConstraint | undefined;
  if (o.grammar) constraint = new GrammarConstraint(await o.grammar.matcher(tokenizer));
  else if (o.lazyGrammar) constraint = await LazyGrammarConstraint.create(o.lazyGrammar, tokenizer);
  // Then the lock (the generation keeps its place in the queue: dispose() waits for it), and then the
  // prompt is tokenized a slice at a time.
  let release: (() => void) | undefined = await ctx.acquire();
  const unlock = (): void => {
    release?.();
    release = undefined;
  };
  try {
    let prompt: readonly number[];
    try {
      prompt = await promptTokens(ctx, tokenizer, input, o.signal);
      await ctx.prepare?.(prompt);
    } catch (e) {
      if (e instanceof AbortError) return aborted();
      throw e;
    }
    const sampler = new Sampler(o.sampler, tokenizer.vocabSize, tokenizer.holes, rows);
    const decoder = tokenizer.createDecoder();
    const stop = new StopMatcher(o.stop);
    const history = [...prompt];
    const tokens: number[] = [];
    let text = '';
    let finishReason: FinishReason = 'length';
    const t0 = performance.now();
    let promptMs = 0;
    let promptProcessed = 0;
    const emit = (chunk: GenerationChunk): GenerationChunk => {
      text += chunk.text;
      o.onToken?.(chunk);
      return chunk;
    };

    try {
      if (o.signal?.aborted || ctx.disposed) throw new AbortError();
      const cachedBefore = ctx.prefixLength(history);
      let logits = await evaluate(ctx, history, undefined, o.signal, constraint);
      let epoch = ctx.cacheEpoch;
      promptProcessed = history.length - cachedBefore;
      promptMs = performance.now() - t0;
      for (;;) {
        o.logitsProcessor?.(logits, { tokens: history, generated: tokens.length });
        constraint?.apply(logits);
        let token = sampler.sample(logits, history);
        if (constraint && !constraint.allows(token)) token = bestAllowed(logits, (t) => constraint.allows(t));
        if (tokenizer.isEog(token)) {
          finishReason = 'eos';
          break;
        }
        constraint?.accept(token);
        history.push(token);
        tokens.push(token);
        const piece = stop.push(decoder.push(token));
        if (streaming) unlock();
        yield emit({ text: piece.text, token });
        if (streaming) {
          release = await ctx.acquire();
          if (ctx.disposed) throw new AbortError();
        }
        if (piece.stopped) {
          finishReason = 'stop';
          break;
        }
        if (constraint?.finished) {
          // The grammar is complete and allows nothing more: end of generation is the only choice.
          finishReason = 'eos';
          break;
        }
        if (tokens.length >= o.maxTokens || history.length > ctx.contextSize) {
          finishReason = 'length';
          break;
        }
        if (o.signal?.aborted) {
          finishReason = 'abort';
          break;
        }
        // One token at the next position (the whole history only if a stream's cache changed meanwhile).
        logits = await evaluate(ctx, history, epoch, o.signal, constraint);
        epoch = ctx.cacheEpoch;
      }
    } catch (e) {
      if (!(e instanceof AbortError)) throw e;
      finishReason = 'abort';
      if (promptMs === 0) promptMs = performance.now() - t0;
    }
    unlock(); // no native work is left
    if (finishReason !== 'stop') {
      const tail = stop.push(decoder.flush());
      if (tail.stopped) finishReason = 'stop';
      const rest = tail.text + stop.flush();
      if (rest.length > 0) yield emit({ text: rest, token: -1 });
    }
    const generateMs = performance.now() - t0 - promptMs;
    return {
      text,
      tokens,
      finishReason,
      ...(o.parseJson ? { json: finishReason === 'eos' ? JSON.parse(text) : undefined } : {}),
      usage: { promptTokens: prompt.length, completionTokens: tokens.length },
      timings: {
        promptMs,
        generateMs,
        promptTokensPerSecond: perSecond(promptProcessed, promptMs),
        generateTokensPerSecond: perSecond(tokens.length, generateMs),
      },
    };
  } finally {
    unlock();
    ctx.close?.();
  }
}

/**
 * Runs the model over `history` (the prompt), or over its last token when
 * `epoch` (the context's cacheEpoch after the previous step) is given; while
 * it runs (off the main thread), the grammar's mask for the next token is
 * computed here.
 */
async function evaluate(
  ctx: GenerationTarget,
  history: readonly number[],
  epoch: number | undefined,
  signal: AbortSignal | undefined,
  constraint: TokenConstraint | undefined,
): Promise<Float32Array> {
  const pending = epoch === undefined ? ctx.evaluateLocked(history, signal) : ctx.nextLocked(history, epoch, signal);
  if (constraint) {
    try {
      constraint.prepare();
    } catch (e) {
      await pending.catch(() => undefined);
      throw e;
    }
  }
  return pending;
}

/** Drives a generation to the end and returns its result. */
export async function collectGeneration(
  gen: AsyncGenerator<GenerationChunk, GenerateResult, undefined>,
): Promise<GenerateResult> {
  for (;;) {
    const r = await gen.next();
    if (r.done) return r.value;
  }
}
