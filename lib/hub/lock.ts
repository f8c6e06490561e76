/**
 * A lock file next to a blob (`blobs/{etag}.lock`) so that two processes never write the same
 * download: created exclusively (O_EXCL) with the holder's pid and host, its mtime refreshed while
 * held. A lock whose holder is gone (same host, pid dead) or whose mtime stopped moving is stale
 * and taken over. Waiting honours the AbortSignal.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { AbortError } from '../errors';
import { ioError } from './cache';

/** A held lock's mtime moves every HEARTBEAT_MS; one older than STALE_MS is abandoned. */
const HEARTBEAT_MS = 2000;
const STALE_MS = 30000;
const POLL_MS = 100;

interface Holder {
  pid: number;
  host: string;
  token: string;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(file: string): { holder: Holder | undefined; mtimeMs: number } | undefined {
  try {
    const st = fs.statSync(file);
    let holder: Holder | undefined;
    try {
      const v = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Holder>;
      if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.token === 'string') holder = v as Holder;
    } catch {
      /* being written, or foreign: judged by its age */
    }
    return { holder, mtimeMs: st.mtimeMs };
  } catch {
    return undefined;
  }
}

function isStale(info: { holder: Holder | undefined; mtimeMs: number }): boolean {
  if (info.holder && info.holder.host === os.hostname() && !pidAlive(info.holder.pid)) return true;
  return Date.now() - info.mtimeMs > STALE_MS;
}

const wait = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
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

export class FileLock {
  #timer: NodeJS.Timeout | undefined;
  private constructor(
    readonly file: string,
    private readonly token: string,
  ) {
    this.#timer = setInterval(() => {
      const now = new Date();
      fs.utimes(file, now, now, () => undefined);
    }, HEARTBEAT_MS);
    this.#timer.unref();
  }

  /** Takes the lock, waiting while another live process holds it; `onWait` is called once if it has to wait. */
  static async acquire(
    file: string,
    opts: { signal?: AbortSignal | undefined; onWait?: () => void } = {},
  ): Promise<FileLock> {
    const token = `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const body = JSON.stringify({ pid: process.pid, host: os.hostname(), token });
    let waited = false;
    for (;;) {
      if (opts.signal?.aborted) throw new AbortError('the download was aborted');
      try {
        const fh = await fs.promises.open(file, 'wx');
        try {
          await fh.writeFile(body);
        } finally {
          await fh.close();
        }
        return new FileLock(file, token);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(`cannot create the lock ${file}`, e);
      }
      const info = readHolder(file);
      if (info && isStale(info)) {
        // Only remove the stale lock we judged, not one a third process took in between.
        const again = readHolder(file);
        if (again && again.mtimeMs === info.mtimeMs && again.holder?.token === info.holder?.token) {
          await fs.promises.rm(file, { force: true });
        }
        continue;
      }
      if (!waited) {
        waited = true;
        opts.onWait?.();
      }
      await wait(POLL_MS, opts.signal);
    }
  }

  /** Releases the lock if it is still ours. */
  async release(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (readHolder(this.file)?.holder?.token === this.token) await fs.promises.rm(this.file, { force: true });
  }
}
