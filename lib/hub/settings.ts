/**
 * Hub settings from options and the environment variables Python's huggingface_hub reads, with
 * its defaults: the cache folder, the endpoint, the token, offline mode, timeouts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidArgumentError } from '../errors';

export interface HubOptions {
  /** Cache folder. Default `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`. */
  cacheDir?: string;
  /** Hub address. Default `$HF_ENDPOINT`, else `https://huggingface.co`. */
  endpoint?: string;
  /** Access token; `false` sends none. Default `$HF_TOKEN`, else the token file `huggingface-cli login` writes. */
  token?: string | false;
  /** Use the cache only, never the network. Default `$HF_HUB_OFFLINE`. */
  offline?: boolean;
}

export interface HubSettings {
  cacheDir: string;
  /** Without a trailing slash. */
  endpoint: string;
  token: string | undefined;
  offline: boolean;
  /** Metadata requests (API, HEAD): socket idle limit. */
  metadataTimeoutMs: number;
  /** Downloads: socket idle limit (a stalled body). */
  downloadTimeoutMs: number;
  /** First retry delay; doubles up to 8x. */
  backoffMs: number;
  /** Attempts per request before ERR_NETWORK. */
  attempts: number;
}

type Env = Record<string, string | undefined>;

/** huggingface_hub's truthy values. */
export function envTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(v.trim().toUpperCase());
}

const expandHome = (p: string): string => (p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p);
const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

/** `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`. */
export function hfHome(env: Env = process.env): string {
  const home = nonEmpty(env['HF_HOME']);
  if (home) return expandHome(home);
  return path.join(expandHome(nonEmpty(env['XDG_CACHE_HOME']) ?? path.join(os.homedir(), '.cache')), 'huggingface');
}

/** The hub cache folder, as huggingface_hub chooses it. */
export function hubCacheDir(env: Env = process.env): string {
  const dir = nonEmpty(env['HF_HUB_CACHE']) ?? nonEmpty(env['HUGGINGFACE_HUB_CACHE']);
  return dir ? expandHome(dir) : path.join(hfHome(env), 'hub');
}

/** `$HF_TOKEN`, else the token file (`$HF_TOKEN_PATH`, else `$HF_HOME/token`). */
export function hubToken(env: Env = process.env): string | undefined {
  const t = nonEmpty(env['HF_TOKEN']?.trim()) ?? nonEmpty(env['HUGGING_FACE_HUB_TOKEN']?.trim());
  if (t) return t;
  const file = expandHome(nonEmpty(env['HF_TOKEN_PATH']) ?? path.join(hfHome(env), 'token'));
  try {
    return nonEmpty(fs.readFileSync(file, 'utf8').trim());
  } catch {
    return undefined;
  }
}

function seconds(env: Env, name: string, fallback: number): number {
  const v = nonEmpty(env[name]);
  if (v === undefined) return fallback * 1000;
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a positive number of seconds`);
  return n * 1000;
}

function checkEndpoint(v: string, what: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new InvalidArgumentError(`${what} must be an http(s) URL, got ${JSON.stringify(v)}`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    throw new InvalidArgumentError(`${what} must be an http(s) URL, got ${JSON.stringify(v)}`);
  return v.replace(/\/+$/, '');
}

const KNOWN = new Set(['cacheDir', 'endpoint', 'token', 'offline']);

export function checkHubOptions(o: unknown): HubOptions | undefined {
  if (o === undefined) return undefined;
  if (o === null || typeof o !== 'object') throw new InvalidArgumentError('hub options must be an object');
  const r = o as Record<string, unknown>;
  for (const k of Object.keys(r))
    if (!KNOWN.has(k) && r[k] !== undefined) throw new InvalidArgumentError(`unknown hub option "${k}"`);
  if (r['cacheDir'] !== undefined && (typeof r['cacheDir'] !== 'string' || r['cacheDir'] === ''))
    throw new InvalidArgumentError('hub.cacheDir must be a non-empty string');
  if (r['endpoint'] !== undefined && typeof r['endpoint'] !== 'string')
    throw new InvalidArgumentError('hub.endpoint must be a string');
  if (r['token'] !== undefined && r['token'] !== false && (typeof r['token'] !== 'string' || r['token'] === ''))
    throw new InvalidArgumentError('hub.token must be a non-empty string or false');
  if (r['offline'] !== undefined && typeof r['offline'] !== 'boolean')
    throw new InvalidArgumentError('hub.offline must be a boolean');
  return r;
}

/** Options first, then the environment, then huggingface_hub's defaults. */
export function hubSettings(options?: HubOptions, env: Env = process.env): HubSettings {
  const o = checkHubOptions(options) ?? {};
  const endpoint =
    o.endpoint !== undefined
      ? checkEndpoint(o.endpoint, 'hub.endpoint')
      : checkEndpoint(nonEmpty(env['HF_ENDPOINT']) ?? 'https://huggingface.co', 'HF_ENDPOINT');
  const backoff = nonEmpty(env['MINIMACLLM_HUB_BACKOFF_MS']);
  const backoffMs = backoff === undefined ? 1000 : Number(backoff);
  if (!(backoffMs >= 0) || !Number.isFinite(backoffMs))
    throw new InvalidArgumentError('MINIMACLLM_HUB_BACKOFF_MS must be a number of milliseconds');
  return {
    cacheDir: path.resolve(o.cacheDir !== undefined ? expandHome(o.cacheDir) : hubCacheDir(env)),
    endpoint,
    token: o.token === false ? undefined : (o.token ?? hubToken(env)),
    offline: o.offline ?? envTrue(env['HF_HUB_OFFLINE']),
    metadataTimeoutMs: seconds(env, 'HF_HUB_ETAG_TIMEOUT', 10),
    downloadTimeoutMs: seconds(env, 'HF_HUB_DOWNLOAD_TIMEOUT', 10),
    backoffMs,
    attempts: 5,
  };
}
