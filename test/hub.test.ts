/**
 * hf: sources against a test Hub on loopback (test/helpers/hub-server.ts; HF_ENDPOINT points at
 * it): GGUF by quant tag, exact file, revision, split set, safetensors repo; the cache in
 * huggingface_hub's layout; resume after a dropped connection without refetching; corrupt bytes
 * rejected; gated repos and tokens (never sent to the CDN); retries; offline mode; a cache
 * prepared as huggingface_hub writes it, used with no network; locks; abort; disk full.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MiniMacLLMError } from '../lib/errors';
import { pullModel, type PullOptions } from '../lib/hub/pull';
import type { DownloadProgress } from '../lib/hub/download';
import { parseHubSource } from '../lib/hub/source';
import { hubSettings } from '../lib/hub/settings';
import { listCachedModels, removeCachedModel } from '../lib/hub/manage';
import { loadModel } from '../lib/model/model';
import type { LoadProgress } from '../lib/model/options';
import { writeSplitGGUF } from './helpers/gguf-split';
import { TestHub } from './helpers/hub-server';
import { fixture } from './helpers/model-refs';

const read = (...p: string[]): Buffer => fs.readFileSync(fixture(...p));
const sha256 = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

const stories = read('models', 'stories260K.gguf');
const q8 = read('random', 'tiny-llama-q8_0.gguf');
const q40 = read('random', 'tiny-llama-q4_0.gguf');
const q4k = read('random', 'tiny-llama-q4_k.gguf');
const hfDir = fixture('models', 'gutenberg-16m-hf');
const hfFiles: Record<string, Buffer> = Object.fromEntries(
  fs.readdirSync(hfDir).map((f) => [f, fs.readFileSync(path.join(hfDir, f))]),
);

const hub = new TestHub();
let tmp: string;
let splitParts: Buffer[];
const commits: Record<string, string> = {};
const ENV_KEYS = [
  'HF_ENDPOINT',
  'HF_HUB_CACHE',
  'HF_HOME',
  'HF_TOKEN',
  'HF_HUB_OFFLINE',
  'HF_HUB_DOWNLOAD_TIMEOUT',
  'MINIMACLLM_HUB_BACKOFF_MS',
  'HUGGINGFACE_HUB_CACHE',
  'HUGGING_FACE_HUB_TOKEN',
  'HF_TOKEN_PATH',
  'XDG_CACHE_HOME',
];
const savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mml-hub-'));
  const split = writeSplitGGUF(fixture('models', 'stories260K.gguf'), path.join(tmp, 'stories-F32'), 3);
  splitParts = split.map((f) => fs.readFileSync(f));
  await hub.start();
  commits['tiny'] = hub.addRepo('test-org/tiny-GGUF', {
    'README.md': Buffer.from('# tiny GGUF models\n'),
    'stories260K-F32.gguf': stories,
    'tiny-llama-Q8_0.gguf': q8,
    'tiny-llama-Q4_0.gguf': q40,
    'tiny-llama-Q4_K_M.gguf': q4k,
    'mmproj-tiny-F16.gguf': Buffer.from('not a model'),
  });
  commits['tinyDev'] = hub.addRepo('test-org/tiny-GGUF', { 'dev/stories260K-Q8_0.gguf': stories }, { branch: 'dev' });
  hub.addRepo('test-org/split-GGUF', {
    'README.md': Buffer.from('split'),
    ...Object.fromEntries(splitParts.map((b, i) => [`F32/stories-F32-0000${i + 1}-of-00003.gguf`, b])),
  });
  hub.addRepo('test-org/gutenberg-16m', {
    ...hfFiles,
    'README.md': Buffer.from('# gutenberg'),
    'extra.safetensors': Buffer.from('not in the index'),
  });
  hub.addRepo('test-org/gated', { 'stories260K-Q8_0.gguf': stories }, { gated: true });
  hub.addRepo('test-org/private', { 'stories260K-Q8_0.gguf': stories }, { private: true });
  hub.tokens.set('hf_accepted', new Set(['test-org/gated']));
  hub.tokens.set('hf_not_accepted', new Set());
  for (const k of ENV_KEYS) delete process.env[k];
  process.env['HF_ENDPOINT'] = hub.endpoint;
  process.env['HF_HOME'] = path.join(tmp, 'hf-home');
  process.env['MINIMACLLM_HUB_BACKOFF_MS'] = '5';
});

afterAll(async () => {
  await hub.close();
  for (const k of ENV_KEYS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

let cacheN = 0;
/** A new empty cache folder (HF_HUB_CACHE) and a clean request log. */
function freshCache(): string {
  const dir = path.join(tmp, `cache-${cacheN++}`);
  process.env['HF_HUB_CACHE'] = dir;
  delete process.env['HF_HUB_OFFLINE'];
  delete process.env['HF_TOKEN'];
  hub.reset();
  return dir;
}

