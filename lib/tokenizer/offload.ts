/**
 * A worker thread that tokenizes what tokenizeAsync cannot slice: a long stretch with no safe cut (one
 * huge word, a run of emoji, a line of punctuation) or a long text for a pipeline with no cuts at all.
 * The worker builds the same tokenizer from the same source (spec.ts TokenizerSource) and runs the same
 * code (Tokenizer.tokenizePart), so the tokens are those of tokenize().
 *
 * Started on first need, not before (a worker holds a second copy of the tables); the source is sent in
 * chunks of 16k entries with the event loop free in between (one message of Qwen2's 151k tokens and
 * merges would take 30-70 ms to copy); stopped after a while without work.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { AbortError, fromNative } from '../errors';
import type { TokenizerSource } from './spec';

/** Entries per message when sending the source's big arrays. */
const CHUNK = 16384;
/** UTF-16 units per message when sending a text (a 10 MB string in one message is a 10-40 ms copy). */
const TEXT_CHUNK = 1 << 20;
/** The worker stops this long after its last request (it is rebuilt when needed again). */
const IDLE_MS = 30_000;

export interface OffloadOptions {
  parseSpecial: boolean;
  continued: boolean;
  /** BOS / EOS as the model asks (only for a whole text). */
  addSpecial: boolean;
  maxTokens?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** Messages to the worker (tokenize-worker.ts). */
export type ToWorker =
  | { t: 'src'; kind: TokenizerSource['kind']; small: Record<string, unknown> }
  | { t: 'arr'; key: string; from: number; total: number; chunk: unknown }
  | { t: 'build' }
  | { t: 'text'; id: number; chunk: string }
  | {
      t: 'run';
      id: number;
      parseSpecial: boolean;
      continued: boolean;
      addSpecial: boolean;
      maxTokens?: number | undefined;
    }
  | { t: 'cancel'; id: number };

/** Messages from the worker. */
export type FromWorker =
  | { t: 'ready' }
  | { t: 'fail'; message: string }
  | { t: 'done'; id: number; ids: Uint32Array }
  | { t: 'err'; id: number; code: string; message: string };

/** The source as one record of entries (a tokenizer.json's big tables apart). */
export function sourceEntries(src: TokenizerSource): Record<string, unknown> {
  if (src.kind === 'gguf') return { ...src.metadata };
  return {
    json: src.parts.json,
    config: src.config,
    keys: src.parts.vocab?.keys,
    ids: src.parts.vocab?.ids,
    merges: src.parts.merges,
    mergeIds: src.parts.mergeIds,
  };
}

const yieldNow = (): Promise<void> => new Promise((r) => setImmediate(r));

const isList = (v: unknown): v is ArrayLike<unknown> & { slice(a: number, b: number): unknown } =>
  Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));

/** How the worker is started: the compiled file next to this one, or (from the sources: tests) through the repo's TS hook. */
function startWorker(): Worker {
  const js = path.join(__dirname, 'tokenize-worker.js');
  if (fs.existsSync(js)) return new Worker(js);
  const ts = path.join(__dirname, 'tokenize-worker.ts');
  const hook = path.join(__dirname, '..', '..', 'test', 'helpers', 'ts-register.js');
  return new Worker(`require(${JSON.stringify(hook)}); require(${JSON.stringify(ts)});`, { eval: true });
}

interface Pending {
  resolve: (v: Uint32Array | 'overflow' | undefined) => void;
  reject: (e: unknown) => void;
}

export class Offload {
  #worker: Worker | undefined;
  /** Resolves true once the worker has built the tokenizer, false if it could not. */
  #ready: Promise<boolean> | undefined;
  #pending = new Map<number, Pending>();
  #next = 1;
  #idle: NodeJS.Timeout | undefined;
  /** Set when a worker could not be started or failed: tokenizeAsync then works in place. */
  #broken = false;

  constructor(private readonly source: TokenizerSource) {}

