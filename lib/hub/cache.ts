/**
 * One repo's folder in the Hugging Face hub cache, in huggingface_hub's layout:
 *
 *   models--{org}--{name}/
 *     blobs/{etag}                       file contents (etag = sha256 for LFS files, the git oid otherwise)
 *     blobs/{etag}.incomplete            a download in progress (resumed from its length)
 *     blobs/{etag}.lock                  held by the process downloading it (ours; Python locks under .locks/)
 *     snapshots/{commit}/{path}          relative symlink to ../../blobs/{etag} (a copy where links fail)
 *     refs/{revision}                    the commit a branch or tag pointed to, no newline
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BadModelError, IOError } from '../errors';
import { COMMIT } from './source';

/** `models--org--name`, as huggingface_hub names repo folders. */
export function repoFolderName(repo: string): string {
  return `models--${repo.split('/').join('--')}`;
}

/** The repo id of a cache folder name, or undefined for other folders. */
export function repoOfFolder(folder: string): string | undefined {
  const m = /^models--([^/]+?)--([^/]+)$/.exec(folder);
  return m ? `${m[1]}/${m[2]}` : undefined;
}

/** Etags become file names: only plain hex-ish tokens are accepted (a hostile server could send `../x`). */
export function checkEtag(etag: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{7,127}$/.test(etag))
    throw new BadModelError(`the Hub sent an invalid etag ${JSON.stringify(etag)}`);
  return etag;
}

export function ioError(what: string, e: unknown): IOError {
  const err = e as NodeJS.ErrnoException;
  const full = err?.code === 'ENOSPC' || err?.code === 'EDQUOT' || err?.code === 'EFBIG';
  return new IOError(
    `${what}: ${full ? 'no space left (disk full or file size limit): ' : ''}${err?.message ?? String(e)}`,
    {
      cause: e,
    },
  );
}

const TEMP = /\.tmp-\d+-[a-z0-9]+$/;

/** A unique temporary name next to `file`. */
export function tempName(file: string): string {
  return `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Whether `p` exists and (following links) is a regular file. */
export function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export class RepoCache {
  readonly root: string;
  constructor(
    readonly cacheDir: string,
    readonly repo: string,
  ) {
    this.root = path.join(cacheDir, repoFolderName(repo));
  }

  blob(etag: string): string {
    return path.join(this.root, 'blobs', checkEtag(etag));
  }
  snapshot(commit: string): string {
    return path.join(this.root, 'snapshots', commit);
  }
  /** Where `file` of `commit` appears (`file` is a checked repo path). */
  pointer(commit: string, file: string): string {
    return path.join(this.snapshot(commit), ...file.split('/'));
  }
  ref(revision: string): string {
    return path.join(this.root, 'refs', ...revision.split('/'));
  }

  /** The commit a revision resolves to in the cache (a commit hash is itself). */
  readRef(revision: string): string | undefined {
    if (COMMIT.test(revision)) return revision;
    try {
      const c = fs.readFileSync(this.ref(revision), 'utf8').trim();
      return COMMIT.test(c) ? c : undefined;
    } catch {
      return undefined;
    }
  }

  /** Records the commit of a branch or tag (atomically; nothing for a commit hash, as huggingface_hub does). */
  async writeRef(revision: string, commit: string): Promise<void> {
    if (revision === commit) return;
    const file = this.ref(revision);
    try {
      if (fs.readFileSync(file, 'utf8') === commit) return;
    } catch {
      /* absent */
    }
    try {
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      const tmp = tempName(file);
      await fs.promises.writeFile(tmp, commit);
      await fs.promises.rename(tmp, file);
    } catch (e) {
      throw ioError(`cannot write ${file}`, e);
    }
  }

  /** Makes `snapshots/{commit}/{file}` point at the blob: a relative symlink, or a copy where links are refused. */
  async link(commit: string, file: string, etag: string): Promise<string> {
    const dst = this.pointer(commit, file);
    const blob = this.blob(etag);
    try {
      await fs.promises.mkdir(path.dirname(dst), { recursive: true });
      // Made under a temporary name and renamed over: atomic, and two processes linking at once both succeed.
      const tmp = tempName(dst);
      try {
        await fs.promises.symlink(path.relative(path.dirname(dst), blob), tmp);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EACCES') throw e;
        await fs.promises.copyFile(blob, tmp, fs.constants.COPYFILE_FICLONE);
      }
      await fs.promises.rename(tmp, dst);
    } catch (e) {
      throw ioError(`cannot link ${dst}`, e);
    }
    return dst;
  }

  /** Paths (relative, `/`-separated) of the files a snapshot holds whose target exists. */
  snapshotFiles(commit: string): string[] {
    const out: string[] = [];
    const walk = (dir: string, rel: string): void => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const p = path.join(dir, e.name);
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) walk(p, r);
        else if (!TEMP.test(e.name) && isFile(p)) out.push(r);
      }
    };
    walk(this.snapshot(commit), '');
    return out.sort();
  }

  /** Commits with a snapshot folder. */
  snapshots(): string[] {
    try {
      return fs
        .readdirSync(path.join(this.root, 'snapshots'))
        .filter((c) => COMMIT.test(c))
        .sort();
    } catch {
      return [];
    }
  }

  /** Revision names by commit, from refs/ (nested names such as refs/pr/1 included). */
  refs(): Map<string, string[]> {
    const byCommit = new Map<string, string[]>();
    const walk = (dir: string, rel: string): void => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) walk(path.join(dir, e.name), r);
        else if (e.isFile() && !TEMP.test(e.name)) {
          const c = this.readRef(r);
          if (c) byCommit.set(c, [...(byCommit.get(c) ?? []), r]);
        }
      }
    };
    walk(path.join(this.root, 'refs'), '');
    return byCommit;
  }
}
