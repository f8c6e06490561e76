/**
 * One blob into the cache: streamed to `blobs/{etag}.incomplete` under the blob's lock, resumed
 * with a Range request from the partial file's length (on a retry in this call and on a later
 * run; a server that answers 200 instead of 206 restarts the file cleanly), the sha256 of an LFS
 * file checked before the rename into `blobs/{etag}` (a mismatch deletes the bytes). Disk errors
 * are ERR_IO and an abort is ERR_ABORTED; both keep the partial file for a later resume.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import { AbortError, ChecksumError, MiniMacLLMError } from '../errors';
import type { FileMeta } from './api';
import { fetchFileMeta, hubError } from './api';
import { ioError, isFile, type RepoCache } from './cache';
import { hubRequest, isAbort, TransientError, withRetries } from './http';
import { FileLock } from './lock';
import type { HubSettings } from './settings';

export interface DownloadProgress {
  /** Path of the file in the repo. */
  file: string;
  downloadedBytes: number;
  totalBytes: number;
  /** Recent transfer rate (bytes arriving now, not bytes resumed from disk). */
  bytesPerSecond: number;
  /** 1-based position of the file among those this call downloads, and their number. */
  fileIndex: number;
  fileCount: number;
}

export interface BlobRequest {
  repo: string;
  commit: string;
  file: string;
  meta: FileMeta;
  signal?: AbortSignal | undefined;
  onProgress?: ((downloadedBytes: number, bytesPerSecond: number) => void) | undefined;
  /** Called once when another process holds the blob's lock. */
  onWait?: (() => void) | undefined;
}

const PROGRESS_MS = 100;
const RATE_WINDOW_MS = 3000;

