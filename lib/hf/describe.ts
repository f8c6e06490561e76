/**
 * Hugging Face model folders: config.json + model.safetensors, or shards
 * listed in model.safetensors.index.json. Tensors are described in place
 * (absolute offsets into the shard files) under their GGUF names.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BadModelError, IOError, UnsupportedError } from '../errors';
import { readRegularTextFile } from '../regular-file';
import { DType } from '../native';
import { type ModelDescription, type TensorRef, validateHParams, validateTensors } from '../model/description';
import { readSafetensorsHeader, type SafetensorsHeader } from '../safetensors/header';
import { architectureOfConfig, hparamsOfConfig } from './config';
import { ggufName } from './names';

const MAX_JSON_BYTES = 64 * 1024 * 1024;

const DTYPE_OF: Record<string, number> = { F32: DType.F32, F16: DType.F16, BF16: DType.BF16 };

/** Reads a JSON file of the folder (size-capped), as an object. */
export async function readJsonObject(file: string): Promise<Record<string, unknown>> {
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
  return v as Record<string, unknown>;
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

/** Describes the Hugging Face model folder `dir`. */
export async function describeHF(dir: string): Promise<ModelDescription> {
  const config = await readJsonObject(path.join(dir, 'config.json'));
  const arch = architectureOfConfig(config);
  const { shards, index } = await safetensorsFiles(dir);
  const headers = await Promise.all(shards.map((s) => readSafetensorsHeader(path.join(dir, s))));

  const tensors = new Map<string, TensorRef>();
  let fileBytes = 0;
  shards.forEach((shard, i) => {
    const file = path.join(dir, shard);
    const h = headers[i] as SafetensorsHeader;
    fileBytes += h.fileSize;
    for (const t of h.tensors) {
      if (index && index.get(t.name) !== shard) continue; // the index decides which copy counts
      const name = ggufName(t.name);
      if (name === undefined) continue;
      if (tensors.has(name)) throw new BadModelError(`${dir}: tensor "${t.name}" appears twice`);
      const type = DTYPE_OF[t.dtype];
      if (type === undefined)
        throw new UnsupportedError(`${file}: tensor "${t.name}" has dtype ${t.dtype} (supported: F32, F16, BF16)`);
      // safetensors is row-major [rows, cols]; ggml order lists the row length first.
      tensors.set(name, { name, file, offset: t.offset, bytes: t.bytes, type, shape: [...t.shape].reverse() });
    }
  });
  if (index) {
    for (const [tensor, shard] of index) {
      const h = headers[shards.indexOf(shard)] as SafetensorsHeader;
      if (!h.tensors.some((t) => t.name === tensor))
        throw new BadModelError(`${dir}: tensor "${tensor}" is not in ${shard}`);
    }
  }

  const hp = hparamsOfConfig(config, tensors.has('output.weight'));
  // With tied embeddings transformers ignores any stored lm_head.
  if (hp.tiedEmbeddings) tensors.delete('output.weight');
  validateHParams(hp);
  validateTensors(arch, hp, tensors);
  const nameOrPath = config['_name_or_path'];
  const name = typeof nameOrPath === 'string' && nameOrPath.length > 0 ? nameOrPath : path.basename(path.resolve(dir));
  return {
    format: 'hf',
    source: dir,
    architecture: arch,
    name,
    hparams: hp,
    tensors,
    fileBytes,
    hfConfig: config,
    files: shards.map((s) => path.join(dir, s)),
  };
}
