/**
 * Hugging Face model folders: config.json + model.safetensors, or shards
 * listed in model.safetensors.index.json. Reads what the folder holds (the
 * config as JSON, every tensor in place with its HF name); what it means is
 * the model family's business (lib/model/arch).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DType } from '../dtype';
import { BadModelError, IOError } from '../errors';
import { checkPath, readRegularTextFile } from '../regular-file';
import { readSafetensorsHeader, type SafetensorsHeader } from '../safetensors/header';
import type { Json } from './config';

const MAX_JSON_BYTES = 64 * 1024 * 1024;

/** ggml type ids of the safetensors dtypes a model's weights may have. */
const DTYPE_IDS: Readonly<Record<string, number>> = { F32: DType.F32, F16: DType.F16, BF16: DType.BF16 };

/** The ggml type id of a safetensors dtype, or undefined when weights of it are not supported. */
export function safetensorsTypeId(dtype: string): number | undefined {
  return DTYPE_IDS[dtype];
}
export const SUPPORTED_DTYPES: readonly string[] = Object.keys(DTYPE_IDS);

/** Reads a JSON file of the folder (size-capped), as an object. */
export async function readJsonObject(file: string): Promise<Json> {
  const text = await readRegularTextFile(
    file,
    MAX_JSON_BYTES,
    () => new BadModelError(`${file} is larger than ${MAX_JSON_BYTES} bytes`),
  );
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new BadModelError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadModelError(`${file} is not a JSON object`);
  return v as Json;
}

/** The shard file names of the folder (basenames), from the index, or model.safetensors, or every *.safetensors. */
export async function safetensorsFiles(dir: string): Promise<{ shards: string[]; index?: Map<string, string> }> {
  const indexFile = path.join(dir, 'model.safetensors.index.json');
  if (fs.existsSync(indexFile)) {
    const idx = await readJsonObject(indexFile);
    const map = idx['weight_map'];
    if (typeof map !== 'object' || map === null || Array.isArray(map))
      throw new BadModelError(`${indexFile}: "weight_map" is not an object`);
    const index = new Map<string, string>();
    for (const [tensor, shard] of Object.entries(map as Record<string, unknown>)) {
      // Shards must be plain file names inside the folder: no paths, no traversal.
      if (typeof shard !== 'string' || !/^[^/\\]+\.safetensors$/.test(shard) || shard.startsWith('..')) {
        throw new BadModelError(
          `${indexFile}: tensor "${tensor}" maps to an invalid file name ${JSON.stringify(shard)}`,
        );
      }
      index.set(tensor, shard);
    }
    return { shards: [...new Set(index.values())].sort(), index };
  }
  if (fs.existsSync(path.join(dir, 'model.safetensors'))) return { shards: ['model.safetensors'] };
  let names: string[];
  try {
    names = (await fs.promises.readdir(dir)).filter((n) => n.endsWith('.safetensors')).sort();
  } catch (e) {
    throw new IOError(`cannot read ${dir}: ${(e as Error).message}`, { cause: e });
  }
  if (names.length === 0) throw new BadModelError(`${dir}: no model.safetensors, index or *.safetensors file`);
  return { shards: names };
}

/** A tensor of the folder, in place. */
export interface HFTensor {
  /** transformers' name, e.g. model.layers.0.self_attn.q_proj.weight. */
  name: string;
  file: string;
  /** Absolute byte offset in `file`. */
  offset: number;
  bytes: number;
  /** safetensors dtype, e.g. 'BF16'. */
  dtype: string;
  /** Row-major, as stored (shape[last] is the row length). */
  shape: number[];
}

export interface HFFolder {
  config: Json;
  /** Every tensor (one copy each: the index decides which shard's counts). */
  tensors: HFTensor[];
  /** The shard files (absolute or as joined with the folder). */
  files: string[];
  fileBytes: number;
}

/** Reads config.json and the safetensors headers of the folder `dir`. */
export async function readHFFolder(dir: string): Promise<HFFolder> {
  checkPath(dir, 'model folder');
  const config = await readJsonObject(path.join(dir, 'config.json'));
  const { shards, index } = await safetensorsFiles(dir);
  const headers = await Promise.all(shards.map((s) => readSafetensorsHeader(path.join(dir, s))));
  const tensors: HFTensor[] = [];
  let fileBytes = 0;
  shards.forEach((shard, i) => {
    const file = path.join(dir, shard);
    const h = headers[i] as SafetensorsHeader;
    fileBytes += h.fileSize;
    for (const t of h.tensors) {
      if (index && index.get(t.name) !== shard) continue; // the index decides which copy counts
      tensors.push({ name: t.name, file, offset: t.offset, bytes: t.bytes, dtype: t.dtype, shape: t.shape });
    }
  });
  if (index) {
    for (const [tensor, shard] of index) {
      const h = headers[shards.indexOf(shard)] as SafetensorsHeader;
      if (!h.tensors.some((t) => t.name === tensor))
        throw new BadModelError(`${dir}: tensor "${tensor}" is not in ${shard}`);
    }
  }
  return { config, tensors, files: shards.map((s) => path.join(dir, s)), fileBytes };
}
