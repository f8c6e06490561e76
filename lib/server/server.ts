/**
 * An OpenAI-compatible HTTP server over one Model, on node:http:
 * /v1/chat/completions, /v1/completions, /v1/models, /health. Requests are
 * admitted up to the model's parallel sequences (then queued, then refused);
 * a client that goes away aborts its generation at once; close() stops
 * accepting, lets in-flight replies finish within a bound, then aborts them.
 * Bodies, headers and slow readers are bounded so one client cannot hold the
 * others up.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChatResult } from '../chat/chat';
import { InternalError, InvalidArgumentError } from '../errors';
import type { GenerateResult } from '../generate/generate';
import type { GenerationChunk } from '../generate/options';
import type { Model } from '../model/model';
import { Admission } from './admission';
import { badParam, HttpError, toHttpError } from './http-error';
import { chatExtrasOf, messagesOf, promptOf, samplingOf } from './params';
import {
  chatChunk,
  chatCompletion,
  completion,
  completionChunk,
  finishOf,
  newId,
  nowSeconds,
  toolCallsOf,
  usageChunk,
  usageOf,
  type ReplyHead,
} from './responses';

export interface ServerOptions {
  /** Address to bind. Default '127.0.0.1' (loopback only). */
  host?: string;
  /** Port; 0 = any free port. Default 8080. */
  port?: number;
  /** The id /v1/models lists and requests must name (or leave out). Default: the model's name. */
  modelId?: string;
  /** When set, /v1/* requests need `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Send CORS headers (any origin) and answer preflight requests. Default false. */
  cors?: boolean;
  /** Requests generating at once (more than the model's maxSequences queue inside the model). Default: its maxSequences. */
  parallel?: number;
  /** Requests waiting for a slot before new ones get 429. Default 64. */
  queue?: number;
  /** Largest request body in bytes (413 beyond). Default 1 MiB. */
  maxBodyBytes?: number;
  /** Cap on max_tokens (and the default when a request gives none). Default: the context size. */
  maxTokens?: number;
  /** Time allowed for a request's headers, and for its whole body, in ms. Defaults 10 000 and 30 000. */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** A streaming client that reads nothing for this long is dropped (its generation aborted). Default 30 000. */
  stallTimeoutMs?: number;
  /** close(): how long in-flight replies may take before they are aborted. Default 10 000. */
  shutdownTimeoutMs?: number;
  /** One line per request. Default: none. */
  log?: (line: string) => void;
}

type Body = Record<string, unknown>;

interface RequestRecord {
  promptTokens?: number;
  completionTokens?: number;
}

const JSON_HEADERS = { 'Content-Type': 'application/json' };

function positiveInt(v: unknown, name: string, fallback: number, min = 1): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min)
    throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return v;
}

export class ModelServer {
  readonly modelId: string;
  readonly #model: Model;
  readonly #http: http.Server;
  readonly #admission: Admission;
  readonly #o: Required<Omit<ServerOptions, 'apiKey' | 'log' | 'modelId'>> & Pick<ServerOptions, 'log'>;
  readonly #keyHash: Buffer | undefined;
  /** Aborts of the requests in flight (generating or queued), and when each settles. */
  readonly #inflight = new Map<AbortController, Promise<void>>();
  #closing: Promise<void> | undefined;
  readonly #created = nowSeconds();

