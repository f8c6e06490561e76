/**
 * pullModel(): an `hf:` source → the local path of its model in the hub cache, downloading what
 * is missing. The revision is resolved to a commit once (one API call), every file is fetched at
 * that commit, and `refs/{revision}` records it, as huggingface_hub's snapshot_download does.
 * Offline (HF_HUB_OFFLINE), with a pinned commit already cached, or when the network fails and the
 * cache has the model, nothing is downloaded.
 */
import * as fs from 'node:fs';
import { AbortError, BadModelError, MiniMacLLMError, NetworkError, NotFoundError } from '../errors';
import { fetchFileMeta, fetchListing, type RepoListing } from './api';
import { isFile, RepoCache } from './cache';
import { downloadBlob, type DownloadProgress } from './download';
import { planModel, shardsOf, type ModelPlan } from './select';
import { hubSettings, type HubOptions, type HubSettings } from './settings';
import { COMMIT, parseHubSource, type HubSource } from './source';

export interface PullOptions {
  hub?: HubOptions;
  signal?: AbortSignal;
  /** Called as bytes arrive (at most every 100 ms per file, and at each file's start and end). */
  onProgress?: (p: DownloadProgress) => void;
  /** Called when another process is downloading a file this call needs (it waits for it). */
  onWait?: (file: string) => void;
}

export interface PullResult {
  repo: string;
  revision: string;
  commit: string;
  kind: 'gguf' | 'hf';
  /** What loadModel opens: the GGUF file (a split set's first part) or the HF folder. */
  path: string;
  /** Every local file of the model (inside the snapshot folder). */
  files: string[];
  /** Paths in the repo, in the same order. */
  repoFiles: string[];
  /** Bytes this call downloaded (0 when all came from the cache). */
  downloadedBytes: number;
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new BadModelError(`${file} is not readable JSON: ${(e as Error).message}`);
  }
}

function result(
  cache: RepoCache,
  src: HubSource,
  commit: string,
  plan: ModelPlan,
  repoFiles: string[],
  bytes: number,
): PullResult {
  const local = (p: string): string => cache.pointer(commit, p);
  return {
    repo: src.repo,
    revision: src.revision,
    commit,
    kind: plan.kind,
    path: plan.kind === 'gguf' ? local(plan.files[0]!) : plan.dir ? local(plan.dir) : cache.snapshot(commit),
    files: repoFiles.map(local),
    repoFiles,
    downloadedBytes: bytes,
  };
}

/** The model from the cache alone; NotFoundError saying what is missing. */
function fromCache(s: HubSettings, cache: RepoCache, src: HubSource): PullResult {
  const where = `the cache (${s.cacheDir})`;
  const commit = cache.readRef(src.revision);
  if (commit === undefined || !fs.existsSync(cache.snapshot(commit)))
    throw new NotFoundError(`${src.text} is not in ${where}: no snapshot of ${src.repo}@${src.revision}`);
  let plan: ModelPlan;
  try {
    plan = planModel(cache.snapshotFiles(commit), src, `its cached snapshot ${commit.slice(0, 12)}`);
  } catch (e) {
    if (e instanceof NotFoundError) throw new NotFoundError(`${src.text} is not in ${where}: ${e.message}`);
    throw e;
  }
  let files = plan.files;
  if (plan.kind === 'hf' && plan.index !== undefined) {
    files = [...files, ...shardsOf(readJson(cache.pointer(commit, plan.index)), plan.index)];
    const missing = files.filter((f) => !isFile(cache.pointer(commit, f)));
    if (missing.length)
      throw new NotFoundError(`${src.text} is not complete in ${where}: ${missing.join(', ')} missing`);
  }
  return result(cache, src, commit, plan, files, 0);
}

/** Downloads (as needed) the model of an `hf:` source into the hub cache and returns where it is. */
export async function pullModel(source: string, options: PullOptions = {}): Promise<PullResult> {
  const src = parseHubSource(source);
  const s = hubSettings(options.hub);
  const signal = options.signal;
  if (signal?.aborted) throw new AbortError('the download was aborted');
  const cache = new RepoCache(s.cacheDir, src.repo);

  if (s.offline) {
    try {
      return fromCache(s, cache, src);
    } catch (e) {
      if (e instanceof NotFoundError)
        throw new NotFoundError(`${e.message} (HF_HUB_OFFLINE is set: the network is not used)`);
      throw e;
    }
  }
  let cached: PullResult | MiniMacLLMError;
  try {
    cached = fromCache(s, cache, src);
  } catch (e) {
    if (!(e instanceof MiniMacLLMError)) throw e;
    cached = e;
  }
  // A commit never changes: what the cache holds for it is final.
  if (COMMIT.test(src.revision) && !(cached instanceof MiniMacLLMError)) return cached;

  let listing: RepoListing;
  try {
    // With the model cached, one try: an unreachable Hub falls back to the cache at once.
    listing = await fetchListing(s, src.repo, src.revision, signal, cached instanceof MiniMacLLMError ? s.attempts : 1);
  } catch (e) {
    if (e instanceof NetworkError && !(cached instanceof MiniMacLLMError)) return cached;
    throw e;
  }
  const commit = listing.commit;
  const where = `${src.repo}@${src.revision}`;
  const plan = planModel(
    listing.files.map((f) => f.path),
    src,
    where,
  );
  await cache.writeRef(src.revision, commit);

  let downloaded = 0;
  let fileCount = plan.files.length;
  let fileIndex = 0;
  const ensure = async (file: string): Promise<void> => {
    fileIndex++;
    if (isFile(cache.pointer(commit, file))) return;
    const meta = await fetchFileMeta(s, src.repo, commit, file, signal);
    const index = fileIndex;
    let last = 0;
    await downloadBlob(s, cache, {
      repo: src.repo,
      commit,
      file,
      meta,
      signal,
      onProgress: (bytes, bps) => {
        downloaded += bytes - last;
        last = bytes;
        options.onProgress?.({
          file,
          downloadedBytes: bytes,
          totalBytes: meta.size,
          bytesPerSecond: bps,
          fileIndex: index,
          fileCount,
        });
      },
      onWait: options.onWait ? () => options.onWait!(file) : undefined,
    });
    await cache.link(commit, file, meta.etag);
  };

  let files = plan.files;
  if (plan.kind === 'hf' && plan.index !== undefined) {
    // The index first: it names the shards.
    const index = plan.index;
    const rest = files.filter((f) => f !== index);
    fileCount = files.length;
    await ensure(index);
    const listed = new Set(listing.files.map((f) => f.path));
    const shards = shardsOf(readJson(cache.pointer(commit, index)), index);
    const missing = shards.filter((p) => !listed.has(p));
    if (missing.length)
      throw new NotFoundError(`${index} names shards that ${where} does not have: ${missing.join(', ')}`);
    files = [index, ...rest, ...shards];
    fileCount = files.length;
    for (const f of files.slice(1)) await ensure(f);
  } else {
    for (const f of files) await ensure(f);
  }
  return result(cache, src, commit, plan, files, downloaded);
}