async function errorOf(p: Promise<unknown>): Promise<MiniMacLLMError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(MiniMacLLMError);
    return e as MiniMacLLMError;
  }
  throw new Error('expected a rejection');
}

const repoDir = (cache: string, repo: string): string => path.join(cache, `models--${repo.replace('/', '--')}`);
const generateText = async (source: string, opts: Parameters<typeof loadModel>[1] = {}): Promise<number[]> => {
  const m = await loadModel(source, { backend: 'cpu', contextSize: 128, quiet: true, ...opts });
  try {
    return (await m.generate('Once upon a time', { maxTokens: 16, temperature: 0 })).tokens;
  } finally {
    await m.dispose();
  }
};
let localTokens: number[];
beforeAll(async () => {
  localTokens = await generateText(fixture('models', 'stories260K.gguf'));
});

describe('sources', () => {
  test('parsing', () => {
    expect(parseHubSource('hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M')).toMatchObject({
      repo: 'Qwen/Qwen2.5-0.5B-Instruct-GGUF',
      revision: 'main',
      revisionGiven: false,
      quant: 'Q4_K_M',
    });
    expect(parseHubSource('hf:org/repo@v1.0/path/to/file.gguf')).toMatchObject({
      revision: 'v1.0',
      revisionGiven: true,
      path: 'path/to/file.gguf',
    });
    expect(parseHubSource('hf:org/repo@refs/pr/12:q8_0')).toMatchObject({ revision: 'refs/pr/12', quant: 'q8_0' });
    expect(parseHubSource('hf:org/repo@feature%2Fx')).toMatchObject({ revision: 'feature/x' });
    for (const bad of [
      'hf:repo',
      'hf:org/repo/../x.gguf',
      'hf:org/re--po',
      'hf:org/repo@..',
      'hf:org/repo:Q4 K',
      'hf:/x',
    ])
      expect(() => parseHubSource(bad)).toThrow(/invalid/);
  });

  test('settings follow huggingface_hub: HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub; HF_TOKEN, then the token file', () => {
    const home = path.join(tmp, 'home-x');
    fs.mkdirSync(home, { recursive: true });
    fs.writeFileSync(path.join(home, 'token'), 'hf_from_file\n');
    expect(hubSettings(undefined, { HF_HOME: home })).toMatchObject({
      cacheDir: path.join(home, 'hub'),
      token: 'hf_from_file',
      endpoint: 'https://huggingface.co',
      offline: false,
    });
    expect(
      hubSettings(undefined, { HF_HOME: home, HF_HUB_CACHE: '/c', HF_TOKEN: 'hf_env', HF_HUB_OFFLINE: 'yes' }),
    ).toMatchObject({
      cacheDir: '/c',
      token: 'hf_env',
      offline: true,
    });
    expect(hubSettings(undefined, {}).cacheDir).toBe(path.join(os.homedir(), '.cache', 'huggingface', 'hub'));
    expect(hubSettings(undefined, { HF_ENDPOINT: 'http://127.0.0.1:1/' }).endpoint).toBe('http://127.0.0.1:1');
    expect(() => hubSettings(undefined, { HF_ENDPOINT: 'ftp://x' })).toThrow(/HF_ENDPOINT/);
    expect(hubSettings({ token: false }, { HF_TOKEN: 'hf_env' }).token).toBeUndefined();
  });
});

