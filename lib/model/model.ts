/**
 * loadModel() and the Model: weights mapped once, a tokenizer, a backend, a
 * default context for generate/stream/chat, and any contexts the caller
 * creates. Everything heavy runs in graph runs off the main thread.
 */
import '../dispose-symbol';
import { Backend } from '../backend';
import {
  chatReply,
  chatStream,
  planChat,
  type ChatOptions,
  type ChatPlan,
  type ChatRenderOptionsWithTools,
  type ChatResult,
  type ChatStream,
} from '../chat/chat';
import type { ChatMessage } from '../chat/messages';
import { ChatTemplate, PLAIN_STOP, renderPlain } from '../chat/template';
import { verifySha256 } from '../checksum';
import { AbortError, ContextOverflowError, DisposedError, InvalidArgumentError } from '../errors';
import type { LazyGrammar } from '../generate/constraint';
import { runGeneration, collectGeneration, type GenerateResult, type PromptInput } from '../generate/generate';
import { resolveGenerateOptions, type GenerateOptions, type GenerationChunk } from '../generate/options';
import type { RowSampler } from '../generate/sampler';
import { ggmlTypeName } from '../gguf/types';
import { pullModel } from '../hub/pull';
import { Log } from '../log';
import { isHubSource } from '../hub/source';
import type { TokenizeOptions, DetokenizeOptions } from '../tokenizer/tokenizer';
import { Tokenizer } from '../tokenizer/tokenizer';
import { chooseBackend } from './backend-choice';
import { checkModelConsistency } from './consistency';
import { checkTokenIds, Context, type ContextHost, type ContextLayout } from './context';
import { familyOf } from './arch/registry';
import { describeModel, type Architecture, type ModelDescription, type ModelHParams } from './description';
import { embedOptions, Embedder, modelPooling, type EmbedOptions } from './embed';
import { checkKvType, checkKvTypeSupport, type KvType } from './kv-type';
import { Mutex } from './mutex';
import { checkContextSize, resolveLoadOptions, type LoadModelOptions } from './options';
import { loadModelTokenizer } from './tokenizer-loader';
import { SequenceEngine, type PinnedSequence } from './sequences';
import { loadWeights, mapFiles, type ModelWeights } from './weights';

/** Positions of the throwaway context Model.warm() builds (its graphs read every weight; its cache is tiny). */
const WARM_CONTEXT = 16;

export interface ModelInfo {
  architecture: Architecture;
  name: string;
  /** 'gguf' file or 'hf' folder. */
  format: 'gguf' | 'hf';
  backend: Backend['name'];
  /** Number of weights. */
  parameters: number;
  /** Type holding most of the weight bytes, e.g. 'Q8_0', 'F16'. */
  quantization: string;
  /** Context length the model was trained with. */
  contextLength: number;
  /** Tokens of the default context (and of each parallel sequence). */
  contextSize: number;
  /** Generations that run at once, batched (loadModel's maxSequences). */
  maxSequences: number;
  /** The KV cache type of the default context, parallel sequences and createContext() (loadModel's kvType). */
  kvType: KvType;
  vocabSize: number;
  nLayer: number;
  nHead: number;
  nKvHead: number;
  nEmbd: number;
  headDim: number;
  nFf: number;
  fileBytes: number;
  /** Whether the weights are read from a copy in transparent huge pages (loadModel's hugePages) rather than the file's mapping. */
  hugePages: boolean;
}

export type { ChatOptions, ChatResult, ChatStream } from '../chat/chat';

export interface CreateContextOptions {
  /** Tokens the context holds. Default: the model's default context size. */
  contextSize?: number;
  /** The KV cache's type (see loadModel's kvType). Default: the model's (info.kvType). */
  kvType?: KvType;
}

/** renderChat()/chatTokens() options: an object, with a boolean and a plain object if given. */
function checkChatOptions(o: unknown): void {
  if (o === null || typeof o !== 'object') throw new InvalidArgumentError('options must be an object');
  const { addGenerationPrompt, templateVariables } = o as Record<string, unknown>;
  if (addGenerationPrompt !== undefined && typeof addGenerationPrompt !== 'boolean')
    throw new InvalidArgumentError('addGenerationPrompt must be a boolean');
  if (templateVariables !== undefined && (templateVariables === null || typeof templateVariables !== 'object'))
    throw new InvalidArgumentError('templateVariables must be an object');
}

