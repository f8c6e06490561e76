/**
 * The Hub's answers: a revision's commit and file list (`GET /api/models/{repo}/revision/{rev}?blobs=true`),
 * a file's metadata (`HEAD /{repo}/resolve/{commit}/{path}`: X-Repo-Commit, X-Linked-Etag / ETag,
 * X-Linked-Size / Content-Length, and the CDN address an LFS file redirects to), and the
 * errors the Hub answers with, as MiniMacLLMErrors.
 */
import type * as http from 'node:http';
import { AuthError, BadModelError, MiniMacLLMError, NetworkError, NotFoundError } from '../errors';
import { checkEtag } from './cache';
import { checkTransient, hubRequest, readBody, withRetries } from './http';
import type { HubSettings } from './settings';
import { checkRepoPath, COMMIT } from './source';

export interface RepoFile {
  path: string;
  size: number;
  /** sha256 for LFS files. */
  sha256?: string;
}

export interface RepoListing {
  commit: string;
  files: RepoFile[];
}

export interface FileMeta {
  commit: string;
  etag: string;
  size: number;
  /** Where the bytes are: the CDN for LFS files, else the resolve address itself. */
  location: URL;
}

/** `W/"abc"` → `abc`, as huggingface_hub normalizes etags. */
export function normalizeEtag(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  return v.replace(/^W\//, '').replace(/^"|"$/g, '');
}

const header = (res: http.IncomingMessage, name: string): string | undefined => {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

export type HubTarget = { revision: string } | { file: string };

/** The error for a 4xx answer about `repo`'s revision or file. */
export function hubError(s: HubSettings, res: http.IncomingMessage, repo: string, target: HubTarget): MiniMacLLMError {
  const status = res.statusCode ?? 0;
  const code = header(res, 'x-error-code');
  const msg = header(res, 'x-error-message');
  const page = `${s.endpoint}/${repo}`;
  const detail = msg ? ` (${msg})` : '';
  const what = 'file' in target ? `file ${target.file}` : `revision ${target.revision}`;
  if (code === 'RepoNotFound') {
    const hint =
      s.token === undefined
        ? ' If it is private, set HF_TOKEN to a token that can read it.'
        : ' If it is private, check that your token can read it.';
    return new NotFoundError(`repository ${repo} was not found on ${s.endpoint}${detail}.${hint}`);
  }
  if (code === 'RevisionNotFound' || code === 'EntryNotFound')
    return new NotFoundError(`${what} was not found in ${repo}${detail}`);
  if (status === 404) {
    return new NotFoundError(
      'file' in target
        ? `${what} was not found in ${repo}${detail}`
        : `${repo} (${what}) was not found on ${s.endpoint}${detail}`,
    );
  }
  if (status === 401 || status === 403) {
    const advice =
      s.token === undefined
        ? `set HF_TOKEN to a Hugging Face access token (${s.endpoint}/settings/tokens) and accept the model's terms on its page, ${page}`
        : `accept the model's terms on its page, ${page}, with the account of your token, and check that the token (HF_TOKEN) can read it`;
    const kind = code === 'GatedRepo' ? 'is gated' : 'refused access';
    return new AuthError(`${repo} ${kind} (HTTP ${status})${detail}: ${advice}`);
  }
  return new NetworkError(`${what} of ${repo}: HTTP ${status}${detail}`);
}

function parseListing(body: Buffer, repo: string): RepoListing {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    throw new NetworkError(`the Hub's file list of ${repo} is not JSON`);
  }
  const o = v as { sha?: unknown; siblings?: unknown };
  if (typeof o?.sha !== 'string' || !COMMIT.test(o.sha) || !Array.isArray(o.siblings))
    throw new NetworkError(`the Hub's file list of ${repo} has no commit or no files`);
  const files: RepoFile[] = [];
  for (const sib of o.siblings as Array<Record<string, unknown>>) {
    const name = sib?.['rfilename'];
    if (typeof name !== 'string') continue;
    let p: string;
    try {
      p = checkRepoPath(name, 'file name');
    } catch {
      throw new BadModelError(`the Hub lists an unsafe file name ${JSON.stringify(name)} in ${repo}`);
    }
    const lfs = sib['lfs'] as { sha256?: unknown; size?: unknown } | undefined;
    const size = typeof lfs?.size === 'number' ? lfs.size : typeof sib['size'] === 'number' ? sib['size'] : -1;
    const f: RepoFile = { path: p, size };
    if (typeof lfs?.sha256 === 'string' && /^[0-9a-f]{64}$/.test(lfs.sha256)) f.sha256 = lfs.sha256;
    files.push(f);
  }
  return { commit: o.sha, files };
}

/** The commit `revision` points to and the files of that commit. */
export async function fetchListing(
  s: HubSettings,
  repo: string,
  revision: string,
  signal: AbortSignal | undefined,
  attempts = s.attempts,
): Promise<RepoListing> {
  const url = new URL(`${s.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}?blobs=true`);
  return withRetries(
    s,
    `listing ${repo}@${revision} on ${url.host}`,
    signal,
    async () => {
      const { res } = await hubRequest(s, url, {
        method: 'GET',
        headers: { accept: 'application/json' },
        timeoutMs: s.metadataTimeoutMs,
        signal,
      });
      checkTransient(res, 'listing');
      if (res.statusCode !== 200) {
        res.resume();
        throw hubError(s, res, repo, { revision });
      }
      return parseListing(await readBody(res), repo);
    },
    attempts,
  );
}

/** HEAD of a file: its commit, etag, size and where to download it from. */
export async function fetchFileMeta(
  s: HubSettings,
  repo: string,
  revision: string,
  file: string,
  signal: AbortSignal | undefined,
): Promise<FileMeta> {
  const resolve = new URL(
    `${s.endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${file.split('/').map(encodeURIComponent).join('/')}`,
  );
  return withRetries(s, `metadata of ${repo}/${file}`, signal, async () => {
    const { res, url } = await hubRequest(s, resolve, {
      method: 'HEAD',
      timeoutMs: s.metadataTimeoutMs,
      signal,
      stopAtOtherHost: true,
    });
    res.resume();
    checkTransient(res, 'metadata');
    const status = res.statusCode ?? 0;
    const redirected = status >= 300 && status < 400;
    if (status !== 200 && !redirected) throw hubError(s, res, repo, { file });
    const commit = header(res, 'x-repo-commit');
    const etag = normalizeEtag(header(res, 'x-linked-etag') ?? header(res, 'etag'));
    const size = Number(header(res, 'x-linked-size') ?? header(res, 'content-length'));
    if (commit === undefined || !COMMIT.test(commit))
      throw new NetworkError(`${url.host} did not send the commit (X-Repo-Commit) of ${repo}/${file}`);
    if (etag === undefined) throw new NetworkError(`${url.host} did not send an etag for ${repo}/${file}`);
    if (!Number.isSafeInteger(size) || size < 0)
      throw new NetworkError(`${url.host} did not send the size of ${repo}/${file}`);
    const location = redirected ? new URL(header(res, 'location')!, url) : url;
    return { commit, etag: checkEtag(etag), size, location };
  });
}
