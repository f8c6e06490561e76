/**
 * The models in the hub cache (listCachedModels, for `minimacllm ls`) and their removal
 * (removeCachedModel, for `minimacllm rm`): a model's snapshot entries go, and the blobs that no
 * other snapshot entry of the repo uses; emptied snapshots, their refs and emptied repos too.
 * Whatever huggingface_hub or another tool put in the cache is read the same way.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NotFoundError } from '../errors';
import { parseSplitName } from '../gguf/split';
import { ioError, repoOfFolder, RepoCache } from './cache';
import { hasQuant, quantOf } from './select';
import { hubSettings, type HubOptions } from './settings';
import { parseHubSource } from './source';

export interface CachedModel {
  repo: string;
  commit: string;
  /** Branches and tags (from refs/) that point at this commit. */
  refs: string[];
  kind: 'gguf' | 'hf';
  /** The GGUF file in the repo (a split set's first part), or the HF folder ('' for the repo root). */
  file: string;
  quant?: string;
  /** Bytes of its files. */
  size: number;
  /** What loadModel opens. */
  path: string;
  /** Every local file of the model. */
  files: string[];
  /** An `hf:` source that loads it. */
  source: string;
}

function sizeOf(p: string): number {
  try {
    return fs.statSync(p).size;
  } catch {
    return 0;
  }
}

function sourceFor(repo: string, commit: string, refs: string[], file: string): string {
  const ref = refs.includes('main') ? 'main' : refs[0];
  const rev =
    ref === 'main' ? '' : `@${ref === undefined ? commit : ref.startsWith('refs/') ? ref : encodeURIComponent(ref)}`;
  return `hf:${repo}${rev}${file ? `/${file}` : ''}`;
}

/** The models of one snapshot. */
function snapshotModels(cache: RepoCache, commit: string, refs: string[]): CachedModel[] {
  const files = cache.snapshotFiles(commit);
  const out: CachedModel[] = [];
  const local = (p: string): string => cache.pointer(commit, p);
  const base = { repo: cache.repo, commit, refs };
  const sets = new Map<string, string[]>();
  for (const f of files.filter((p) => /\.gguf$/i.test(p))) {
    const split = parseSplitName(f);
    const key = split ? `${split.prefix}\0${split.count}` : f;
    sets.set(key, [...(sets.get(key) ?? []), f]);
  }
  for (const parts of sets.values()) {
    parts.sort();
    const file = parts[0]!;
    const m: CachedModel = {
      ...base,
      kind: 'gguf',
      file,
      size: parts.reduce((n, p) => n + sizeOf(local(p)), 0),
      path: local(file),
      files: parts.map(local),
      source: sourceFor(cache.repo, commit, refs, file),
    };
    const q = quantOf(file);
    if (q !== undefined) m.quant = q;
    out.push(m);
  }
  const dirs = new Set(files.map((f) => path.posix.dirname(f)));
  for (const d of [...dirs].sort()) {
    const inDir = files.filter((f) => path.posix.dirname(f) === d);
    const has = (name: string): boolean => inDir.includes(d === '.' ? name : `${d}/${name}`);
    if (!has('config.json') || !inDir.some((f) => f.endsWith('.safetensors'))) continue;
    const dir = d === '.' ? '' : d;
    const own = inDir.filter((f) => !/\.gguf$/i.test(f));
    out.push({
      ...base,
      kind: 'hf',
      file: dir,
      quant: 'safetensors',
      size: own.reduce((n, p) => n + sizeOf(local(p)), 0),
      path: dir ? local(dir) : cache.snapshot(commit),
      files: own.map(local),
      source: sourceFor(cache.repo, commit, refs, dir),
    });
  }
  return out;
}

function repoModels(cache: RepoCache): CachedModel[] {
  const refs = cache.refs();
  return cache.snapshots().flatMap((c) => snapshotModels(cache, c, (refs.get(c) ?? []).sort()));
}

/** Every model in the hub cache (GGUF files, split sets as one, HF folders), by repo. */
export function listCachedModels(options: { hub?: HubOptions } = {}): CachedModel[] {
  const s = hubSettings(options.hub);
  let folders: string[];
  try {
    folders = fs.readdirSync(s.cacheDir).sort();
  } catch {
    return [];
  }
  return folders.flatMap((f) => {
    const repo = repoOfFolder(f);
    return repo ? repoModels(new RepoCache(s.cacheDir, repo)) : [];
  });
}

export interface RemoveResult {
  removed: CachedModel[];
  /** Bytes deleted from disk. */
  freedBytes: number;
  /** The whole repo folder went. */
  repoRemoved: boolean;
}

