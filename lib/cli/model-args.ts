/** Options shared by the commands that load a model (--model, --backend, --threads, --ctx, --kv-type, --huge-pages). */
import * as path from 'node:path';
import { InvalidArgumentError } from '../errors';
import { isHubSource } from '../hub/source';
import { checkKvType } from '../model/kv-type';
import { loadModel, type Model } from '../model/model';
import type { BackendChoice } from '../model/options';
import { downloadProgress } from './progress';

/** The model shipped in the package (models/stories260K.gguf), one level above lib/ or dist/. */
export const DEFAULT_MODEL = path.resolve(__dirname, '..', '..', 'models', 'stories260K.gguf');

export const MODEL_OPTIONS = {
  model: { type: 'string', short: 'm' },
  backend: { type: 'string' },
  threads: { type: 'string', short: 't' },
  ctx: { type: 'string', short: 'c' },
  'kv-type': { type: 'string' },
  'huge-pages': { type: 'boolean' },
} as const;

export const MODEL_USAGE = `  -m, --model PATH     GGUF file, Hugging Face folder, or hf:org/repo[:QUANT] from the Hub
                       (default: the embedded stories260K model)
  --backend NAME       auto | cpu | metal | metal-sim (default auto)
  -t, --threads N      CPU threads (default: physical cores)
  -c, --ctx N          context size in tokens (default: min(model's, 4096))
  --kv-type TYPE       KV cache type: f16 | q8_0 | f32 (default f16; q8_0 holds
                       about half the bytes of f16, CPU backend only)
  --huge-pages         Linux: read the weights into 2 MB pages instead of using the
                       model file's mapping (faster decode on a busy machine; the
                       memory is not shared with other processes; loadModel's hugePages)`;

/** Parses an integer option; undefined when absent. */
export function intOption(values: Record<string, unknown>, name: string, min: number): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !/^-?\d+$/.test(v) || n < min)
    throw new InvalidArgumentError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

/** Parses a number option; undefined when absent. */
export function numberOption(values: Record<string, unknown>, name: string): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n))
    throw new InvalidArgumentError(`--${name} must be a number, got ${JSON.stringify(v)}`);
  return n;
}

export async function loadModelFromArgs(
  values: Record<string, unknown>,
  extra: { contextSize?: number; maxSequences?: number } = {},
): Promise<Model> {
  const backend = (values['backend'] ?? 'auto') as BackendChoice;
  const threads = intOption(values, 'threads', 0);
  const contextSize = extra.contextSize ?? intOption(values, 'ctx', 1);
  const kvType = checkKvType(values['kv-type'], '--kv-type');
  const model = typeof values['model'] === 'string' ? values['model'] : DEFAULT_MODEL;
  // hf: sources may download first: show it on stderr.
  const progress = isHubSource(model) ? downloadProgress() : undefined;
  try {
    return await loadModel(model, {
      backend,
      ...(threads !== undefined ? { threads } : {}),
      ...(contextSize !== undefined ? { contextSize } : {}),
      ...(extra.maxSequences !== undefined ? { maxSequences: extra.maxSequences } : {}),
      ...(kvType !== undefined ? { kvType } : {}),
      ...(values['huge-pages'] === true ? { hugePages: true } : {}),
      ...(progress ? { onProgress: (p) => (p.stage === 'download' ? progress.onProgress(p) : progress.done()) } : {}),
    });
  } finally {
    progress?.done();
  }
}