describe('downloads into the hub cache', () => {
  test('GGUF by quant tag: huggingface_hub layout (blobs/sha256, relative symlink, refs/main), token-free CDN', async () => {
    const cache = freshCache();
    const events: DownloadProgress[] = [];
    const r = await pullModel('hf:test-org/tiny-GGUF:q8_0', { onProgress: (p) => events.push(p) });
    const root = repoDir(cache, 'test-org/tiny-GGUF');
    const commit = commits['tiny']!;
    expect(r).toMatchObject({ kind: 'gguf', commit, repoFiles: ['tiny-llama-Q8_0.gguf'], downloadedBytes: q8.length });
    expect(r.path).toBe(path.join(root, 'snapshots', commit, 'tiny-llama-Q8_0.gguf'));
    expect(fs.readFileSync(r.path).equals(q8)).toBe(true);
    expect(fs.lstatSync(r.path).isSymbolicLink()).toBe(true);
    expect(fs.readlinkSync(r.path)).toBe(`../../blobs/${sha256(q8)}`);
    expect(fs.readFileSync(path.join(root, 'refs', 'main'), 'utf8')).toBe(commit);
    expect(fs.readdirSync(path.join(root, 'blobs'))).toEqual([sha256(q8)]);
    // the API once, a HEAD, then the bytes from the CDN
    expect(hub.requests('hub').map((q) => q.method)).toEqual(['GET', 'HEAD']);
    expect(hub.requests('cdn', 'GET')).toHaveLength(1);
    expect(events[events.length - 1]).toMatchObject({
      file: 'tiny-llama-Q8_0.gguf',
      downloadedBytes: q8.length,
      totalBytes: q8.length,
      fileIndex: 1,
      fileCount: 1,
    });
    // again: from the cache, only the API is asked which commit main is
    hub.reset();
    const again = await pullModel('hf:test-org/tiny-GGUF:Q8_0');
    expect(again.path).toBe(r.path);
    expect(again.downloadedBytes).toBe(0);
    expect(hub.log.map((q) => q.method + ' ' + q.server)).toEqual(['GET hub']);
  });

  test('no tag: Q4_K_M; an unknown tag lists the quants the repo has; the projector is never chosen', async () => {
    freshCache();
    const r = await pullModel('hf:test-org/tiny-GGUF');
    expect(r.repoFiles).toEqual(['tiny-llama-Q4_K_M.gguf']);
    const e = await errorOf(pullModel('hf:test-org/tiny-GGUF:Q5_K_S'));
    expect(e.code).toBe('ERR_NOT_FOUND');
    expect(e.message).toContain(
      'no GGUF file for quant Q5_K_S in test-org/tiny-GGUF@main; it has: F32, Q4_0, Q4_K_M, Q8_0',
    );
    // no Q4_K_M in the dev branch: its first GGUF
    const dev = await pullModel('hf:test-org/tiny-GGUF@dev');
    expect(dev.repoFiles).toEqual(['dev/stories260K-Q8_0.gguf']);
  });

  test('an exact file loads and generates like the local file; onProgress reports download, then the load stages', async () => {
    const cache = freshCache();
    const stages: LoadProgress[] = [];
    const tokens = await generateText('hf:test-org/tiny-GGUF/stories260K-F32.gguf', {
      onProgress: (p) => stages.push(p),
    });
    expect(tokens).toEqual(localTokens);
    const downloads = stages.filter((p) => p.stage === 'download');
    expect(downloads.length).toBeGreaterThanOrEqual(2);
    expect(downloads[downloads.length - 1]).toMatchObject({
      file: 'stories260K-F32.gguf',
      downloadedBytes: stories.length,
    });
    for (const p of downloads) if (p.stage === 'download') expect(p.bytesPerSecond).toBeGreaterThanOrEqual(0);
    expect(stages[stages.length - 1]).toEqual({ stage: 'ready', progress: 1 });
    expect(fs.existsSync(path.join(repoDir(cache, 'test-org/tiny-GGUF'), 'blobs', sha256(stories)))).toBe(true);
  });

  test('@revision: a branch writes refs/<branch>; a commit writes no ref and, once cached, needs no network', async () => {
    const cache = freshCache();
    const root = repoDir(cache, 'test-org/tiny-GGUF');
    const dev = await pullModel('hf:test-org/tiny-GGUF@dev:Q8_0');
    expect(dev.commit).toBe(commits['tinyDev']);
    expect(fs.readFileSync(path.join(root, 'refs', 'dev'), 'utf8')).toBe(commits['tinyDev']);
    const pinned = await pullModel(`hf:test-org/tiny-GGUF@${commits['tiny']}/tiny-llama-Q4_0.gguf`);
    expect(pinned.path).toBe(path.join(root, 'snapshots', commits['tiny']!, 'tiny-llama-Q4_0.gguf'));
    expect(fs.readdirSync(path.join(root, 'refs'))).toEqual(['dev']);
    hub.reset();
    await pullModel(`hf:test-org/tiny-GGUF@${commits['tiny']}/tiny-llama-Q4_0.gguf`);
    expect(hub.log).toEqual([]);
    expect((await errorOf(pullModel('hf:test-org/tiny-GGUF@nope'))).message).toMatch(/revision nope was not found/);
  });

  test('a split GGUF downloads as a set and loads as one model', async () => {
    freshCache();
    const events: DownloadProgress[] = [];
    const r = await pullModel('hf:test-org/split-GGUF', { onProgress: (p) => events.push(p) });
    expect(r.repoFiles).toEqual([1, 2, 3].map((i) => `F32/stories-F32-0000${i}-of-00003.gguf`));
    expect(new Set(events.map((e) => `${e.fileIndex}/${e.fileCount}`))).toEqual(new Set(['1/3', '2/3', '3/3']));
    r.files.forEach((f, i) => expect(fs.readFileSync(f).equals(splitParts[i]!)).toBe(true));
    expect(await generateText('hf:test-org/split-GGUF:F32')).toEqual(localTokens);
    // any part names the set
    expect((await pullModel('hf:test-org/split-GGUF/F32/stories-F32-00002-of-00003.gguf')).path).toBe(r.path);
  });

  test('a safetensors repo: config, tokenizer, index and its shards only; loads as an HF folder', async () => {
    const cache = freshCache();
    const r = await pullModel('hf:test-org/gutenberg-16m');
    expect(r.kind).toBe('hf');
    expect(r.path).toBe(path.join(repoDir(cache, 'test-org/gutenberg-16m'), 'snapshots', r.commit));
    expect(fs.readdirSync(r.path).sort()).toEqual(Object.keys(hfFiles).sort());
    for (const f of Object.keys(hfFiles)) expect(fs.readFileSync(path.join(r.path, f)).equals(hfFiles[f]!)).toBe(true);
    expect(hub.requests('cdn').some((q) => q.url.includes(sha256(Buffer.from('not in the index'))))).toBe(false);
    const viaHub = await loadModel('hf:test-org/gutenberg-16m', { backend: 'cpu', contextSize: 64, quiet: true });
    const local = await loadModel(hfDir, { backend: 'cpu', contextSize: 64, quiet: true });
    try {
      expect(viaHub.info.format).toBe('hf');
      const a = await viaHub.generate('The old man', { maxTokens: 8, temperature: 0 });
      const b = await local.generate('The old man', { maxTokens: 8, temperature: 0 });
      expect(a.tokens).toEqual(b.tokens);
    } finally {
      await Promise.all([viaHub.dispose(), local.dispose()]);
    }
    // a file that is not a GGUF cannot be loaded by path
    expect((await errorOf(pullModel('hf:test-org/gutenberg-16m/config.json'))).code).toBe('ERR_INVALID_ARG');
  });
});

