/**
 * Tokenizer: text ↔ token ids for a model's vocabulary, exactly as llama.cpp
 * (GGUF) or Hugging Face tokenizers (tokenizer.json) would produce them.
 */
import { AbortError, ContextOverflowError, InvalidArgumentError } from '../errors';
import type { CutPlan } from './cuts';
import type { Defer, MergeJob } from './merge-job';
import { Offload } from './offload';
import { decodeAll, PieceTable, StreamingDecoder } from './decoder';
import { specFromGGUF, specFromGGUFAsync } from './gguf-vocab';
import { SpecialMatcher } from './special';
import type { TokenizerSpec } from './spec';
import { specFromTokenizerJson, specFromTokenizerJsonAsync, type TokenizerJsonParts } from './tokenizer-json';
import { wellFormed } from './unicode';
import { SPECIAL_ATTRS } from './vocab';

export interface TokenizeOptions {
  /** Add BOS / EOS when the model asks for them (`addBos` / `addEos`). Default true. */
  addSpecial?: boolean;
  /** Recognise control tokens such as `<|im_start|>` written in the text. Default false: they are plain text. */
  parseSpecial?: boolean;
}

export interface TokenizeAsyncOptions extends TokenizeOptions {
  /** Stop as soon as the text is known to need more tokens than this: ERR_CONTEXT_OVERFLOW. */
  maxTokens?: number;
  /** Aborting stops tokenizing: ERR_ABORTED. */
  signal?: AbortSignal;
  /**
   * What the ids come back as: `'array'` (default) a `number[]` of at most MAX_TOKEN_ARRAY ids (more is
   * ERR_INVALID_ARG), `'uint32'` a `Uint32Array` of any length.
   */
  as?: 'array' | 'uint32';
}

export interface DetokenizeOptions {
  /** Leave out special tokens (BOS, EOS, control tokens). Default false. */
  skipSpecial?: boolean;
}

export type { StreamingDecoder } from './decoder';

/**
 * tokenizeAsync gives the event loop a turn after this many milliseconds of work. A gap is this plus the
 * last slice plus any collection that lands in it: at 15 a 28 ms major GC put gaps at 44-52 ms.
 */
const SLICE_MS = 10;
/** tokenizeAsync's first slice (characters); later ones are sized by how long slices take (up to sliceChars). */
const FIRST_SLICE_CHARS = 1024;
/** tokenizeAsync's smallest slice, unless sliceChars is smaller (tests). */
const MIN_SLICE_CHARS = 128;
/** tokenizeAsync looks for the next safe cut this many characters at a time. */
const CUT_SCAN = 4096;
/**
 * tokenizeAsync hands a stretch this long with no safe cut (and what follows it), or a whole text this
 * long for a pipeline with no cuts, to a worker thread (offload.ts): the normalizer, pre-tokenizer and
 * symbols of an uncut stretch cost 20-70 ms per MB of main-thread time in one step.
 */
const OFFLOAD_UNCUT = 1 << 17;
/**
 * tokenizeAsync keeps its tokens in arrays of about this many ids until it joins them at the end (a growing
 * array copies itself: at 2^20 a growth in one slice held the event loop 43 ms on a Zen 5 VM, at 2^18 24 ms).
 */
const PART_IDS = 1 << 18;
/** Ids copied from the worker's array into a typed result per step (4 MB, fresh pages faulted in as written). */
const COPY_IDS = 1 << 20;

/**
 * The most ids tokenizeAsync returns as a `number[]` (2^20 = 1,048,576): one JavaScript array is allocated in
 * one step, 8 bytes an id with its pages faulted in at once (~5 ms of main-thread CPU per million ids where
 * fresh pages are cheap); at 2^22 a quiet run measured 36-39 ms in one gap (the array plus a collection), at
 * 2^21 28-31 ms, but 43-48 ms on a Zen 5 VM whose fresh pages cost more (54-62 ms beside another busy
 * process), 2^20 29 ms there: the margin is kept for such machines. A longer text is ERR_INVALID_ARG
 * as soon as it is known to need more; `{ as: 'uint32' }` gives a `Uint32Array` of any length (allocated
 * lazily, filled a slice at a time), `maxTokens` bounds the count.
 */
