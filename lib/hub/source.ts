/**
 * `hf:` model sources:
 *   hf:org/repo                      the repo's Q4_K_M GGUF, else its first GGUF, else its safetensors model
 *   hf:org/repo:Q8_0                 the GGUF whose name carries that quant tag (case-insensitive)
 *   hf:org/repo/path/to/file.gguf    that file (a split part brings its whole set)
 *   hf:org/repo/subfolder            the model inside a folder of the repo
 *   hf:org/repo@rev…                 at a branch, tag or commit (`@refs/pr/1`, or `%2F` for other slashes)
 */
import { InvalidArgumentError } from '../errors';

export interface HubSource {
  /** `org/name`. */
  repo: string;
  /** Branch, tag or commit; 'main' when not given. */
  revision: string;
  /** Whether the source names the revision (`@…`). */
  revisionGiven: boolean;
  /** Path inside the repo (a file or a folder). */
  path?: string;
  /** Quant tag, as given. */
  quant?: string;
  /** The source text. */
  text: string;
}

export const HUB_PREFIX = 'hf:';

export function isHubSource(source: string): boolean {
  return source.startsWith(HUB_PREFIX);
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;
export const COMMIT = /^[0-9a-f]{40}$/;

/** Repo ids as the Hub allows them: `org/name`, word characters, `-` and `.`, no `--` or `..`. */
export function checkRepoId(repo: string): string {
  const parts = repo.split('/');
  if (
    parts.length !== 2 ||
    !parts.every((p) => NAME.test(p) && !p.includes('--') && !p.includes('..') && !/[.-]$/.test(p))
  ) {
    throw new InvalidArgumentError(`invalid Hugging Face repo id ${JSON.stringify(repo)} (expected org/name)`);
  }
  return repo;
}

/** Control characters (C0 and DEL) anywhere in `s`. */
const hasControl = (s: string): boolean => [...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

/** A relative path inside a repo: no empty, `.` or `..` segments, no backslashes or control characters. */
export function checkRepoPath(p: string, what = 'path'): string {
  const segs = p.split('/');
  if (
    p.length === 0 ||
    p.length > 1024 ||
    p.includes('\\') ||
    hasControl(p) ||
    segs.some((s) => s === '' || s === '.' || s === '..')
  ) {
    throw new InvalidArgumentError(`invalid ${what} ${JSON.stringify(p)} in a Hugging Face repo`);
  }
  return p;
}

/** Branch and tag names as git allows them (plus `refs/pr/N`), safe as a path under refs/. */
export function checkRevision(rev: string): string {
  if (
    rev.length === 0 ||
    rev.length > 255 ||
    hasControl(rev) ||
    /[ ~^:?*[\\]/.test(rev) ||
    rev.split('/').some((s) => s === '' || s === '.' || s === '..' || s.startsWith('.') || s.endsWith('.lock'))
  ) {
    throw new InvalidArgumentError(`invalid revision ${JSON.stringify(rev)}`);
  }
  return rev;
}

const SOURCE = /^hf:([^/@:]+\/[^/@:]+)(?:@(refs\/(?:pr|convert)\/\d+|[^/:]+))?(?::([^/]+)|\/(.+))?$/;

export function parseHubSource(text: string): HubSource {
  const m = SOURCE.exec(text);
  if (!m) {
    throw new InvalidArgumentError(
      `invalid Hugging Face source ${JSON.stringify(text)}: expected hf:org/repo[@revision][:QUANT | /path/to/file.gguf]`,
    );
  }
  const repo = checkRepoId(m[1]!);
  let revision = 'main';
  if (m[2] !== undefined) {
    try {
      revision = decodeURIComponent(m[2]);
    } catch {
      throw new InvalidArgumentError(`invalid revision ${JSON.stringify(m[2])}`);
    }
    checkRevision(revision);
  }
  const src: HubSource = { repo, revision, revisionGiven: m[2] !== undefined, text };
  if (m[3] !== undefined) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(m[3]))
      throw new InvalidArgumentError(`invalid quant tag ${JSON.stringify(m[3])}`);
    src.quant = m[3];
  }
  if (m[4] !== undefined) src.path = checkRepoPath(m[4].replace(/\/+$/, ''));
  return src;
}