describe('interrupted and bad downloads', () => {
  test('a dropped connection resumes with Range: the bytes before the cut are not fetched again', async () => {
    const cache = freshCache();
    hub.fault(stories, { type: 'drop', after: 300_000 }, { type: 'drop', after: 500_000 });
    const r = await pullModel('hf:test-org/tiny-GGUF:F32');
    expect(fs.readFileSync(r.path).equals(stories)).toBe(true);
    const gets = hub.requests('cdn', 'GET');
    expect(gets.map((g) => g.range)).toEqual([undefined, 'bytes=300000-', 'bytes=800000-']);
    expect(hub.servedBytes(stories)).toBe(stories.length);
    const blobs = fs.readdirSync(path.join(repoDir(cache, 'test-org/tiny-GGUF'), 'blobs'));
    expect(blobs).toEqual([sha256(stories)]);
  });

  test('an aborted download keeps its partial file and the next run resumes it', async () => {
    const cache = freshCache();
    hub.fault(stories, { type: 'slow', chunk: 64 * 1024, intervalMs: 15 });
    const ac = new AbortController();
    const e = await errorOf(
      pullModel('hf:test-org/tiny-GGUF:F32', {
        signal: ac.signal,
        onProgress: (p) => p.downloadedBytes >= 256 * 1024 && ac.abort(),
      }),
    );
    expect(e.code).toBe('ERR_ABORTED');
    const blobs = path.join(repoDir(cache, 'test-org/tiny-GGUF'), 'blobs');
    const partial = fs.statSync(path.join(blobs, `${sha256(stories)}.incomplete`)).size;
    expect(partial).toBeGreaterThanOrEqual(256 * 1024);
    expect(fs.readdirSync(blobs)).toEqual([`${sha256(stories)}.incomplete`]); // lock released
    const before = hub.servedBytes(stories);
    const r = await pullModel('hf:test-org/tiny-GGUF:F32');
    expect(fs.readFileSync(r.path).equals(stories)).toBe(true);
    expect(hub.requests('cdn', 'GET').pop()!.range).toBe(`bytes=${partial}-`);
    expect(hub.servedBytes(stories) - before).toBe(stories.length - partial);
  });

  test('a server that ignores Range restarts the file cleanly', async () => {
    const cache = freshCache();
    const blobs = path.join(repoDir(cache, 'test-org/tiny-GGUF'), 'blobs');
    fs.mkdirSync(blobs, { recursive: true });
    fs.writeFileSync(path.join(blobs, `${sha256(q8)}.incomplete`), q8.subarray(0, 1000));
    hub.fault(q8, { type: 'ignoreRange' });
    const r = await pullModel('hf:test-org/tiny-GGUF:Q8_0');
    expect(hub.requests('cdn', 'GET')[0]!.range).toBe('bytes=1000-');
    expect(fs.readFileSync(r.path).equals(q8)).toBe(true);
  });

  test('a partial file of wrong bytes from an earlier run is detected and fetched again', async () => {
    const cache = freshCache();
    const blobs = path.join(repoDir(cache, 'test-org/tiny-GGUF'), 'blobs');
    fs.mkdirSync(blobs, { recursive: true });
    fs.writeFileSync(path.join(blobs, `${sha256(q8)}.incomplete`), Buffer.alloc(5000, 7));
    const r = await pullModel('hf:test-org/tiny-GGUF:Q8_0');
    expect(fs.readFileSync(r.path).equals(q8)).toBe(true);
    expect(hub.requests('cdn', 'GET').map((g) => g.range)).toEqual(['bytes=5000-', undefined]);
  });

  test('corrupted bytes are rejected, deleted and never loaded', async () => {
    const cache = freshCache();
    hub.fault(stories, { type: 'corrupt' });
    const e = await errorOf(generateText('hf:test-org/tiny-GGUF:F32'));
    expect(e.code).toBe('ERR_CHECKSUM');
    expect(e.message).toContain(`the Hub says ${sha256(stories)}`);
    const root = repoDir(cache, 'test-org/tiny-GGUF');
    expect(fs.readdirSync(path.join(root, 'blobs'))).toEqual([]);
    expect(fs.existsSync(path.join(root, 'snapshots', commits['tiny']!, 'stories260K-F32.gguf'))).toBe(false);
    // the next try gets good bytes
    expect(await generateText('hf:test-org/tiny-GGUF:F32')).toEqual(localTokens);
  });

  test('transient failures are retried (500 then success); too many are ERR_NETWORK', async () => {
    freshCache();
    hub.fault(q40, { type: 'status', code: 500 }, { type: 'status', code: 503 });
    await pullModel('hf:test-org/tiny-GGUF:Q4_0');
    expect(hub.requests('cdn', 'GET')).toHaveLength(3);
    freshCache();
    hub.fault(q40, ...Array.from({ length: 5 }, () => ({ type: 'status' as const, code: 500 })));
    const e = await errorOf(pullModel('hf:test-org/tiny-GGUF:Q4_0'));
    expect(e.code).toBe('ERR_NETWORK');
    expect(e.message).toMatch(/HTTP 500 \(5 attempts\)/);
    expect(hub.requests('cdn', 'GET')).toHaveLength(5);
    // the API too
    freshCache();
    hub.faults.set('api:test-org/tiny-GGUF', [{ type: 'status', code: 502 }]);
    expect((await pullModel('hf:test-org/tiny-GGUF:Q4_0')).repoFiles).toEqual(['tiny-llama-Q4_0.gguf']);
  });

  test('a slow body reports progress as bytes arrive; a stalled one times out and resumes', async () => {
    freshCache();
    hub.fault(q40, { type: 'slow', chunk: 100 * 1024, intervalMs: 120 });
    const events: DownloadProgress[] = [];
    await pullModel('hf:test-org/tiny-GGUF:Q4_0', { onProgress: (p) => events.push(p) });
    expect(events.length).toBeGreaterThanOrEqual(5);
    const mid = events.filter((p) => p.downloadedBytes > 0 && p.downloadedBytes < q40.length);
    expect(mid.length).toBeGreaterThanOrEqual(3);
    expect(mid[mid.length - 1]!.bytesPerSecond).toBeGreaterThan(100_000);
    expect(mid[mid.length - 1]!.bytesPerSecond).toBeLessThan(10_000_000);

    freshCache();
    process.env['HF_HUB_DOWNLOAD_TIMEOUT'] = '0.3';
    try {
      hub.fault(q40, { type: 'stall', after: 100_000, ms: 3000 });
      const r = await pullModel('hf:test-org/tiny-GGUF:Q4_0');
      expect(fs.readFileSync(r.path).equals(q40)).toBe(true);
      // (a machine stalled past 0.3 s may retry once more, from where it stopped)
      expect(
        hub
          .requests('cdn', 'GET')
          .map((g) => g.range)
          .slice(0, 2),
      ).toEqual([undefined, 'bytes=100000-']);
      expect(hub.servedBytes(q40)).toBe(q40.length);
    } finally {
      delete process.env['HF_HUB_DOWNLOAD_TIMEOUT'];
    }
  });

  test('disk full is ERR_IO and keeps the partial file', async () => {
    const cache = freshCache();
    const blobs = path.join(repoDir(cache, 'test-org/tiny-GGUF'), 'blobs');
    fs.mkdirSync(blobs, { recursive: true });
    // /dev/full: every write fails with ENOSPC
    fs.symlinkSync('/dev/full', path.join(blobs, `${sha256(q40)}.incomplete`));
    const e = await errorOf(pullModel('hf:test-org/tiny-GGUF:Q4_0'));
    expect(e.code).toBe('ERR_IO');
    expect(e.message).toMatch(/no space left/);
    expect(fs.existsSync(path.join(blobs, `${sha256(q40)}.incomplete`))).toBe(true);
    expect(fs.existsSync(path.join(blobs, `${sha256(q40)}.lock`))).toBe(false);
  });
});