/** Bytes per second over the last few seconds. */
class Rate {
  #samples: Array<[number, number]> = [];
  add(bytes: number): number {
    const now = performance.now();
    this.#samples.push([now, bytes]);
    while (this.#samples.length > 2 && now - this.#samples[0]![0] > RATE_WINDOW_MS) this.#samples.shift();
    const [t0, b0] = this.#samples[0]!;
    return now - t0 > 0 ? ((bytes - b0) * 1000) / (now - t0) : 0;
  }
}

/** The sha256 the blob must have: its etag when that is one (LFS files). */
export function expectedSha256(etag: string): string | undefined {
  return /^[0-9a-f]{64}$/.test(etag) ? etag : undefined;
}

async function hashPrefix(file: string, bytes: number): Promise<crypto.Hash> {
  const h = crypto.createHash('sha256');
  if (bytes === 0) return h;
  const s = fs.createReadStream(file, { start: 0, end: bytes - 1 });
  for await (const c of s) h.update(c as Buffer);
  return h;
}

function fileSize(p: string): number {
  try {
    return fs.statSync(p).size;
  } catch {
    return 0;
  }
}

/** Writes all of `buf` (fh.write may write less than asked). */
async function writeAll(fh: fs.promises.FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

/** Queued bytes above which the response is paused (back-pressure from a slow disk). */
const MAX_QUEUED = 64 * 1024 * 1024;

/**
 * Hands every chunk of `res` to `write`, one at a time, in order. Unlike iterating the stream,
 * chunks that arrived before the connection broke are all written (an error would discard a
 * stream's buffer); resolves with the connection's error, if any, once they are.
 */
function consume(res: http.IncomingMessage, write: (c: Buffer) => Promise<void>): Promise<Error | undefined> {
  return new Promise((resolve, reject) => {
    const queue: Buffer[] = [];
    let queued = 0;
    let writing = false;
    let failed = false;
    let ended = false;
    let lost: Error | undefined;
    const next = (): void => {
      if (failed || writing) return;
      const c = queue.shift();
      if (c === undefined) {
        if (ended) resolve(lost);
        else if (res.isPaused()) res.resume();
        return;
      }
      queued -= c.length;
      writing = true;
      write(c).then(
        () => {
          writing = false;
          next();
        },
        (e: unknown) => {
          failed = true;
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    };
    const finish = (e?: Error): void => {
      if (ended) return;
      ended = true;
      lost = e;
      next();
    };
    res.on('data', (c: Buffer) => {
      queue.push(c);
      queued += c.length;
      if (queued > MAX_QUEUED) res.pause();
      next();
    });
    res.on('end', () => finish());
    res.on('error', (e) => finish(e));
    res.on('close', () => finish(res.complete ? undefined : new Error('connection closed')));
  });
}

/** `bytes start-end/total` → start. */
function rangeStart(res: http.IncomingMessage): number | undefined {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers['content-range'] ?? '');
  return m ? Number(m[1]) : undefined;
}

/** Downloads the blob `meta.etag` unless the cache has it. */
export async function downloadBlob(s: HubSettings, cache: RepoCache, r: BlobRequest): Promise<void> {
  const blob = cache.blob(r.meta.etag);
  if (isFile(blob)) return;
  try {
    await fs.promises.mkdir(`${cache.root}/blobs`, { recursive: true });
  } catch (e) {
    throw ioError(`cannot create ${cache.root}/blobs`, e);
  }
  const lock = await FileLock.acquire(`${blob}.lock`, { signal: r.signal, onWait: r.onWait });
  try {
    if (isFile(blob)) return; // another process finished it while we waited
    await fetchBlob(s, cache, r, blob);
  } finally {
    await lock.release();
  }
}

async function fetchBlob(s: HubSettings, cache: RepoCache, r: BlobRequest, blob: string): Promise<void> {
  const incomplete = `${blob}.incomplete`;
  const total = r.meta.size;
  const sha = expectedSha256(r.meta.etag);
  const rate = new Rate();
  let meta = r.meta;
  let refresh = false;
  let hash: crypto.Hash | undefined;
  let hashed = 0;
  let lastReport = 0;
  const report = (bytes: number, force = false): void => {
    const now = performance.now();
    const bps = rate.add(bytes);
    if (!force && now - lastReport < PROGRESS_MS) return;
    lastReport = now;
    r.onProgress?.(bytes, bps);
  };
  // A checksum failure on bytes resumed from an earlier run earns one fresh download.
  let resumedFromDisk = fileSize(incomplete) > 0;

  for (;;) {
    await withRetries(s, `downloading ${r.repo}/${r.file}`, r.signal, async () => {
      if (refresh) {
        meta = await fetchFileMeta(s, r.repo, r.commit, r.file, r.signal);
        refresh = false;
      }
      let have = fileSize(incomplete);
      if (have > total) {
        await truncate(incomplete, 0);
        have = 0;
      }
      if (!hash || hashed !== have) {
        try {
          hash = await hashPrefix(incomplete, have);
        } catch (e) {
          throw ioError(`cannot read ${incomplete}`, e);
        }
        hashed = have;
      }
      report(have, true);
      if (have === total) {
        if (total === 0)
          await fs.promises
            .writeFile(incomplete, '')
            .catch((e: unknown) => Promise.reject(ioError(`cannot write ${incomplete}`, e)));
        return;
      }

      const { res, url } = await hubRequest(s, meta.location, {
        method: 'GET',
        headers: have > 0 ? { range: `bytes=${have}-` } : {},
        timeoutMs: s.downloadTimeoutMs,
        signal: r.signal,
      });
      const status = res.statusCode ?? 0;
      if (status === 416 && have > 0) {
        // The server has no bytes past ours: a partial longer than the file, or a full one.
        res.resume();
        await truncate(incomplete, 0);
        throw new TransientError(`${url.host} refused the range ${have}-`, status);
      }
      if (status >= 500 || status === 429) {
        res.resume();
        throw new TransientError(`${url.host}: HTTP ${status}`, status);
      }
      if (status !== 200 && status !== 206) {
        res.resume();
        if (url.origin === new URL(s.endpoint).origin) throw hubError(s, res, r.repo, { file: r.file });
        // A CDN address expires: ask the Hub for a fresh one.
        refresh = true;
        throw new TransientError(`${url.host}: HTTP ${status}`, status);
      }
      let flags = 'a';
      if (status === 200 || rangeStart(res) !== have) {
        if (status === 206) {
          res.resume();
          await truncate(incomplete, 0);
          throw new TransientError(`${url.host} answered another range than bytes=${have}-`, status);
        }
        // Range ignored: the whole file comes again; start over.
        flags = 'w';
        have = 0;
        hash = crypto.createHash('sha256');
        hashed = 0;
        resumedFromDisk = false;
      }
      let fh: fs.promises.FileHandle;
      try {
        fh = await fs.promises.open(incomplete, flags);
      } catch (e) {
        res.resume();
        throw ioError(`cannot write ${incomplete}`, e);
      }
      try {
        const h = hash;
        const lost = await consume(res, async (c) => {
          if (have + c.length > total) {
            res.destroy();
            await fh.close();
            await fs.promises.rm(incomplete, { force: true });
            throw new ChecksumError(`${r.repo}/${r.file}: the server sent more than the ${total} bytes announced`);
          }
          try {
            await writeAll(fh, c);
          } catch (e) {
            res.destroy();
            throw ioError(`cannot write ${incomplete}`, e);
          }
          h.update(c);
          have += c.length;
          hashed = have;
          report(have);
        });
        if (lost !== undefined) throw lost;
        if (have < total) throw new TransientError(`${url.host} closed the connection after ${have} of ${total} bytes`);
        await fh.datasync();
      } catch (e) {
        if (e instanceof MiniMacLLMError || e instanceof TransientError) throw e;
        if (isAbort(e) || r.signal?.aborted) throw new AbortError('the download was aborted');
        throw new TransientError(
          `connection to ${url.host} lost after ${have} of ${total} bytes: ${(e as Error).message}`,
          undefined,
          {
            cause: e,
          },
        );
      } finally {
        await fh.close().catch(() => undefined);
      }
      report(have, true);
    });

    const digest = hash!.digest('hex');
    hash = undefined;
    if (sha !== undefined && digest !== sha) {
      await fs.promises.rm(incomplete, { force: true });
      if (resumedFromDisk) {
        resumedFromDisk = false;
        continue;
      }
      throw new ChecksumError(
        `${r.repo}/${r.file}: sha256 of the downloaded bytes is ${digest}, the Hub says ${sha}; the bytes were deleted`,
      );
    }
    break;
  }
  try {
    await fs.promises.rename(incomplete, blob);
  } catch (e) {
    throw ioError(`cannot rename ${incomplete}`, e);
  }
}

async function truncate(file: string, size: number): Promise<void> {
  try {
    await fs.promises.truncate(file, size);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`cannot truncate ${file}`, e);
  }
}