  /**
   * The tokens of `text` from the worker; 'overflow' when they exceed `maxTokens`; undefined when there
   * is no worker to be had (the caller tokenizes in place). Aborting rejects at once with ERR_ABORTED.
   */
  async run(text: string, o: OffloadOptions): Promise<Uint32Array | 'overflow' | undefined> {
    if (this.#broken) return undefined;
    if (o.signal?.aborted) throw new AbortError('tokenizing was aborted');
    this.#busy();
    const id = this.#next++;
    const result = new Promise<Uint32Array | 'overflow' | undefined>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
    });
    const onAbort = () => {
      const p = this.#pending.get(id);
      if (!p) return;
      this.#pending.delete(id);
      this.#worker?.postMessage({ t: 'cancel', id } satisfies ToWorker);
      p.reject(new AbortError('tokenizing was aborted'));
      this.#settled();
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    void this.#send(id, text, o);
    try {
      return await result;
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Starts the worker if need be, then sends it the request (the text in pieces); gives up if it was aborted. */
  async #send(id: number, text: string, o: OffloadOptions): Promise<void> {
    const giveUp = () => {
      const p = this.#pending.get(id);
      if (!p) return;
      this.#pending.delete(id);
      p.resolve(undefined);
      this.#settled();
    };
    try {
      if (!(await this.#start())) return giveUp();
      for (let at = 0; at < text.length; at += TEXT_CHUNK) {
        if (!this.#pending.has(id) || !this.#worker) return;
        this.#worker.postMessage({ t: 'text', id, chunk: text.slice(at, at + TEXT_CHUNK) } satisfies ToWorker);
        await yieldNow();
      }
      if (!this.#pending.has(id) || !this.#worker) return;
      const msg: ToWorker = {
        t: 'run',
        id,
        parseSpecial: o.parseSpecial,
        continued: o.continued,
        addSpecial: o.addSpecial,
        maxTokens: o.maxTokens,
      };
      this.#worker.postMessage(msg);
    } catch {
      giveUp();
    }
  }

  /** Starts the worker and sends it the source, once. */
  #start(): Promise<boolean> {
    this.#ready ??= this.#launch().catch(() => {
      this.#fail();
      return false;
    });
    return this.#ready;
  }

  async #launch(): Promise<boolean> {
    const w = startWorker();
    this.#worker = w;
    let built!: (ok: boolean) => void;
    const ready = new Promise<boolean>((r) => (built = r));
    w.on('message', (m: FromWorker) => {
      switch (m.t) {
        case 'ready':
          built(true);
          break;
        case 'fail':
          built(false);
          this.#fail();
          break;
        case 'done':
        case 'err': {
          const p = this.#pending.get(m.id);
          if (!p) return;
          this.#pending.delete(m.id);
          if (m.t === 'done') p.resolve(m.ids);
          else if (m.code === 'ERR_CONTEXT_OVERFLOW') p.resolve('overflow');
          else p.reject(fromNative({ code: m.code, message: m.message }));
          this.#settled();
          break;
        }
      }
    });
    w.on('error', () => {
      built(false);
      this.#fail();
    });
    w.on('exit', () => {
      built(false);
      if (this.#worker === w) this.#fail();
    });
    // The source in chunks, the event loop free in between.
    const entries = sourceEntries(this.source);
    const small: Record<string, unknown> = {};
    const big: string[] = [];
    for (const [k, v] of Object.entries(entries)) {
      if (isList(v) && v.length > CHUNK) big.push(k);
      else small[k] = v;
    }
    w.postMessage({ t: 'src', kind: this.source.kind, small } satisfies ToWorker);
    let t0 = performance.now();
    for (const key of big) {
      const v = entries[key] as ArrayLike<unknown> & { slice(a: number, b: number): unknown };
      for (let from = 0; from < v.length; from += CHUNK) {
        w.postMessage({ t: 'arr', key, from, total: v.length, chunk: v.slice(from, from + CHUNK) } satisfies ToWorker);
        if (performance.now() - t0 > 8) {
          await yieldNow();
          t0 = performance.now();
        }
      }
    }
    w.postMessage({ t: 'build' } satisfies ToWorker);
    return ready;
  }

  /** The worker is gone or unusable: pending requests are worked in place by their callers. */
  #fail(): void {
    this.#broken = true;
    const w = this.#worker;
    this.#worker = undefined;
    if (this.#idle) clearTimeout(this.#idle);
    for (const p of this.#pending.values()) p.resolve(undefined);
    this.#pending.clear();
    if (w) void w.terminate().catch(() => undefined);
  }

  /** A request is in flight: the worker keeps the process alive, and is not stopped. */
  #busy(): void {
    if (this.#idle) clearTimeout(this.#idle);
    this.#idle = undefined;
    this.#worker?.ref();
  }

  /** No request in flight: the worker lets the process exit, and stops after IDLE_MS. */
  #settled(): void {
    if (this.#pending.size > 0) return;
    const w = this.#worker;
    if (!w) return;
    w.unref();
    this.#idle = setTimeout(() => {
      if (this.#pending.size > 0 || this.#worker !== w) return;
      this.#worker = undefined;
      this.#ready = undefined;
      void w.terminate().catch(() => undefined);
    }, IDLE_MS);
    this.#idle.unref();
  }
}
