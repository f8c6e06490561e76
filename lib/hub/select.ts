/**
 * Which files of a repo make the model a source asks for: a GGUF file by quant tag (default
 * Q4_K_M, else the first GGUF, as llama.cpp chooses), an exact file, a whole split set, or the
 * files of a Hugging Face folder (config, tokenizer, safetensors weights) when there is no GGUF.
 */
import * as path from 'node:path';
import { BadModelError, InvalidArgumentError, NotFoundError } from '../errors';
import { parseSplitName, splitFileName } from '../gguf/split';
import type { HubSource } from './source';

export type ModelPlan =
  | { kind: 'gguf'; /** The file (split parts in order). */ files: string[] }
  | {
      kind: 'hf';
      /** Folder inside the repo ('' for its root). */
      dir: string;
      /** Config, tokenizer and weight files; with `index`, the shards come from the index. */
      files: string[];
      index?: string;
    };

export const DEFAULT_QUANT = 'Q4_K_M';

/** Optional files of an HF folder that the tokenizer and chat template use. */
const HF_EXTRA = [
  'tokenizer.json',
  'tokenizer_config.json',
  'generation_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
  'chat_template.json',
];

const isGGUF = (p: string): boolean => /\.gguf$/i.test(p);
/** Vision projectors ship next to models but are not models. */
const isProjector = (p: string): boolean => /(^|[-_.])mmproj([-_.]|$)/i.test(path.posix.basename(p));

/** A GGUF file's name without folder, split suffix and extension. */
function stem(p: string): string {
  const split = parseSplitName(p);
  const base = split ? split.prefix : p.replace(/\.gguf$/i, '');
  return path.posix.basename(base);
}

/** The quant label of a GGUF file name (`…-Q4_K_M.gguf` → Q4_K_M), if it has one. */
export function quantOf(p: string): string | undefined {
  const all = [...stem(p).matchAll(/(?:^|[-._])((?:I?Q\d|TQ\d|MXFP\d|B?F\d\d)(?:_[A-Z0-9]+)*)(?=$|[-.])/gi)];
  const last = all[all.length - 1];
  return last ? last[1]!.toUpperCase() : undefined;
}

/** Whether the file name carries `tag` as a whole token (case-insensitive). */
export function hasQuant(p: string, tag: string): boolean {
  const esc = tag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?:^|[-._])${esc}(?:$|[-.])`, 'i').test(stem(p));
}

const plural = (n: number, w: string): string => `${n} ${w}${n === 1 ? '' : 's'}`;

/** The split set of `file` (all parts present), or `[file]`. */
function withParts(file: string, all: ReadonlySet<string>, where: string): string[] {
  const split = parseSplitName(file);
  if (!split) return [file];
  const parts = Array.from({ length: split.count }, (_, i) => splitFileName(split.prefix, i + 1, split.count));
  const missing = parts.filter((p) => !all.has(p));
  if (missing.length > 0)
    throw new NotFoundError(`split GGUF ${file} is incomplete in ${where}: ${missing.join(', ')} missing`);
  return parts;
}

/** One line listing the quants a repo offers. */
export function availableQuants(ggufs: readonly string[]): string {
  const labels = [...new Set(ggufs.map((g) => quantOf(g) ?? path.posix.basename(g)))];
  return labels.length > 0 ? labels.join(', ') : 'none';
}

/**
 * Chooses the files from `paths` (every file of the repo, or of a cached snapshot).
 * `where` names the place in messages (`org/repo@main`, `the cache`).
 */
export function planModel(paths: readonly string[], src: HubSource, where: string): ModelPlan {
  const all = new Set(paths);
  let scope = paths;
  let dir = '';
  if (src.path !== undefined) {
    if (all.has(src.path)) {
      if (!isGGUF(src.path))
        throw new InvalidArgumentError(
          `${src.path} is not a GGUF file: give the repo (or the folder) of a safetensors model, e.g. hf:${src.repo}`,
        );
      return { kind: 'gguf', files: withParts(src.path, all, where) };
    }
    dir = src.path;
    scope = paths.filter((p) => p.startsWith(`${dir}/`));
    if (scope.length === 0) {
      const ggufs = paths.filter((p) => isGGUF(p) && !isProjector(p));
      throw new NotFoundError(
        `${src.path} is not in ${where}${ggufs.length ? ` (GGUF files there: ${ggufs.slice(0, 20).join(', ')}${ggufs.length > 20 ? ', …' : ''})` : ''}`,
      );
    }
  }
  const ggufs = scope.filter((p) => isGGUF(p) && !isProjector(p)).sort();
  if (src.quant !== undefined || ggufs.length > 0) {
    const tag = src.quant ?? DEFAULT_QUANT;
    let matches = ggufs.filter((g) => hasQuant(g, tag));
    if (matches.length === 0) {
      if (src.quant !== undefined) {
        throw new NotFoundError(
          ggufs.length === 0
            ? `${where} has no GGUF files, so no quant ${src.quant}`
            : `no GGUF file for quant ${src.quant} in ${where}; it has: ${availableQuants(ggufs)}`,
        );
      }
      matches = ggufs;
    }
    // Prefer an ordinary file or a split set's first part; the shortest path (the repo's root) first.
    const pick = [...matches].sort((a, b) => a.split('/').length - b.split('/').length || (a < b ? -1 : 1))[0]!;
    return { kind: 'gguf', files: withParts(pick, all, where) };
  }
  // No GGUF: a Hugging Face folder (config.json + safetensors) directly in `dir`.
  const inDir = (name: string): string => (dir ? `${dir}/${name}` : name);
  const direct = scope.filter((p) => path.posix.dirname(p) === (dir || '.'));
  const has = (name: string): boolean => all.has(inDir(name));
  const safetensors = direct.filter((p) => p.endsWith('.safetensors'));
  if (!has('config.json') || (safetensors.length === 0 && !has('model.safetensors.index.json'))) {
    throw new NotFoundError(
      `${where}${dir ? `/${dir}` : ''} has no GGUF file and no safetensors model (config.json + *.safetensors); it holds ${plural(scope.length, 'file')}`,
    );
  }
  const files = ['config.json', ...HF_EXTRA.filter(has)].map(inDir);
  if (has('model.safetensors.index.json')) {
    return {
      kind: 'hf',
      dir,
      files: [...files, inDir('model.safetensors.index.json')],
      index: inDir('model.safetensors.index.json'),
    };
  }
  const weights = has('model.safetensors') ? [inDir('model.safetensors')] : safetensors.sort();
  return { kind: 'hf', dir, files: [...files, ...weights] };
}

/** Shard paths named by an index (plain file names in the index's folder). */
export function shardsOf(index: unknown, indexPath: string): string[] {
  const map = (index as { weight_map?: unknown })?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map))
    throw new BadModelError(`${indexPath} has no "weight_map" object`);
  const dir = path.posix.dirname(indexPath);
  const shards = new Set<string>();
  for (const shard of Object.values(map as Record<string, unknown>)) {
    if (typeof shard !== 'string' || !/^[^/\\]+\.safetensors$/.test(shard) || shard.startsWith('.'))
      throw new BadModelError(`${indexPath} names an invalid shard ${JSON.stringify(shard)}`);
    shards.add(dir === '.' ? shard : `${dir}/${shard}`);
  }
  return [...shards].sort();
}