  constructor(model: Model, options: ServerOptions = {}) {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options must be an object');
    this.#model = model;
    this.modelId = options.modelId ?? model.info.name;
    if (typeof this.modelId !== 'string' || this.modelId.length === 0)
      throw new InvalidArgumentError('modelId must be a non-empty string');
    if (options.apiKey !== undefined && (typeof options.apiKey !== 'string' || options.apiKey.length === 0))
      throw new InvalidArgumentError('apiKey must be a non-empty string');
    this.#keyHash = options.apiKey === undefined ? undefined : sha256(options.apiKey);
    this.#o = {
      host: options.host ?? '127.0.0.1',
      port: positiveInt(options.port, 'port', 8080, 0),
      cors: options.cors ?? false,
      parallel: positiveInt(options.parallel, 'parallel', model.info.maxSequences),
      queue: positiveInt(options.queue, 'queue', 64, 0),
      maxBodyBytes: positiveInt(options.maxBodyBytes, 'maxBodyBytes', 1 << 20),
      maxTokens: positiveInt(options.maxTokens, 'maxTokens', model.info.contextSize),
      headersTimeoutMs: positiveInt(options.headersTimeoutMs, 'headersTimeoutMs', 10_000),
      requestTimeoutMs: positiveInt(options.requestTimeoutMs, 'requestTimeoutMs', 30_000),
      stallTimeoutMs: positiveInt(options.stallTimeoutMs, 'stallTimeoutMs', 30_000),
      shutdownTimeoutMs: positiveInt(options.shutdownTimeoutMs, 'shutdownTimeoutMs', 10_000, 0),
      log: options.log,
    };
    this.#admission = new Admission(this.#o.parallel, this.#o.queue);
    this.#http = http.createServer(
      {
        headersTimeout: this.#o.headersTimeoutMs,
        requestTimeout: Math.max(this.#o.requestTimeoutMs, this.#o.headersTimeoutMs),
        // Expired header/body deadlines are found within a second (default: 30 s).
        connectionsCheckingInterval: 1000,
        keepAliveTimeout: 5000,
      },
      (req, res) => void this.#handle(req, res),
    );
  }

  /** Starts listening; resolves with the bound address. */
  listen(): Promise<{ host: string; port: number; url: string }> {
    return new Promise((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen(this.#o.port, this.#o.host, () => {
        this.#http.off('error', reject);
        const a = this.#http.address() as AddressInfo;
        const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
        resolve({ host: a.address, port: a.port, url: `http://${host}:${a.port}` });
      });
    });
  }

  /** Requests in flight (generating or queued). */
  get inflight(): number {
    return this.#inflight.size;
  }

  /**
   * Stops accepting, lets in-flight replies finish for up to
   * shutdownTimeoutMs, then aborts the rest (they end with what they have)
   * and closes every connection. Does not dispose the model.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.#http.close(() => resolve()));
      this.#http.closeIdleConnections();
      const all = (): Promise<unknown> => Promise.all(this.#inflight.values());
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((r) => (timer = setTimeout(r, this.#o.shutdownTimeoutMs)));
      await Promise.race([all(), timeout]);
      clearTimeout(timer);
      for (const ac of this.#inflight.keys())
        ac.abort(new HttpError(503, 'the server is shutting down', 'unavailable_error'));
      await all();
      this.#http.closeAllConnections();
      await closed;
    })();
    return this.#closing;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const t0 = performance.now();
    const rec: RequestRecord = {};
    const path = (req.url ?? '/').split('?')[0]!;
    res.once('close', () => this.#logLine(req.method ?? '?', path, res, rec, t0));
    try {
      if (this.#o.cors) {
        res.setHeader('Access-Control-Allow-Origin', '*');
        if (req.method === 'OPTIONS') {
          res.writeHead(204, {
            'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
            'Access-Control-Allow-Headers': 'Authorization, Content-Type',
            'Access-Control-Max-Age': '600',
          });
          res.end();
          return;
        }
      }
      if (this.#closing) {
        res.setHeader('Connection', 'close');
        throw new HttpError(503, 'the server is shutting down', 'unavailable_error', null, 'shutting_down');
      }
      if (path === '/health') {
        this.#allow(req, 'GET');
        return this.#json(res, 200, {
          status: 'ok',
          slots_processing: this.#admission.running,
          slots_queued: this.#admission.queued,
        });
      }
      if (!path.startsWith('/v1/')) throw notFound(path);
      this.#authorize(req);
      if (path === '/v1/models') {
        this.#allow(req, 'GET');
        return this.#json(res, 200, { object: 'list', data: [this.#modelObject()] });
      }
      if (path.startsWith('/v1/models/')) {
        this.#allow(req, 'GET');
        const id = decodeURIComponent(path.slice('/v1/models/'.length));
        if (id !== this.modelId) throw unknownModel(id);
        return this.#json(res, 200, this.#modelObject());
      }
      if (path === '/v1/chat/completions') {
        this.#allow(req, 'POST');
        return await this.#generate(req, res, rec, true);
      }
      if (path === '/v1/completions') {
        this.#allow(req, 'POST');
        return await this.#generate(req, res, rec, false);
      }
      throw notFound(path);
    } catch (e) {
      this.#fail(res, e);
    }
  }

  async #generate(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    rec: RequestRecord,
    chat: boolean,
  ): Promise<void> {
    const body = await this.#readJson(req, res);
    const model = body['model'];
    if (model !== undefined && model !== null && model !== '' && model !== this.modelId) {
      if (typeof model !== 'string') throw badParam('model', 'model must be a string');
      throw unknownModel(model);
    }
    const sampling = samplingOf(body, this.#o.maxTokens);
    const messages = chat ? messagesOf(body) : undefined;
    const extras = chat ? chatExtrasOf(body) : {};
    const prompt = chat ? undefined : promptOf(body);
    if (!chat && (body['echo'] === true || (body['suffix'] !== undefined && body['suffix'] !== null)))
      throw badParam(
        body['echo'] === true ? 'echo' : 'suffix',
        'echo and suffix are not supported',
        'unsupported_value',
      );

    const ac = new AbortController();
    // The client going away (before the reply is complete) aborts the generation at once.
    const onClose = (): void => {
      if (!res.writableFinished) ac.abort(new Error('client disconnected'));
    };
    res.once('close', onClose);
    let settle!: () => void;
    this.#inflight.set(ac, new Promise<void>((r) => (settle = r)));
    let release: (() => void) | undefined;
    try {
      release = await this.#admission.enter(ac.signal).catch((e: unknown) => {
        if (ac.signal.aborted) throw new HttpError(499, 'client closed request', 'invalid_request_error');
        throw e;
      });
      const options = { ...sampling.options, ...extras, signal: ac.signal };
      if (sampling.ignoreEos) {
        const eog = this.#model.tokenizer.eogIds;
        options.logitsProcessor = (logits: Float32Array): void => {
          for (const id of eog) logits[id] = -Infinity;
        };
      }
      const head: ReplyHead = { id: newId(chat ? 'chatcmpl' : 'cmpl'), created: nowSeconds(), model: this.modelId };
      if (sampling.stream)
        await this.#stream(res, rec, head, ac, chat, messages, prompt, options, sampling.includeUsage);
      else if (messages) {
        const r = await this.#model.chat(messages, options);
        rec.promptTokens = r.usage.promptTokens;
        rec.completionTokens = r.usage.completionTokens;
        const finish = finishOf(r.finishReason, r.toolCalls.length);
        this.#json(res, 200, chatCompletion(head, r.message.content, r.toolCalls, finish, usageOf(r.usage)));
      } else {
        const r = await this.#model.generate(prompt!, options);
        rec.promptTokens = r.usage.promptTokens;
        rec.completionTokens = r.usage.completionTokens;
        this.#json(res, 200, completion(head, r.text, finishOf(r.finishReason), usageOf(r.usage)));
      }
    } finally {
      release?.();
      res.off('close', onClose);
      this.#inflight.delete(ac);
      settle();
    }
  }

  async #stream(
    res: http.ServerResponse,
    rec: RequestRecord,
    head: ReplyHead,
    ac: AbortController,
    chat: boolean,
    messages: Parameters<Model['chat']>[0] | undefined,
    prompt: string | number[] | undefined,
    options: Parameters<Model['chat']>[1] & object,
    includeUsage: boolean,
  ): Promise<void> {
    const chatStream = messages ? this.#model.streamChat(messages, options) : undefined;
    const chunks = chatStream ?? this.#model.stream(prompt!, options);
    const it = chunks[Symbol.asyncIterator]() as AsyncIterator<GenerationChunk, GenerateResult | void>;
    // Errors before the first token (a prompt too long, a bad grammar) still get a proper status.
    const first = await it.next();
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
    const send = (o: unknown): Promise<void> => this.#write(res, `data: ${JSON.stringify(o)}\n\n`, ac);
    let end: GenerateResult | void;
    try {
      if (chat) await send(chatChunk(head, { role: 'assistant', content: '' }, null, includeUsage));
      let r = first;
      for (; !r.done; r = await it.next()) {
        if (r.value.text.length === 0) continue;
        await send(
          chat
            ? chatChunk(head, { content: r.value.text }, null, includeUsage)
            : completionChunk(head, r.value.text, null, includeUsage),
        );
      }
      end = chatStream ? await chatStream.result : r.value;
    } catch (e) {
      await it.return?.();
      if (!res.destroyed) res.end(`data: ${JSON.stringify(toHttpError(e).body())}\n\n`);
      return;
    }
    if (!end) throw new InternalError('the stream ended without a result');
    const toolCalls = 'toolCalls' in end ? (end as ChatResult).toolCalls : [];
    const finish = finishOf(end.finishReason, toolCalls.length);
    const usage = usageOf(end.usage);
    rec.promptTokens = usage.prompt_tokens;
    rec.completionTokens = usage.completion_tokens;
    if (toolCalls.length > 0) {
      const calls = toolCallsOf(toolCalls).map((c, index) => ({ index, ...c }));
      await send(chatChunk(head, { tool_calls: calls }, null, includeUsage));
    }
    await send(chat ? chatChunk(head, {}, finish, includeUsage) : completionChunk(head, '', finish, includeUsage));
    if (includeUsage) await send(usageChunk(head, chat ? 'chat.completion.chunk' : 'text_completion', usage));
    if (!res.destroyed) res.end('data: [DONE]\n\n');
  }

  /** Writes, waiting for the client to drain; a client that stalls past stallTimeoutMs is dropped. */
  #write(res: http.ServerResponse, data: string, ac: AbortController): Promise<void> {
    if (res.destroyed) return Promise.resolve();
    if (res.write(data)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      const timer = setTimeout(() => {
        ac.abort(new Error('client stalled'));
        res.destroy();
        done();
      }, this.#o.stallTimeoutMs);
      res.once('drain', done);
      res.once('close', done);
    });
  }

  #readJson(req: http.IncomingMessage, res: http.ServerResponse): Promise<Body> {
    const limit = this.#o.maxBodyBytes;
    const tooLarge = (): HttpError => {
      // The rest of the body is not read: the connection cannot be reused.
      res.setHeader('Connection', 'close');
      return new HttpError(
        413,
        `the request body is larger than ${limit} bytes`,
        'invalid_request_error',
        null,
        'body_too_large',
      );
    };
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge());
    return new Promise<Body>((resolve, reject) => {
      const parts: Buffer[] = [];
      let size = 0;
      const fail = (e: HttpError): void => {
        req.off('data', onData);
        req.resume();
        reject(e);
      };
      const onData = (c: Buffer): void => {
        size += c.length;
        if (size > limit) return fail(tooLarge());
        parts.push(c);
      };
      req.on('data', onData);
      req.once('error', () => fail(new HttpError(400, 'the request body could not be read', 'invalid_request_error')));
      req.once('end', () => {
        if (size > limit) return;
        let v: unknown;
        try {
          v = JSON.parse(Buffer.concat(parts).toString('utf8'));
        } catch (e) {
          return reject(
            new HttpError(
              400,
              `the request body is not valid JSON: ${(e as Error).message}`,
              'invalid_request_error',
              null,
              'invalid_json',
            ),
          );
        }
        if (v === null || typeof v !== 'object' || Array.isArray(v))
          return reject(
            new HttpError(400, 'the request body must be a JSON object', 'invalid_request_error', null, 'invalid_json'),
          );
        resolve(v as Body);
      });
    });
  }

  #authorize(req: http.IncomingMessage): void {
    if (!this.#keyHash) return;
    const h = req.headers['authorization'];
    const m = typeof h === 'string' ? /^Bearer\s+(.+)$/i.exec(h.trim()) : null;
    if (!m)
      throw new HttpError(
        401,
        'missing API key: send Authorization: Bearer <key>',
        'authentication_error',
        null,
        'invalid_api_key',
      );
    if (!timingSafeEqual(sha256(m[1]!), this.#keyHash))
      throw new HttpError(401, 'incorrect API key', 'authentication_error', null, 'invalid_api_key');
  }

  #allow(req: http.IncomingMessage, method: string): void {
    if (req.method !== method)
      throw new HttpError(
        405,
        `${req.method ?? '?'} is not allowed here; use ${method}`,
        'invalid_request_error',
        null,
        'method_not_allowed',
      );
  }

  #modelObject(): Record<string, unknown> {
    return { id: this.modelId, object: 'model', created: this.#created, owned_by: 'minimacllm' };
  }

  #json(res: http.ServerResponse, status: number, body: unknown): void {
    if (res.destroyed) return;
    res.writeHead(status, JSON_HEADERS);
    res.end(JSON.stringify(body));
  }

  #fail(res: http.ServerResponse, e: unknown): void {
    const err = toHttpError(e);
    if (res.destroyed) return;
    if (res.headersSent) {
      res.end();
      return;
    }
    if (err.status === 429) res.setHeader('Retry-After', '1');
    this.#json(res, err.status, err.body());
  }

  #logLine(method: string, path: string, res: http.ServerResponse, rec: RequestRecord, t0: number): void {
    if (!this.#o.log) return;
    const status = res.writableFinished ? res.statusCode : res.headersSent ? `${res.statusCode}(cut)` : 'cut';
    const tok =
      rec.promptTokens === undefined ? '' : ` prompt=${rec.promptTokens} completion=${rec.completionTokens ?? 0}`;
    this.#o.log(`${method} ${path} ${status}${tok} ${(performance.now() - t0).toFixed(0)}ms`);
  }
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

const notFound = (path: string): HttpError =>
  new HttpError(404, `no route ${path}`, 'not_found_error', null, 'not_found');

const unknownModel = (id: string): HttpError =>
  new HttpError(404, `the model "${id}" does not exist here`, 'not_found_error', 'model', 'model_not_found');

/** An OpenAI-compatible server for `model` (call listen()). */
export function createServer(model: Model, options?: ServerOptions): ModelServer {
  return new ModelServer(model, options);
}