describe('access', () => {
  test('a gated repo: ERR_AUTH with advice without a token or without accepted terms; with one, the token never reaches the CDN', async () => {
    freshCache();
    const none = await errorOf(pullModel('hf:test-org/gated'));
    expect(none.code).toBe('ERR_AUTH');
    expect(none.message).toContain('set HF_TOKEN');
    expect(none.message).toContain(`accept the model's terms on its page, ${hub.endpoint}/test-org/gated`);
    process.env['HF_TOKEN'] = 'hf_not_accepted';
    const refused = await errorOf(pullModel('hf:test-org/gated'));
    expect(refused.code).toBe('ERR_AUTH');
    expect(refused.message).toMatch(/HTTP 403.*accept the model's terms/);
    process.env['HF_TOKEN'] = 'hf_accepted';
    hub.reset();
    const r = await pullModel('hf:test-org/gated');
    expect(fs.readFileSync(r.path).equals(stories)).toBe(true);
    expect(hub.requests('hub').every((q) => q.authorization === 'Bearer hf_accepted')).toBe(true);
    expect(hub.requests('cdn').length).toBeGreaterThan(0);
    expect(hub.requests('cdn').some((q) => q.authorization !== undefined)).toBe(false);
    expect(hub.authLeaks).toBe(0);
  });

  test('the token file huggingface-cli writes ($HF_HOME/token) is used when HF_TOKEN is unset', async () => {
    freshCache();
    const home = process.env['HF_HOME']!;
    fs.mkdirSync(home, { recursive: true });
    fs.writeFileSync(path.join(home, 'token'), 'hf_accepted\n');
    try {
      await pullModel('hf:test-org/gated');
      expect(hub.requests('hub', 'HEAD')[0]!.authorization).toBe('Bearer hf_accepted');
      expect(hub.authLeaks).toBe(0);
    } finally {
      fs.rmSync(path.join(home, 'token'));
    }
  });

  test('missing repos, private repos, missing files: ERR_NOT_FOUND', async () => {
    freshCache();
    const priv = await errorOf(pullModel('hf:test-org/private'));
    expect(priv.code).toBe('ERR_NOT_FOUND');
    expect(priv.message).toMatch(/test-org\/private was not found.*set HF_TOKEN/);
    expect((await errorOf(pullModel('hf:test-org/nothing-here'))).code).toBe('ERR_NOT_FOUND');
    const file = await errorOf(pullModel('hf:test-org/tiny-GGUF/missing.gguf'));
    expect(file.code).toBe('ERR_NOT_FOUND');
    expect(file.message).toMatch(/missing\.gguf is not in test-org\/tiny-GGUF@main/);
  });

  test('a renamed repo: the same-host redirect is followed with the token', async () => {
    freshCache();
    hub.renamed.set('test-org/old-gated', 'test-org/gated');
    process.env['HF_TOKEN'] = 'hf_accepted';
    try {
      const r = await pullModel('hf:test-org/old-gated');
      expect(fs.readFileSync(r.path).equals(stories)).toBe(true);
      const heads = hub.requests('hub', 'HEAD');
      expect(hub.requests('hub', 'GET').map((h) => h.url.split('/revision/')[0])).toEqual([
        '/api/models/test-org/old-gated',
        '/api/models/test-org/gated',
      ]);
      expect(heads.map((h) => h.url.split('/resolve/')[0])).toEqual(['/test-org/old-gated', '/test-org/gated']);
      expect(heads.every((h) => h.authorization === 'Bearer hf_accepted')).toBe(true);
      expect(hub.authLeaks).toBe(0);
    } finally {
      hub.renamed.delete('test-org/old-gated');
    }
  });
});

describe('the cache without the network', () => {
  test('HF_HUB_OFFLINE: cached models load with no request; a missing one is ERR_NOT_FOUND saying it is not cached', async () => {
    freshCache();
    await pullModel('hf:test-org/tiny-GGUF:F32');
    hub.reset();
    process.env['HF_HUB_OFFLINE'] = '1';
    expect(await generateText('hf:test-org/tiny-GGUF:F32')).toEqual(localTokens);
    const e = await errorOf(pullModel('hf:test-org/tiny-GGUF:Q4_0'));
    expect(e.code).toBe('ERR_NOT_FOUND');
    expect(e.message).toMatch(/not in the cache.*HF_HUB_OFFLINE/);
    expect((await errorOf(pullModel('hf:test-org/gutenberg-16m'))).message).toMatch(
      /no snapshot of test-org\/gutenberg-16m@main/,
    );
    expect(hub.log).toEqual([]);
  });

  test("a cache prepared in huggingface_hub's layout (symlinks, or copies as on Windows) is used with the Hub unreachable", async () => {
    const cache = freshCache();
    const commit = 'c0ffee'.padEnd(40, '0');
    // GGUF: blobs/<sha256> + snapshots/<commit>/<file> -> ../../blobs/<sha256> + refs/main
    const g = repoDir(cache, 'prepared-org/stories-GGUF');
    fs.mkdirSync(path.join(g, 'blobs'), { recursive: true });
    fs.mkdirSync(path.join(g, 'snapshots', commit, 'q8'), { recursive: true });
    fs.mkdirSync(path.join(g, 'refs'), { recursive: true });
    fs.writeFileSync(path.join(g, 'blobs', sha256(stories)), stories);
    fs.symlinkSync(`../../../blobs/${sha256(stories)}`, path.join(g, 'snapshots', commit, 'q8', 'stories-Q8_0.gguf'));
    fs.writeFileSync(path.join(g, 'refs', 'main'), commit);
    // HF folder with plain copies in the snapshot (huggingface_hub without symlink support)
    const h = repoDir(cache, 'prepared-org/gutenberg');
    fs.mkdirSync(path.join(h, 'snapshots', commit), { recursive: true });
    fs.mkdirSync(path.join(h, 'refs'), { recursive: true });
    for (const [f, b] of Object.entries(hfFiles)) fs.writeFileSync(path.join(h, 'snapshots', commit, f), b);
    fs.writeFileSync(path.join(h, 'refs', 'main'), commit);

    process.env['HF_ENDPOINT'] = 'http://127.0.0.1:9'; // nothing listens there
    try {
      expect(await generateText('hf:prepared-org/stories-GGUF:Q8_0')).toEqual(localTokens);
      const m = await loadModel('hf:prepared-org/gutenberg', { backend: 'cpu', contextSize: 32, quiet: true });
      expect(m.info.format).toBe('hf');
      await m.dispose();
      // not cached and no network: ERR_NETWORK after the retries
      const e = await errorOf(pullModel('hf:prepared-org/other'));
      expect(e.code).toBe('ERR_NETWORK');
      expect(e.message).toMatch(/5 attempts/);
    } finally {
      process.env['HF_ENDPOINT'] = hub.endpoint;
    }
    const listed = listCachedModels();
    expect(listed.map((x) => [x.repo, x.kind, x.file, x.quant, x.refs])).toEqual([
      ['prepared-org/gutenberg', 'hf', '', 'safetensors', ['main']],
      ['prepared-org/stories-GGUF', 'gguf', 'q8/stories-Q8_0.gguf', 'Q8_0', ['main']],
    ]);
  });
});

describe('concurrency', () => {
  test('two pulls of one file: one downloads, the other waits on the lock and uses the blob', async () => {
    freshCache();
    hub.fault(stories, { type: 'slow', chunk: 256 * 1024, intervalMs: 30 });
    const waited: string[] = [];
    const opts: PullOptions = { onWait: (f) => waited.push(f) };
    const [a, b] = await Promise.all([
      pullModel('hf:test-org/tiny-GGUF:F32', opts),
      pullModel('hf:test-org/tiny-GGUF:F32', opts),
    ]);
    expect(a.path).toBe(b.path);
    expect(waited).toEqual(['stories260K-F32.gguf']);
    expect(hub.requests('cdn', 'GET')).toHaveLength(1);
    expect(hub.servedBytes(stories)).toBe(stories.length);
  });

  test('a lock left by a dead process is taken over', async () => {
    const cache = freshCache();
    const blobs = path.join(repoDir(cache, 'test-org/tiny-GGUF'), 'blobs');
    fs.mkdirSync(blobs, { recursive: true });
    fs.writeFileSync(
      path.join(blobs, `${sha256(q8)}.lock`),
      JSON.stringify({ pid: 2 ** 22 + 17, host: os.hostname(), token: 'x' }),
    );
    const r = await pullModel('hf:test-org/tiny-GGUF:Q8_0');
    expect(fs.readFileSync(r.path).equals(q8)).toBe(true);
    expect(fs.readdirSync(blobs)).toEqual([sha256(q8)]);
  });
});

describe('ls and rm', () => {
  test('rm removes a model and the blobs no other snapshot uses; rm of the repo removes it whole', async () => {
    freshCache();
    await pullModel('hf:test-org/tiny-GGUF:Q8_0');
    await pullModel('hf:test-org/tiny-GGUF:F32');
    await pullModel('hf:test-org/tiny-GGUF@dev'); // the same stories bytes, another snapshot
    await pullModel('hf:test-org/split-GGUF');
    const all = listCachedModels();
    expect(all.map((m) => `${m.repo} ${m.file} ${m.quant} ${m.refs.join(',')}`).sort()).toEqual([
      'test-org/split-GGUF F32/stories-F32-00001-of-00003.gguf F32 main',
      'test-org/tiny-GGUF dev/stories260K-Q8_0.gguf Q8_0 dev',
      'test-org/tiny-GGUF stories260K-F32.gguf F32 main',
      'test-org/tiny-GGUF tiny-llama-Q8_0.gguf Q8_0 main',
    ]);
    const split = all.find((m) => m.repo === 'test-org/split-GGUF')!;
    expect(split.size).toBe(splitParts.reduce((n, b) => n + b.length, 0));
    expect(split.files).toHaveLength(3);

    // F32 of main: its blob is still used by dev's snapshot
    const r1 = await removeCachedModel('hf:test-org/tiny-GGUF@main:F32');
    expect(r1.removed.map((m) => m.file)).toEqual(['stories260K-F32.gguf']);
    expect(r1.freedBytes).toBe(0);
    // Q8_0 in every snapshot: main's tiny-llama and dev's stories; main and dev are left empty and go
    const r2 = await removeCachedModel('hf:test-org/tiny-GGUF:Q8_0');
    expect(r2.removed).toHaveLength(2);
    expect(r2.freedBytes).toBe(q8.length + stories.length);
    expect(r2.repoRemoved).toBe(true);
    expect(listCachedModels().map((m) => m.repo)).toEqual(['test-org/split-GGUF']);
    const r3 = await removeCachedModel('hf:test-org/split-GGUF');
    expect(r3.repoRemoved).toBe(true);
    expect(listCachedModels()).toEqual([]);
    expect((await errorOf(removeCachedModel('hf:test-org/split-GGUF'))).code).toBe('ERR_NOT_FOUND');
  });
});
