/**
 * HTTP for the Hub over node:http/https: one request at a time with a socket idle timeout and an
 * AbortSignal, redirects followed by hand so that the token is only ever sent to the endpoint's
 * own origin (never to the CDN a file redirects to), and bounded retries with backoff for what
 * is transient (connection errors, timeouts, 5xx, 429).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { AbortError, NetworkError } from '../errors';
import type { HubSettings } from './settings';

let userAgent: string | undefined;
function agentName(): string {
  if (userAgent === undefined) {
    let version = 'unknown';
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
        version?: unknown;
      };
      if (typeof pkg.version === 'string') version = pkg.version;
    } catch {
      /* keep 'unknown' */
    }
    userAgent = `minimacllm/${version}; node/${process.versions.node}`;
  }
  return userAgent;
}

/** A failure worth retrying: the connection, a timeout, or a 5xx / 429 answer. */
export class TransientError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface RequestInit {
  method: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  /** Socket idle limit: connecting, waiting for headers, and between body chunks. */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

export function isAbort(e: unknown): boolean {
  const err = e as { name?: unknown; code?: unknown };
  return err?.name === 'AbortError' || err?.code === 'ABORT_ERR' || e instanceof AbortError;
}

/** Resolves with the response once its headers arrive; network failures reject with TransientError. */
export function request(url: URL, init: RequestInit): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    if (init.signal?.aborted) {
      reject(new AbortError('the download was aborted'));
      return;
    }
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, {
      method: init.method,
      headers: { 'user-agent': agentName(), 'accept-encoding': 'identity', ...init.headers },
      ...(init.signal ? { signal: init.signal } : {}),
    });
    req.setTimeout(init.timeoutMs, () => {
      req.destroy(
        Object.assign(new Error(`no data from ${url.host} for ${init.timeoutMs / 1000} s`), { code: 'ETIMEDOUT' }),
      );
    });
    req.on('error', (e) => {
      if (isAbort(e)) reject(new AbortError('the download was aborted'));
      else reject(new TransientError(`${url.host}: ${e.message}`, undefined, { cause: e }));
    });
    req.on('response', resolve);
    req.end();
  });
}

/** Reads a (small) body whole; `limit` bytes at most. */
export async function readBody(res: http.IncomingMessage, limit = 64 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of res) {
      n += (c as Buffer).length;
      if (n > limit) {
        res.destroy();
        throw new NetworkError(`answer larger than ${limit} bytes`);
      }
      chunks.push(c as Buffer);
    }
  } catch (e) {
    if (e instanceof NetworkError) throw e;
    if (isAbort(e)) throw new AbortError('the download was aborted');
    throw new TransientError(`connection lost: ${(e as Error).message}`, undefined, { cause: e });
  }
  return Buffer.concat(chunks);
}

/** Throws TransientError for 5xx and 429 (after draining the body). */
export function checkTransient(res: http.IncomingMessage, what: string): void {
  const s = res.statusCode ?? 0;
  if (s >= 500 || s === 429) {
    res.resume();
    throw new TransientError(`${what}: HTTP ${s}`, s);
  }
}

/** The Authorization header for `url`: only for the endpoint's own origin. */
export function authHeaders(s: HubSettings, url: URL): Record<string, string> {
  return s.token !== undefined && url.origin === new URL(s.endpoint).origin
    ? { authorization: `Bearer ${s.token}` }
    : {};
}

/**
 * Sends a request and follows redirects by hand (10 at most). `stopAtOtherHost`: return the
 * first redirect that leaves the endpoint's origin unfollowed (a HEAD then reads the file's
 * metadata from it, as huggingface_hub does); otherwise follow it, without the token.
 */
export async function hubRequest(
  s: HubSettings,
  url: URL,
  init: RequestInit & { stopAtOtherHost?: boolean },
): Promise<{ res: http.IncomingMessage; url: URL }> {
  for (let hop = 0; hop <= 10; hop++) {
    const res = await request(url, { ...init, headers: { ...init.headers, ...authHeaders(s, url) } });
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (status < 300 || status >= 400 || status === 304 || location === undefined) return { res, url };
    const next = new URL(location, url);
    if (next.protocol !== 'https:' && next.protocol !== 'http:') {
      res.resume();
      throw new NetworkError(`${url.host} redirected to an unsupported address ${next.protocol}`);
    }
    if (init.stopAtOtherHost && next.origin !== new URL(s.endpoint).origin) return { res, url };
    res.resume();
    url = next;
  }
  throw new NetworkError(`too many redirects from ${url.host}`);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortError('the download was aborted'));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new AbortError('the download was aborted'));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `fn` up to `attempts` times while it fails with a TransientError, waiting
 * backoff, 2x, 4x, 8x, 8x… between tries; then ERR_NETWORK. Other errors pass through.
 */
export async function withRetries<T>(
  s: HubSettings,
  what: string,
  signal: AbortSignal | undefined,
  fn: (attempt: number) => Promise<T>,
  attempts = s.attempts,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (!(e instanceof TransientError)) throw e;
      if (attempt >= attempts) {
        throw new NetworkError(`${what}: ${e.message} (${attempt} attempt${attempt > 1 ? 's' : ''})`, { cause: e });
      }
      await sleep(s.backoffMs * 2 ** Math.min(attempt - 1, 3), signal);
    }
  }
}