function summarize(desc: ModelDescription): { parameters: number; quantization: string } {
  let parameters = 0;
  const bytesByType = new Map<number, number>();
  for (const t of desc.tensors.values()) {
    parameters += t.shape.reduce((a, b) => a * b, 1);
    if (t.shape.length >= 2) bytesByType.set(t.type, (bytesByType.get(t.type) ?? 0) + t.bytes);
  }
  let best = -1,
    bestBytes = -1;
  for (const [type, bytes] of bytesByType) if (bytes > bestBytes) [best, bestBytes] = [type, bytes];
  return { parameters, quantization: best < 0 ? 'unknown' : ggmlTypeName(best) };
}

export class Model {
  readonly info: ModelInfo;
  readonly tokenizer: Tokenizer;
  readonly #desc: ModelDescription;
  readonly #backend: Backend;
  #weights: ModelWeights | undefined;
  readonly #contexts = new Set<Context>();
  #default: Context | undefined;
  #chatTemplate: ChatTemplate | undefined;
  #disposed = false;
  #disposing: Promise<void> | undefined;
  readonly #host: ContextHost;
  #engine: SequenceEngine | undefined;
  #embedder: Embedder | undefined;
  readonly #embedLock = new Mutex();

  /** @internal Use loadModel(). */
  constructor(
    desc: ModelDescription,
    tokenizer: Tokenizer,
    backend: Backend,
    weights: ModelWeights,
    contextSize: number,
    maxSequences = 1,
    kvType: KvType = 'f16',
  ) {
    this.#desc = desc;
    this.tokenizer = tokenizer;
    this.#backend = backend;
    this.#weights = weights;
    const hp = desc.hparams;
    this.info = Object.freeze({
      architecture: desc.architecture,
      name: desc.name,
      format: desc.format,
      backend: backend.name,
      ...summarize(desc),
      contextLength: hp.contextLength,
      contextSize,
      maxSequences,
      kvType,
      vocabSize: hp.vocabSize,
      nLayer: hp.nLayer,
      nHead: hp.nHead,
      nKvHead: hp.nKvHead,
      nEmbd: hp.nEmbd,
      headDim: hp.headDim,
      nFf: hp.nFf,
      fileBytes: desc.fileBytes,
      hugePages: weights.files.length > 0 && weights.files.every((f) => f.hugePages),
    });
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    checkKvTypeSupport(kvType, hp.headDim, backend.name);
    this.#host = {
      backend,
      family: familyOf(desc.architecture),
      hp,
      kvType,
      get weights(): ModelWeights {
        if (!self.#weights) throw new DisposedError('model');
        return self.#weights;
      },
      // In-flight and queued work may finish while dispose() waits for it.
      assertLive: () => {
        if (this.#disposed) throw new DisposedError('model');
      },
      forget: (ctx) => {
        this.#contexts.delete(ctx);
        if (this.#default === ctx) this.#default = undefined;
      },
    };
    if (desc.tensors.size === 0) throw new InvalidArgumentError('model has no tensors');
    // Parallel sequences' KV cache is allocated now: too little memory fails loadModel, not a later call.
    if (maxSequences > 1) this.#engine = new SequenceEngine(this.#host, maxSequences, contextSize);
  }

  get hparams(): ModelHParams {
    return this.#desc.hparams;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** @internal Parallel sequences' counters (batched steps and rows, prefilled tokens); undefined before first use. */
  get sequenceStats(): Readonly<SequenceEngine['stats']> | undefined {
    return this.#engine?.stats;
  }

  tokenize(text: string, options?: TokenizeOptions): number[] {
    this.#assertLive();
    return this.tokenizer.tokenize(text, options);
  }

  detokenize(ids: ArrayLike<number>, options?: DetokenizeOptions): string {
    this.#assertLive();
    return this.tokenizer.detokenize(ids, options);
  }

  /** A new context with its own KV cache (dispose it when done; model.dispose() does too). */
  createContext(options: CreateContextOptions = {}): Context {
    this.#assertLive();
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options must be an object');
    const size = checkContextSize(options.contextSize) ?? this.info.contextSize;
    const kvType = checkKvType(options.kvType) ?? this.info.kvType;
    checkKvTypeSupport(kvType, this.info.headDim, this.#backend.name);
    const ctx = new Context(this.#host, size, { kvType });
    this.#contexts.add(ctx);
    return ctx;
  }

  /**
   * @internal Makes once, at load, what the first evaluation would otherwise make inside its time to
   * first token: on the CPU at the x86 levels (AVX2 and up), the q4_0 and q8_0 matmul weights regrouped 8 rows at a time
   * (q4_K, q5_K and q6_K interleaved 4 at a time)
   * (0.25-1.3 s for a 1B model), kept on the weights and found there by every later graph. A small
   * throwaway context's decode graph names exactly the weights the model's graphs multiply by.
   */
  async warm(): Promise<void> {
    if (this.#backend.name !== 'cpu') return;
    const ctx = this.createContextWithLayout(Math.min(this.info.contextSize, WARM_CONTEXT), {
      maxTokens: 1,
      noAllLogits: true,
    });
    try {
      await ctx.warm();
    } finally {
      await ctx.dispose();
    }
  }

  /** @internal A context with a layout (tests: rows per prefill run, a full-size cache for windowed layers). */
  createContextWithLayout(contextSize: number, layout: ContextLayout): Context {
    this.#assertLive();
    const ctx = new Context(this.#host, contextSize, layout);
    this.#contexts.add(ctx);
    return ctx;
  }

  /**
   * A sequence of its own: one of the maxSequences slots, held until its
   * dispose(), whose cache keeps what it processed between calls (a
   * conversation, a document you ask several questions about). Its calls run
   * one at a time and batch with the model's other generations. Waits while
   * every slot is busy.
   */
  async createSequence(): Promise<ModelSequence> {
    this.#assertLive();
    const pinned = await this.#sequences().pinned();
    return new ModelSequence(pinned, {
      start: (prompt, options, streaming) => this.#start(prompt, options, [], streaming, undefined, undefined, pinned),
      chat: (messages, options, streaming) => this.#chat(messages, options, streaming, pinned),
    });
  }

  /** Generates a completion of `prompt` (text, tokenized with BOS, or token ids). Calls queue per model. */
  async generate(prompt: string | ArrayLike<number>, options?: GenerateOptions): Promise<GenerateResult> {
    return collectGeneration(this.#start(prompt, options, [], false));
  }

  /**
   * Streams a completion: one `{ text, token }` per generated token. Breaking
   * out of the loop stops generation. The context is not held while the
   * consumer holds a chunk, so an abandoned stream never blocks other calls
   * or dispose() (it then ends with finishReason 'abort').
   */
  stream(prompt: string | ArrayLike<number>, options?: GenerateOptions): AsyncIterable<GenerationChunk> {
    const gen = this.#start(prompt, options, [], true);
    return {
      [Symbol.asyncIterator]: () => gen,
    };
  }

  /** The chat prompt for `messages` (tools included): the model's template, or the plain format. */
  renderChat(messages: readonly ChatMessage[], options: ChatRenderOptionsWithTools = {}): string {
    this.#assertLive();
    checkChatOptions(options);
    const plan = planChat(messages, this.tokenizer.chatTemplate, options);
    return this.#render(plan, options.addGenerationPrompt ?? true);
  }

  /** Token ids of the chat prompt (special tokens in the template are parsed; BOS added unless the template has it). */
  chatTokens(
    messages: readonly ChatMessage[],
    options: Pick<ChatRenderOptionsWithTools, 'templateVariables' | 'tools'> = {},
  ): number[] {
    this.#assertLive();
    checkChatOptions(options);
    return this.#chatTokens(planChat(messages, this.tokenizer.chatTemplate, options));
  }

  /**
   * Answers a conversation (with `tools`, the reply's tool calls are in
   * `toolCalls`). The default context keeps the history's KV cache between turns.
   */
  async chat(messages: readonly ChatMessage[], options: ChatOptions = {}): Promise<ChatResult> {
    const reply = this.#chat(messages, options, false);
    for (;;) {
      const r = await reply.next();
      if (r.done) return r.value;
    }
  }

  /** Streams a chat reply: chunks carry the reply's text (tool-call text held back); `result` is the ChatResult. */
  streamChat(messages: readonly ChatMessage[], options: ChatOptions = {}): ChatStream {
    return chatStream(this.#chat(messages, options, true));
  }

  /**
   * Embedding vectors of `input` (a text or token ids; an array of them gives an array of
   * vectors): the final normed hidden states pooled by `options.pooling` (default: the
   * model's pooling type, else 'mean'; 'none' gives every token's vector, [n * nEmbd]) and
   * scaled to unit length unless `normalize: false`. Texts are tokenized as tokenize() does
   * (the model's BOS when it adds one).
   */
  async embed(input: string | readonly number[], options?: EmbedOptions): Promise<Float32Array>;
  async embed(input: ReadonlyArray<string | readonly number[]>, options?: EmbedOptions): Promise<Float32Array[]>;
  async embed(
    input: string | readonly number[] | ReadonlyArray<string | readonly number[]>,
    options?: EmbedOptions,
  ): Promise<Float32Array | Float32Array[]> {
    this.#assertLive();
    const o = embedOptions(options, modelPooling(this.#desc) ?? 'mean');
    const isIds = (x: unknown): x is readonly number[] => Array.isArray(x) && x.every((v) => typeof v === 'number');
    const one = typeof input === 'string' || (isIds(input) && (input.length > 0 || !Array.isArray(input)));
    const items = (one ? [input] : input) as ReadonlyArray<unknown>;
    if (!Array.isArray(items) || items.length === 0)
      throw new InvalidArgumentError('input must be a string, token ids, or a non-empty array of them');
    items.forEach((x, i) => {
      if (typeof x !== 'string' && !isIds(x))
        throw new InvalidArgumentError(`input ${i} must be a string or an array of token ids`);
    });
    // Texts tokenized a slice at a time (a long one never holds the event loop), stopping past the context.
    const ctxLen = this.#desc.hparams.contextLength;
    const ids: Array<ArrayLike<number>> = [];
    for (const x of items as ReadonlyArray<string | readonly number[]>) {
      if (typeof x !== 'string') ids.push([...x]);
      else {
        // A Uint32Array: a number[] result is capped at MAX_TOKEN_ARRAY ids, a context may be longer.
        const t = await this.tokenizer.tokenizeAsync(x, { maxTokens: ctxLen, as: 'uint32' }).catch((e: unknown) => {
          if (e instanceof ContextOverflowError)
            throw new ContextOverflowError(`the input has more tokens than the model's context holds (${ctxLen})`);
          throw e;
        });
        ids.push(t);
      }
    }
    const out = await this.#embedLock.run(async () => {
      this.#assertLive();
      this.#embedder ??= new Embedder(this.#backend, this.#host.family, this.#host.hp, () => this.#host.weights.model);
      const vectors: Float32Array[] = [];
      for (const t of ids) vectors.push(await this.#embedder.run(t, o));
      return vectors;
    });
    return one ? out[0]! : out;
  }

  /** Waits for running and queued work, then frees every context, the weights and the backend. */
  dispose(): Promise<void> {
    if (!this.#disposing) {
      this.#disposing = (async () => {
        await this.#engine?.dispose();
        const contexts = [...this.#contexts];
        await Promise.all(contexts.map((c) => c.dispose()));
        // Embedding graphs: after the running embed() call, if any.
        const release = await this.#embedLock.acquire();
        this.#embedder?.dispose();
        this.#embedder = undefined;
        release();
        this.#disposed = true;
        // Unmapped and closed now, not when the garbage collector gets to the wrappers.
        const w = this.#weights;
        this.#weights = undefined;
        for (const b of w?.buffers ?? []) b.dispose();
        for (const f of w?.files ?? []) f.close();
        await this.#backend.dispose();
      })();
    }
    return this.#disposing;
  }

  /** `await using model = await loadModel(…)` disposes the model at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  #render(plan: ChatPlan, addGenerationPrompt: boolean): string {
    const tpl = this.#template();
    if (!tpl) return renderPlain(plan.messages, addGenerationPrompt);
    return tpl.render(plan.templateMessages, {
      bosToken: this.tokenizer.bosToken,
      eosToken: this.tokenizer.eosToken,
      addGenerationPrompt,
      variables: plan.variables,
    });
  }

  #chatTokens(plan: ChatPlan): number[] {
    const p = this.#chatPrompt(plan);
    return this.tokenizer.tokenize(p.text, { addSpecial: p.addSpecial, parseSpecial: p.parseSpecial });
  }

  /** The chat prompt's text and how to tokenize it (special tokens in the template parsed; BOS unless it has one). */
  #chatPrompt(plan: ChatPlan): { text: string; addSpecial: boolean; parseSpecial: boolean } {
    const text = this.#render(plan, true);
    const bos = this.tokenizer.bosToken;
    const hasBos = this.#template() !== undefined && bos !== undefined && bos.length > 0 && text.startsWith(bos);
    return { text, addSpecial: !hasBos, parseSpecial: this.#template() !== undefined };
  }

  #chat(
    messages: readonly ChatMessage[],
    options: ChatOptions,
    streaming: boolean,
    target?: PinnedSequence,
  ): AsyncGenerator<GenerationChunk, ChatResult, undefined> {
    this.#assertLive();
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options must be an object');
    const { templateVariables, tools, toolChoice, onToken, ...genOptions } = options;
    if (onToken !== undefined && typeof onToken !== 'function')
      throw new InvalidArgumentError('onToken must be a function');
    const plan = planChat(messages, this.tokenizer.chatTemplate, { tools, toolChoice, templateVariables }, genOptions);
    const prompt = this.#chatPrompt(plan);
    const extraStop = this.#template() ? [] : PLAIN_STOP;
    const gen = this.#start(
      prompt.text,
      plan.grammar ? { ...genOptions, grammar: plan.grammar } : genOptions,
      extraStop,
      streaming,
      plan.lazyGrammar,
      prompt,
      target,
    );
    return chatReply(gen, plan, onToken);
  }

  #sequences(): SequenceEngine {
    this.#engine ??= new SequenceEngine(this.#host, this.info.maxSequences, this.info.contextSize);
    return this.#engine;
  }

  #template(): ChatTemplate | undefined {
    const src = this.tokenizer.chatTemplate;
    if (src === undefined) return undefined;
    // The model's template: its failures are ERR_BAD_MODEL naming the model.
    if (!this.#chatTemplate) this.#chatTemplate = new ChatTemplate(src, { origin: this.#desc.source });
    return this.#chatTemplate;
  }

  #defaultContext(): Context {
    if (!this.#default || this.#default.disposed) this.#default = this.createContext();
    return this.#default;
  }

  /** Text prompts are tokenized inside the generation, a slice at a time (the event loop stays free). */
  #start(
    prompt: string | ArrayLike<number>,
    options: GenerateOptions | undefined,
    extraStop: readonly string[],
    streaming: boolean,
    lazyGrammar?: LazyGrammar,
    tokenizeAs: { addSpecial: boolean; parseSpecial: boolean } = { addSpecial: true, parseSpecial: false },
    target?: PinnedSequence,
  ): AsyncGenerator<GenerationChunk, GenerateResult, undefined> {
    this.#assertLive();
    if (target?.disposed) throw new DisposedError('sequence');
    const o = resolveGenerateOptions(options, extraStop);
    if (lazyGrammar) o.lazyGrammar = lazyGrammar;
    if (target || this.info.maxSequences > 1) {
      const input: PromptInput =
        typeof prompt === 'string'
          ? { text: prompt, addSpecial: tokenizeAs.addSpecial, parseSpecial: tokenizeAs.parseSpecial }
          : checkTokenIds(prompt, this.info.contextSize, this.info.vocabSize);
      const seq = target ?? this.#sequences().sequence('text' in input ? [] : input);
      return runGeneration(seq, this.tokenizer, input, o, streaming, this.#sampleRow);
    }
    const ctx = this.#defaultContext();
    const input: PromptInput =
      typeof prompt === 'string'
        ? { text: prompt, addSpecial: tokenizeAs.addSpecial, parseSpecial: tokenizeAs.parseSpecial }
        : ctx.checkTokens(prompt);
    return runGeneration(ctx, this.tokenizer, input, o, streaming, this.#sampleRow);
  }

  /** The sampler's selection and draw, on the backend's CPU threads between two steps. */
  readonly #sampleRow: RowSampler = (logits, topK, topP, minP, temperature, r) =>
    this.#backend.sampleLogits(logits, topK, topP, minP, temperature, r);

  #assertLive(): void {
    if (this.#disposed || this.#disposing) throw new DisposedError('model');
  }
}

interface SequenceRunner {
  start(
    prompt: string | ArrayLike<number>,
    options: GenerateOptions | undefined,
    streaming: boolean,
  ): AsyncGenerator<GenerationChunk, GenerateResult, undefined>;
  chat(
    messages: readonly ChatMessage[],
    options: ChatOptions,
    streaming: boolean,
  ): AsyncGenerator<GenerationChunk, ChatResult, undefined>;
}

/**
 * An explicit sequence (model.createSequence()): generate / stream / chat as
 * on the model, over a cache of its own that persists between calls.
 */
export class ModelSequence {
  readonly #seq: PinnedSequence;
  readonly #run: SequenceRunner;

  /** @internal Use model.createSequence(). */
  constructor(seq: PinnedSequence, run: SequenceRunner) {
    this.#seq = seq;
    this.#run = run;
  }

  /** Tokens this sequence's cache holds (the next call reuses the longest matching prefix). */
  get cachedTokens(): readonly number[] {
    return this.#seq.cachedTokens;
  }

  get disposed(): boolean {
    return this.#seq.disposed;
  }

  async generate(prompt: string | ArrayLike<number>, options?: GenerateOptions): Promise<GenerateResult> {
    return collectGeneration(this.#run.start(prompt, options, false));
  }

  stream(prompt: string | ArrayLike<number>, options?: GenerateOptions): AsyncIterable<GenerationChunk> {
    const gen = this.#run.start(prompt, options, true);
    return { [Symbol.asyncIterator]: () => gen };
  }

  async chat(messages: readonly ChatMessage[], options: ChatOptions = {}): Promise<ChatResult> {
    const reply = this.#run.chat(messages, options, false);
    for (;;) {
      const r = await reply.next();
      if (r.done) return r.value;
    }
  }

  streamChat(messages: readonly ChatMessage[], options: ChatOptions = {}): ChatStream {
    return chatStream(this.#run.chat(messages, options, true));
  }

  /** Waits for its running call, then frees its slot for other generations. */
  dispose(): Promise<void> {
    return this.#seq.dispose();
  }

  /** `await using seq = await model.createSequence()` frees the slot at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

/** Loads a GGUF file, a Hugging Face model folder, or an `hf:org/repo[:QUANT]` source from the Hub (cached). */
export async function loadModel(source: string, options?: LoadModelOptions): Promise<Model> {
  if (typeof source !== 'string' || source.length === 0)
    throw new InvalidArgumentError('source must be a path to a GGUF file or a model folder, or an hf: source');
  const o = resolveLoadOptions(options);
  if (isHubSource(source)) {
    const pulled = await pullModel(source, {
      ...(o.hub ? { hub: o.hub } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      onProgress: (p) => o.onProgress?.({ stage: 'download', ...p }),
    });
    source = pulled.path;
  }
  const aborted = (): void => {
    if (o.signal?.aborted) throw new AbortError('loading was aborted');
  };
  const progress = (stage: 'checksum' | 'map' | 'ready', p: number): void => o.onProgress?.({ stage, progress: p });
  aborted();
  const log = new Log(o.logger, o.quiet || Boolean(process.env['MINIMACLLM_QUIET']));
  const started = Date.now();
  const backendName = chooseBackend(o.backend, log);
  if (o.sha256 !== undefined) {
    progress('checksum', 0);
    const fs = await import('node:fs');
    if ((await fs.promises.stat(source).catch(() => undefined))?.isDirectory()) {
      throw new InvalidArgumentError('sha256 can only be checked for a single GGUF file, not a folder');
    }
    await verifySha256(source, o.sha256, o.signal);
  }
  aborted();
  progress('map', 0);
  const desc = await describeModel(source);
  checkModelConsistency(desc);
  const tokenizer = await loadModelTokenizer(desc);
  aborted();
  const contextSize = o.contextSize ?? Math.min(desc.hparams.contextLength, 4096);
  // The native side ignores the request where the system gives no huge pages (not Linux, or off).
  const hugePages = o.hugePages ?? false;
  const mapped = await mapFiles(desc.files, hugePages);
  try {
    aborted();
  } catch (e) {
    for (const f of mapped.values()) f.close();
    throw e;
  }
  const backend = Backend.create(backendName, o.threads === undefined ? {} : { threads: o.threads });
  let weights: ModelWeights | undefined;
  try {
    weights = loadWeights(backend, desc, familyOf(desc.architecture), mapped);
    aborted();
    const model = new Model(desc, tokenizer, backend, weights, contextSize, o.maxSequences, o.kvType);
    await model.warm();
    aborted();
    if (log.enabled('info')) {
      const i = model.info;
      log.info(
        `loaded ${i.name || i.architecture} (${i.architecture}, ${i.quantization}, context ${i.contextSize}) ` +
          `on ${i.backend} with ${backend.threads} threads in ${Date.now() - started} ms`,
      );
    }
    progress('ready', 1);
    return model;
  } catch (e) {
    for (const b of weights?.buffers ?? []) b.dispose();
    for (const f of weights?.files ?? mapped.values()) f.close();
    await backend.dispose();
    throw e;
  }
}