export const MAX_TOKEN_ARRAY = 1 << 20;

/**
 * An array for `n` numbers. V8 keeps it fast when sized up front up to 2^25 elements; past that it grows as it
 * is filled. From PART_IDS up it holds doubles (unboxed, 8 bytes each like small integers): the GC's marking
 * skips a double array, where it scans an array of small integers slot by slot, in the one pause of the next
 * full collection (287 ms after a 21 M-id result, 5 ms with doubles: `node --trace-gc`). The values read back
 * are the same integers.
 */
function numberArray(n: number): number[] {
  if (n < PART_IDS) return new Array<number>(n);
  const a = [0.5]; // a double array from the start: converting one later would copy it in one step
  a.length = n < 1 << 25 ? n : 0;
  return a;
}

/**
 * The worker's ids. Not `instanceof`: a message's typed array is made in the realm the port delivers to,
 * which is not this module's under a test runner's vm context (jest).
 */
function isUint32(v: unknown): v is Uint32Array {
  return ArrayBuffer.isView(v) && Object.prototype.toString.call(v) === '[object Uint32Array]';
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'symbol') return v.toString();
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? 'an array' : 'an object';
  return String(v);
}

/** Checks boolean options the way generate() checks its own: unknown keys and wrong types are errors. */
function booleanOptions<K extends string>(
  fn: string,
  options: unknown,
  keys: readonly K[],
): Partial<Record<K, boolean>> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw new InvalidArgumentError(`${fn}: options must be an object, got ${show(options)}`);
  const o = options as Record<string, unknown>;
  const out: Partial<Record<K, boolean>> = {};
  for (const k of Object.keys(o)) {
    const v = o[k];
    if (v === undefined) continue;
    if (!(keys as readonly string[]).includes(k)) throw new InvalidArgumentError(`${fn}: unknown option "${k}"`);
    if (typeof v !== 'boolean') throw new InvalidArgumentError(`${fn}: ${k} must be a boolean, got ${show(v)}`);
    out[k as K] = v;
  }
  return out;
}

/** Token ids: an array or array-like of integers (checked one by one as they are decoded). */
function checkIds(fn: string, ids: unknown): ArrayLike<number> {
  if (ids === null || typeof ids !== 'object' || typeof (ids as { length?: unknown }).length !== 'number')
    throw new InvalidArgumentError(`${fn}: ids must be an array of token ids`);
  const n = (ids as ArrayLike<unknown>).length;
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff)
    throw new InvalidArgumentError(`${fn}: ids.length must be an integer >= 0, got ${show(n)}`);
  return ids as ArrayLike<number>;
}

export class Tokenizer {
  /** 'spm': SentencePiece-style BPE with byte fallback; 'bpe': rank-based (byte-level) BPE. */
  readonly type: 'spm' | 'bpe';
  readonly vocabSize: number;
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  /** End-of-turn token (e.g. `<|eot_id|>`, `<|im_end|>`), if the vocabulary has one. */
  readonly eot: number | undefined;
  /** Whether tokenize() puts BOS first (with `addSpecial`). */
  readonly addBos: boolean;
  /** Whether tokenize() puts EOS last (with `addSpecial`). */
  readonly addEos: boolean;
  readonly chatTemplate: string | undefined;
  /** @internal Ids below vocabSize without a token (gaps in a tokenizer.json's ids): never to be generated. */
  readonly holes: readonly number[];

  private readonly spec: TokenizerSpec;
  private readonly pieces: PieceTable;
  private readonly special: SpecialMatcher;
  private readonly eogSet: ReadonlySet<number>;
  /** The worker tokenizeAsync hands uncut stretches to; none for a tokenizer with no source. */
  readonly #offload: Offload | undefined;