/** Blob paths the repo's snapshots point at (copies count as themselves). */
function referencedBlobs(cache: RepoCache): Set<string> {
  const used = new Set<string>();
  for (const c of cache.snapshots()) {
    for (const f of cache.snapshotFiles(c)) {
      try {
        used.add(fs.realpathSync(cache.pointer(c, f)));
      } catch {
        /* dangling */
      }
    }
  }
  return used;
}

function treeBytes(dir: string): number {
  let n = 0;
  const walk = (d: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) n += sizeOf(p);
    }
  };
  walk(dir);
  return n;
}

/** Removes empty folders from `dir` up to (not including) `stop`. */
function pruneEmpty(dir: string, stop: string): void {
  while (dir.startsWith(stop) && dir !== stop) {
    try {
      fs.rmdirSync(dir);
    } catch {
      return;
    }
    dir = path.dirname(dir);
  }
}

/**
 * Removes the cached model(s) `source` names: `hf:org/repo` the whole repo, `hf:org/repo:Q8_0` or
 * `hf:org/repo/file.gguf` (or a folder) that model in every snapshot, `@revision` only in that one.
 */
export async function removeCachedModel(source: string, options: { hub?: HubOptions } = {}): Promise<RemoveResult> {
  const src = parseHubSource(source);
  const s = hubSettings(options.hub);
  const cache = new RepoCache(s.cacheDir, src.repo);
  if (!fs.existsSync(cache.root)) throw new NotFoundError(`${src.repo} is not in the cache (${s.cacheDir})`);
  let models = repoModels(cache);
  if (!src.revisionGiven && src.quant === undefined && src.path === undefined) {
    const freedBytes = treeBytes(cache.root);
    try {
      await fs.promises.rm(cache.root, { recursive: true, force: true });
    } catch (e) {
      throw ioError(`cannot remove ${cache.root}`, e);
    }
    return { removed: models, freedBytes, repoRemoved: true };
  }
  if (src.revisionGiven) {
    const commit = cache.readRef(src.revision);
    models = models.filter((m) => m.commit === commit);
  }
  if (src.quant !== undefined) models = models.filter((m) => m.kind === 'gguf' && hasQuant(m.file, src.quant!));
  const p = src.path;
  if (p !== undefined) {
    models = models.filter(
      (m) => m.file === p || m.file.startsWith(`${p}/`) || m.files.some((f) => f === cache.pointer(m.commit, p)),
    );
  }
  if (models.length === 0) {
    const have = repoModels(cache).map((m) => m.source);
    throw new NotFoundError(
      `${source} is not in the cache${have.length ? `; cached models of ${src.repo}: ${have.join(', ')}` : ''}`,
    );
  }

  const blobsBefore = new Map<string, number>();
  try {
    for (const m of models) {
      for (const f of m.files) {
        try {
          const real = fs.realpathSync(f);
          blobsBefore.set(real, sizeOf(real));
        } catch {
          /* dangling */
        }
        await fs.promises.rm(f, { force: true });
        pruneEmpty(path.dirname(f), cache.snapshot(m.commit));
      }
    }
    // Snapshots left without a model go whole (their other files too), with the refs naming them.
    const refs = cache.refs();
    for (const commit of new Set(models.map((m) => m.commit))) {
      if (snapshotModels(cache, commit, []).length > 0) continue;
      for (const f of cache.snapshotFiles(commit)) {
        const real = fs.realpathSync(cache.pointer(commit, f));
        blobsBefore.set(real, sizeOf(real));
      }
      await fs.promises.rm(cache.snapshot(commit), { recursive: true, force: true });
      for (const r of refs.get(commit) ?? []) {
        await fs.promises.rm(cache.ref(r), { force: true });
        pruneEmpty(path.dirname(cache.ref(r)), path.join(cache.root, 'refs'));
      }
    }
    let freedBytes = 0;
    const used = referencedBlobs(cache);
    for (const [blob, size] of blobsBefore) {
      if (used.has(blob)) continue;
      await fs.promises.rm(blob, { force: true });
      freedBytes += size;
    }
    if (cache.snapshots().length === 0) {
      freedBytes += treeBytes(cache.root);
      await fs.promises.rm(cache.root, { recursive: true, force: true });
      return { removed: models, freedBytes, repoRemoved: true };
    }
    return { removed: models, freedBytes, repoRemoved: false };
  } catch (e) {
    throw ioError(`cannot remove ${source} from the cache`, e);
  }
}
