/**
 * The model description: what a GGUF file (or split set) or a Hugging Face
 * folder holds, in one shape (GGUF tensor names, ggml shapes, absolute file
 * offsets), checked by its family (arch/) so that later code can build a graph
 * without re-validating anything. File formats are read by gguf/ and hf/; the
 * family maps metadata / config.json to hyper-parameters and declares its tensors.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BadModelError, InvalidArgumentError, IOError, UnsupportedError } from '../errors';
import type { GGUFFile } from '../gguf/reader';
import { readGGUFSet, readGGUFSetSync, type GGUFSet } from '../gguf/split';
import type { GGUFValue } from '../gguf/types';
import { HFConfig } from '../hf/config';
import { readHFFolder, safetensorsTypeId, SUPPORTED_DTYPES } from '../hf/folder';
import type { ModelFamily } from './arch/family';
import { familyOfGGUF, familyOfHF, type Architecture } from './arch/registry';
import { GGUFMeta, validateHParams, type ModelHParams } from './hparams';
import { declareTensors, type Declared, type TensorRef } from './tensor-source';

export type { TensorRef } from './tensor-source';

export type { Architecture } from './arch/registry';
export { ARCHITECTURES } from './arch/registry';
export type { ModelHParams, RopeScalingLlama3 } from './hparams';
export { validateHParams } from './hparams';

export interface ModelDescription {
  format: 'gguf' | 'hf';
  /** The path given (GGUF file or HF folder). */
  source: string;
  architecture: Architecture;
  name: string;
  hparams: ModelHParams;
  /** Keyed by GGUF tensor name. */
  tensors: Map<string, TensorRef>;
  /** Total bytes of the model files. */
  fileBytes: number;
  /** GGUF metadata (gguf only). */
  metadata?: Record<string, GGUFValue>;
  /** Parsed config.json (hf only). */
  hfConfig?: unknown;
  /** Every file the tensors live in. */
  files: string[];
}

/** The family's checks (common hyper-parameter ranges, its own, every tensor it declares): the declared tensors. */
function check(
  family: ModelFamily,
  hp: ModelHParams,
  format: 'gguf' | 'hf',
  tensors: ReadonlyMap<string, TensorRef>,
): Declared[] {
  validateHParams(hp);
  family.validate?.(hp);
  return declareTensors(family, hp, format, tensors);
}

// ---------------------------------------------------------------- GGUF

/** Builds the description of a parsed GGUF file, or of a split set (metadata in the first part). */
export function describeParsedGGUF(
  file: string,
  g: GGUFFile,
  set: GGUFSet = { files: [file], parts: [g] },
): ModelDescription {
  const m = g.metadata;
  const family = familyOfGGUF(new GGUFMeta(m).strAt('general.architecture'), 'metadata key "general.architecture"');
  const tensors = new Map<string, TensorRef>();
  set.parts.forEach((part, i) => {
    const f = set.files[i]!;
    for (const t of part.tensors) {
      tensors.set(t.name, { name: t.name, file: f, offset: t.offset, bytes: t.bytes, type: t.type, shape: t.shape });
    }
  });
  const meta = new GGUFMeta(m, family.name);
  const hp = family.hparamsFromGGUF(meta, {
    has: (name) => tensors.has(name),
    shape: (name) => tensors.get(name)?.shape,
  });
  check(family, hp, 'gguf', tensors);
  const name = meta.strAt('general.name') ?? path.basename(file).replace(/\.gguf$/i, '');
  return {
    format: 'gguf',
    source: file,
    architecture: family.name,
    name,
    hparams: hp,
    tensors,
    fileBytes: set.parts.reduce((n, p) => n + p.fileSize, 0),
    metadata: m,
    files: set.files,
  };
}

/** Describes a GGUF file; any part of a split set (`*-0000N-of-0000M.gguf`) describes the whole set. */
export async function describeGGUF(file: string): Promise<ModelDescription> {
  const set = await readGGUFSet(file);
  return describeParsedGGUF(set.files[0]!, set.parts[0]!, set);
}

export function describeGGUFSync(file: string): ModelDescription {
  const set = readGGUFSetSync(file);
  return describeParsedGGUF(set.files[0]!, set.parts[0]!, set);
}

// ---------------------------------------------------------------- Hugging Face

/**
 * Describes the Hugging Face model folder `dir` (config.json + model.safetensors
 * or shards): tensors in place under their GGUF names, only those the family declares.
 */
export async function describeHF(dir: string): Promise<ModelDescription> {
  const folder = await readHFFolder(dir);
  const config = new HFConfig(folder.config);
  const family = familyOfHF(config.architecture);
  const all = new Map<string, TensorRef>();
  for (const t of folder.tensors) {
    const name = family.hfTensorName(t.name);
    if (name === undefined) continue;
    if (all.has(name)) throw new BadModelError(`${dir}: tensor "${t.name}" appears twice`);
    const type = safetensorsTypeId(t.dtype);
    if (type === undefined) {
      throw new UnsupportedError(
        `${t.file}: tensor "${t.name}" has dtype ${t.dtype} (supported: ${SUPPORTED_DTYPES.join(', ')})`,
      );
    }
    // safetensors is row-major [rows, cols]; ggml order lists the row length first.
    all.set(name, { name, file: t.file, offset: t.offset, bytes: t.bytes, type, shape: [...t.shape].reverse() });
  }
  const hp = family.hparamsFromHF(config, (name) => all.has(name));
  // What the family does not declare is not part of the model (a stored lm_head with tied embeddings).
  const tensors = new Map<string, TensorRef>();
  for (const d of check(family, hp, 'hf', all)) if (d.kind !== 'derived') tensors.set(d.name, d.ref);
  const nameOrPath = config.value('_name_or_path');
  const name = typeof nameOrPath === 'string' && nameOrPath.length > 0 ? nameOrPath : path.basename(path.resolve(dir));
  return {
    format: 'hf',
    source: dir,
    architecture: family.name,
    name,
    hparams: hp,
    tensors,
    fileBytes: folder.fileBytes,
    hfConfig: folder.config,
    files: folder.files,
  };
}

// ---------------------------------------------------------------- any

/** A file is read as GGUF, a directory as a Hugging Face model folder. */
export async function describeModel(source: string): Promise<ModelDescription> {
  if (typeof source !== 'string' || source.length === 0)
    throw new InvalidArgumentError('model source must be a non-empty path');
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(source);
  } catch (e) {
    throw new IOError(`cannot open ${source}: ${(e as Error).message}`, { cause: e });
  }
  return st.isDirectory() ? describeHF(source) : describeGGUF(source);
}