  /** @internal Use loadTokenizer, Tokenizer.fromGGUFMetadata or Tokenizer.fromTokenizerJson. */
  constructor(spec: TokenizerSpec) {
    this.spec = spec;
    this.type = spec.type;
    this.vocabSize = spec.tokens.length;
    this.bos = spec.bos;
    this.eos = spec.eos;
    this.eot = spec.eot;
    this.addBos = spec.addBos;
    this.addEos = spec.addEos;
    this.chatTemplate = spec.chatTemplate;
    this.holes = Object.freeze([...(spec.holes ?? [])]);
    this.pieces = new PieceTable(spec.tokens, spec.attrs, spec.pieceMode);
    this.special = new SpecialMatcher(spec.tokens, spec.attrs);
    this.eogSet = new Set(spec.eog);
    this.#offload = spec.source ? new Offload(spec.source) : undefined;
  }

  /** From GGUF metadata (`readGGUF(path).metadata`). */
  static fromGGUFMetadata(metadata: Readonly<Record<string, unknown>>): Tokenizer {
    return new Tokenizer(specFromGGUF(metadata));
  }

  /** @internal fromGGUFMetadata with the event loop free every ~5 ms (loadModel, loadTokenizer). */
  static async fromGGUFMetadataAsync(metadata: Readonly<Record<string, unknown>>): Promise<Tokenizer> {
    return new Tokenizer(await specFromGGUFAsync(metadata));
  }

  /** From a parsed HF tokenizer.json and, optionally, tokenizer_config.json (BOS/EOS, chat template). */
  static fromTokenizerJson(json: unknown, config?: unknown): Tokenizer {
    return new Tokenizer(specFromTokenizerJson(json, config));
  }

  /** @internal fromTokenizerJson with the event loop free every ~5 ms (loadModel, loadTokenizer). */
  static async fromTokenizerJsonAsync(json: unknown, config?: unknown): Promise<Tokenizer> {
    return new Tokenizer(await specFromTokenizerJsonAsync({ json }, config));
  }

  /** @internal From a tokenizer.json parsed off the main thread (json-parts.ts), built in slices. */
  static async fromTokenizerJsonPartsAsync(parts: TokenizerJsonParts, config?: unknown): Promise<Tokenizer> {
    return new Tokenizer(await specFromTokenizerJsonAsync(parts, config));
  }

  get bosToken(): string | undefined {
    return this.bos === undefined ? undefined : this.spec.tokens[this.bos];
  }

  get eosToken(): string | undefined {
    return this.eos === undefined ? undefined : this.spec.tokens[this.eos];
  }

  /**
   * Text → token ids, synchronously (the whole text in one go: for long texts in a server, prefer
   * tokenizeAsync, which never holds the event loop for long).
   */
  tokenize(text: string, options?: TokenizeOptions): number[] {
    if (typeof text !== 'string') throw new InvalidArgumentError(`tokenize: text must be a string, got ${show(text)}`);
    const o = booleanOptions('tokenize', options, ['addSpecial', 'parseSpecial']);
    const addSpecial = o.addSpecial ?? true;
    const parseSpecial = o.parseSpecial ?? false;
    const s = wellFormed(text);
    const out: number[] = [];
    const spec = this.spec;
    if (addSpecial && spec.addBos && spec.bos !== undefined) out.push(spec.bos);
    if (s.length > 0) this.#encodeRange(s, 0, s.length, parseSpecial, out);
    if (addSpecial && spec.addEos && spec.eos !== undefined) out.push(spec.eos);
    return out;
  }

  /**
   * tokenize() that never holds the event loop for long: a long text is cut where tokenizing the parts
   * gives exactly the tokens of the whole (cuts.ts), and the parts are tokenized a slice at a time with
   * the event loop free in between. With `maxTokens` it stops as soon as the tokens exceed it.
   *
   * Resolves with a `number[]` of at most MAX_TOKEN_ARRAY ids (a longer result is ERR_INVALID_ARG, as soon as
   * that is known), or with `{ as: 'uint32' }` a `Uint32Array` of any length.
   */
  tokenizeAsync(text: string, options: TokenizeAsyncOptions & { as: 'uint32' }): Promise<Uint32Array>;
  tokenizeAsync(text: string, options?: TokenizeAsyncOptions & { as?: 'array' | undefined }): Promise<number[]>;
  tokenizeAsync(text: string, options?: TokenizeAsyncOptions): Promise<number[] | Uint32Array>;
  async tokenizeAsync(text: string, options?: TokenizeAsyncOptions): Promise<number[] | Uint32Array> {
    if (typeof text !== 'string')
      throw new InvalidArgumentError(`tokenizeAsync: text must be a string, got ${show(text)}`);
    const { maxTokens, signal, as, ...rest } = (options ?? {}) as TokenizeAsyncOptions & Record<string, unknown>;
    if (options !== undefined && (options === null || typeof options !== 'object'))
      throw new InvalidArgumentError(`tokenizeAsync: options must be an object, got ${show(options)}`);
    const o = booleanOptions('tokenizeAsync', rest, ['addSpecial', 'parseSpecial']);
    if (maxTokens !== undefined && (!Number.isSafeInteger(maxTokens) || maxTokens < 0))
      throw new InvalidArgumentError(`tokenizeAsync: maxTokens must be an integer >= 0, got ${show(maxTokens)}`);
    if (signal !== undefined && !(signal instanceof AbortSignal))
      throw new InvalidArgumentError(`tokenizeAsync: signal must be an AbortSignal, got ${show(signal)}`);
    if (as !== undefined && as !== 'array' && as !== 'uint32')
      throw new InvalidArgumentError(`tokenizeAsync: as must be 'array' or 'uint32', got ${show(as)}`);
    const typed = as === 'uint32';
    return this.#tokenizeAsync(text, {
      addSpecial: o.addSpecial ?? true,
      parseSpecial: o.parseSpecial ?? false,
      continued: false,
      maxTokens,
      signal,
      offload: this.#offload,
      typed,
      arrayLimit: typed ? undefined : Tokenizer.maxArrayIds,
    });
  }

  /**
   * @internal The worker's entry (offload.ts): the tokens of `text` as a Uint32Array of its own (to be
   * moved), where `continued` says the text follows a safe cut of a longer one and `addSpecial` (the whole
   * text only) adds BOS / EOS. Never hands work on.
   */
  async tokenizePart(
    text: string,
    o: { parseSpecial: boolean; continued: boolean; addSpecial: boolean; maxTokens?: number; signal?: AbortSignal },
  ): Promise<Uint32Array> {
    return (await this.#tokenizeAsync(text, { ...o, offload: undefined, typed: true })) as Uint32Array;
  }

  async #tokenizeAsync(
    text: string,
    o: {
      addSpecial: boolean;
      parseSpecial: boolean;
      continued: boolean;
      maxTokens?: number | undefined;
      signal?: AbortSignal | undefined;
      offload: Offload | undefined;
      /** A Uint32Array result (else a number[]). */
      typed: boolean;
      /** A number[] result of more ids than this is ERR_INVALID_ARG, found as early as maxTokens' overflow. */
      arrayLimit?: number | undefined;
    },
  ): Promise<number[] | Uint32Array> {
    const { addSpecial, parseSpecial, continued, maxTokens, signal, offload, typed, arrayLimit } = o;
    const spec = this.spec;
    // Tokens so far: full parts of ~1M ids (or the worker's Uint32Array) in `parts`, then `out` (one array of
    // millions would be copied in one block each time it grows).
    let out: number[] = [];
    const parts: Array<ArrayLike<number>> = [];
    let inParts = 0;
    const spill = () => {
      if (out.length < PART_IDS) return;
      // For a typed result, each full part leaves the JavaScript heap: millions of ids held as number[]
      // (8 bytes an id) made a major collection's pause 28 ms at 10 M ids, on top of a slice's work.
      // Int32Array: placeholders (negative) kept.
      parts.push(typed ? Int32Array.from(out) : out);
      inParts += out.length;
      out = [];
    };
    // Long pieces (one pre-tokenizer piece of many KB: no safe cut inside) are merged as jobs, a slice
    // at a time; until then a placeholder holds their place and their least possible token count
    // stands in for their tokens (`extra`: that count minus the placeholder, or the real count once run).
    const jobs: MergeJob[] = [];
    const done: number[][] = [];
    let extra = 0;
    const defer: Defer = (job) => {
      jobs.push(job);
      extra += job.minTokens - 1;
      return -jobs.length;
    };
    const tooMany = () =>
      new InvalidArgumentError(
        `tokenizeAsync: the text has more than ${arrayLimit} tokens, more than a number[] result holds ` +
          `(allocating one array that long would block the event loop); pass { as: 'uint32' } for a ` +
          `Uint32Array, or maxTokens to bound the count`,
      );
    const check = () => {
      if (signal?.aborted) throw new AbortError('tokenizing was aborted');
      const n = inParts + out.length + extra;
      if (maxTokens !== undefined && n > maxTokens)
        throw new ContextOverflowError(`the text has more than ${maxTokens} tokens`);
      if (arrayLimit !== undefined && n > arrayLimit) throw tooMany();
    };
    check();
    // The merge table (built at the first encode: 100+ ms for a 150k-merge vocabulary) in slices.
    if (text.length > 0) await spec.prepare?.();
    check();
    const bos = addSpecial && spec.addBos && spec.bos !== undefined ? spec.bos : undefined;
    let eos = addSpecial && spec.addEos && spec.eos !== undefined ? spec.eos : undefined;
    if (bos !== undefined) out.push(bos);
    // Characters per slice: halved while a slice takes over SLICE_MS / 4, doubled (up to sliceChars)
    // while it takes under SLICE_MS / 16. The first slices run in V8's interpreter, 5-10x slower than
    // later ones (SentencePiece: 25 ms for 4096 characters at first, under 3 ms warm).
    const maxStep = Tokenizer.sliceChars;
    let step = Math.min(maxStep, FIRST_SLICE_CHARS);
    const cuts = spec.cuts;
    let t0 = performance.now();
    const breathe = async () => {
      if (performance.now() - t0 > SLICE_MS) {
        await new Promise((r) => setImmediate(r));
        t0 = performance.now();
      }
    };
    // What cannot be sliced here goes to a worker thread (offload.ts): its tokens from `from` to the end.
    // From the start (nothing tokenized here but BOS), the worker adds BOS / EOS itself: its ids are then
    // the whole result, moved to this thread with no copy.
    const handOff = async (from: number, worker: Offload): Promise<boolean> => {
      const whole = from === 0;
      const before = whole ? 0 : inParts + out.length + extra;
      const limit = Math.min(maxTokens ?? Infinity, arrayLimit ?? Infinity);
      const part = whole ? text : text.slice(from);
      const ids = await worker.run(part, {
        parseSpecial,
        continued: continued || !whole,
        addSpecial: whole && addSpecial,
        maxTokens: limit === Infinity ? undefined : limit - before,
        signal,
      });
      if (ids === undefined) return false; // no worker here: tokenized in place
      if (ids === 'overflow') {
        if (maxTokens !== undefined && maxTokens <= (arrayLimit ?? Infinity))
          throw new ContextOverflowError(`the text has more than ${maxTokens} tokens`);
        throw tooMany();
      }
      if (whole) {
        out = [];
        eos = undefined;
      }
      parts.push(out, ids);
      inParts += out.length + ids.length;
      out = [];
      check();
      return true;
    };
    if (text.length <= maxStep || !cuts) {
      // No cuts: the whole text in one step, here if it is short, else in the worker.
      if (!(offload && text.length > OFFLOAD_UNCUT && (await handOff(0, offload)))) {
        const s = wellFormed(text);
        if (s.length > 0) this.#encodeRange(s, 0, s.length, parseSpecial, out, continued, false, defer);
      }
    } else {
      // Slices are made well-formed one at a time (cuts never fall next to a surrogate): lone surrogates
      // become U+FFFD exactly as tokenize() does it for the whole text.
      // Built a slice at a time (once per tokenizer); its last slice and the first of tokenizing in
      // separate turns.
      await cuts.ready();
      await new Promise((r) => setImmediate(r));
      t0 = performance.now();
      for (let pos = 0; pos < text.length;) {
        check();
        // The next safe cut, looked for a bounded stretch at a time (a long text may have none).
        let end = -1;
        let handed = false;
        for (let from = pos + step; end < 0; from += CUT_SCAN) {
          // A stretch this long with no cut (one huge word, a run of emoji): the rest goes to the worker.
          if (offload && from - pos > OFFLOAD_UNCUT && (await handOff(pos, offload))) {
            handed = true;
            break;
          }
          end = this.#nextCut(text, from, from + CUT_SCAN, cuts, parseSpecial);
          if (end < 0) {
            check();
            await breathe();
          }
        }
        if (handed) break;
        const started = performance.now();
        const part = wellFormed(text.slice(pos, end));
        this.#encodeRange(part, 0, part.length, parseSpecial, out, continued || pos > 0, end < text.length, defer);
        const took = performance.now() - started;
        if (took > SLICE_MS / 4) step = Math.max(Math.min(MIN_SLICE_CHARS, maxStep), step >> 1);
        else if (took < SLICE_MS / 16) step = Math.min(maxStep, step * 2);
        spill();
        pos = end;
        await breathe();
      }
    }
    if (jobs.length > 0) {
      for (const job of jobs) {
        check();
        while (!job.run(t0 + SLICE_MS)) {
          await new Promise((r) => setImmediate(r));
          t0 = performance.now();
          check();
        }
        const tokens: number[] = [];
        job.finish(tokens);
        done.push(tokens);
        extra += tokens.length - job.minTokens;
        await breathe();
      }
      check();
    }
    if (eos !== undefined) out.push(eos);
    check();
    if (jobs.length === 0) {
      if (parts.length === 0 && !typed) return out;
      if (parts.length === 0 && out.length <= 65536) return new Uint32Array(out);
      // The worker's ids are the result: moved here, not copied.
      const w = parts[1];
      if (typed && parts.length === 2 && parts[0]!.length === 0 && out.length === 0 && isUint32(w)) return w;
    }
    // One array, sized once, filled a slice at a time; placeholders replaced by their jobs' tokens.
    parts.push(out);
    const total = inParts + out.length + extra;
    // A number[] is allocated in one step (its pages faulted in: ~5 ms per million ids): in a turn of its
    // own, not after a slice of tokenizing nor before one of filling.
    if (!typed) await new Promise((r) => setImmediate(r));
    const all = typed ? new Uint32Array(total) : numberArray(total);
    if (!typed) await new Promise((r) => setImmediate(r));
    let k = 0;
    t0 = performance.now();
    for (const part of parts) {
      if (typed && (isUint32(part) || (jobs.length === 0 && part instanceof Int32Array))) {
        // The worker's ids, or a typed part with no placeholders: copied a bounded block at a time.
        for (let i = 0; i < part.length; i += COPY_IDS) {
          const block = part.subarray(i, i + COPY_IDS);
          (all as Uint32Array).set(block, k);
          k += block.length;
          await breathe();
        }
        continue;
      }
      for (let i = 0; i < part.length; i++) {
        const id = part[i]!;
        if (id >= 0) all[k++] = id;
        else for (const t of done[-id - 1]!) all[k++] = t;
        if ((i & 65535) === 65535) await breathe();
      }
    }
    return all;
  }

  /**
   * @internal Builds, a slice at a time, the tables tokenizeAsync needs and tokenize() would build at
   * once on first use (the merge table, the cut tables). loadModel starts it in the background.
   */
  prepare(): Promise<void> {
    return Promise.all([this.spec.prepare?.(), this.spec.cuts?.ready()]).then(() => undefined);
  }

  /** @internal Characters per slice of tokenizeAsync (tests make it small to cut often). */
  static sliceChars = 4096;

  /** @internal The most ids of a number[] result of tokenizeAsync: MAX_TOKEN_ARRAY (tests lower it). */
  static maxArrayIds = MAX_TOKEN_ARRAY;

  /** The first safe cut in [from, to) (the end of the text if it is in reach), or -1. */
  #nextCut(s: string, from: number, to: number, cuts: CutPlan, parseSpecial: boolean): number {
    if (to >= s.length) to = s.length;
    for (let i = from; i < to; i++) {
      const c = s.charCodeAt(i);
      const p = s.charCodeAt(i - 1);
      if ((c >= 0xd800 && c < 0xe000) || (p >= 0xd800 && p < 0xe000)) continue; // never next to a surrogate
      if (cuts.safe(s, i) && !this.special.near(s, i, parseSpecial)) return i;
    }
    return to === s.length ? to : -1;
  }

  /**
   * Tokens of s[a, b) with special tokens split out. `continued` / `more`: the text is a slice of a
   * longer one that has text before / after it.
   */
  #encodeRange(
    s: string,
    a: number,
    b: number,
    parseSpecial: boolean,
    out: number[],
    continued = a > 0,
    more = b < s.length,
    defer?: Defer,
  ): void {
    const spec = this.spec;
    const part = a > 0 || b < s.length ? s.slice(a, b) : s;
    if (!this.special.hasCandidates(parseSpecial)) {
      spec.encodeText(part, { afterSpecial: !continued, atStart: !continued, continued, more, defer }, out);
      return;
    }
    let afterSpecial = !continued;
    for (const f of this.special.partition(part, parseSpecial)) {
      if ('token' in f) {
        out.push(f.token);
        afterSpecial = true;
      } else {
        spec.encodeText(
          part.slice(f.start, f.end),
          {
            afterSpecial,
            atStart: !continued && a + f.start === 0,
            continued: continued && f.start === 0,
            more: more && f.end === part.length,
            defer,
          },
          out,
        );
        afterSpecial = false;
      }
    }
  }

  detokenize(ids: ArrayLike<number>, options?: DetokenizeOptions): string {
    const list = checkIds('detokenize', ids);
    const o = booleanOptions('detokenize', options, ['skipSpecial']);
    return decodeAll(this.pieces, list, o.skipSpecial ?? false, this.spec.stripLeadingSpace);
  }

  /**
   * An incremental decoder for streaming: push() each generated token and
   * print what it returns. It never returns half a UTF-8 character, and the
   * concatenated output (plus flush()) equals detokenize() of all tokens.
   */
  createDecoder(options?: DetokenizeOptions): StreamingDecoder {
    const o = booleanOptions('createDecoder', options, ['skipSpecial']);
    return new StreamingDecoder(this.pieces, o.skipSpecial ?? false, this.spec.stripLeadingSpace);
  }

  /** Special tokens: control tokens (BOS, EOS, chat markers), unknown and unused tokens. */
  isSpecial(id: number): boolean {
    this.checkId(id);
    return (this.spec.attrs[id]! & SPECIAL_ATTRS) !== 0;
  }

  /** Whether generation should stop at this token (EOS, EOT and similar). */
  isEog(id: number): boolean {
    return this.eogSet.has(id);
  }

  /** Every token id that ends generation. */
  get eogIds(): readonly number[] {
    return [...this.eogSet];
  }

  /** The bytes token `id` decodes to (special tokens: their literal text). Do not modify. */
  tokenBytes(id: number): Uint8Array {
    this.checkId(id);
    return this.pieces.bytes(id, false);
  }

  /** Whether decoding drops the space SentencePiece put in front of the first generated piece. */
  get stripsLeadingSpace(): boolean {
    return this.spec.stripLeadingSpace;
  }

  /** The token's text as stored in the vocabulary (e.g. `▁Hello`, `Ġworld`, `<0x0A>`). */
  tokenText(id: number): string {
    this.checkId(id);
    return this.spec.tokens[id]!;
  }

  /** The id of the token whose vocabulary text is exactly `text`. */
  tokenId(text: string): number | undefined {
    return this.spec.tokenToId.get(text);
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new InvalidArgumentError(`token id ${String(id)} is out of range [0, ${this.vocabSize})`);
    }
  }
}
