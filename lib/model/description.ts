/**
 * The model description: what a GGUF file or a Hugging Face folder holds, in
 * one shape (GGUF tensor names, ggml shapes, absolute file offsets), checked
 * so that later code can build a graph without re-validating anything.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BadModelError, InvalidArgumentError, IOError, UnsupportedError } from '../errors';
import type { GGUFFile } from '../gguf/reader';
import { readGGUFSet, readGGUFSetSync, type GGUFSet } from '../gguf/split';
import type { GGUFValue } from '../gguf/types';
// lib/hf uses this module's types and validators only at call time, so the import cycle is harmless.
import { describeHF } from '../hf/describe';

export interface TensorRef {
  name: string;
  file: string;
  /** Absolute byte offset in `file`. */
  offset: number;
  bytes: number;
  /** ggml type id (DType). */
  type: number;
  /** ggml order: shape[0] is the row length. */
  shape: number[];
}

export interface RopeScalingLlama3 {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalContextLength: number;
}

export interface ModelHParams {
  nLayer: number;
  nEmbd: number;
  nHead: number;
  nKvHead: number;
  headDim: number;
  nFf: number;
  vocabSize: number;
  contextLength: number;
  rmsEps: number;
  ropeTheta: number;
  /** 'normal': rotate adjacent pairs (GGUF llama); 'neox': rotate halves (HF, qwen). */
  ropeMode: 'normal' | 'neox';
  /** Rotated dimensions per head. */
  nRot: number;
  ropeScaling?: RopeScalingLlama3;
  tiedEmbeddings: boolean;
}

export type Architecture = 'llama' | 'qwen2' | 'qwen3';

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

export const ARCHITECTURES: readonly Architecture[] = ['llama', 'qwen2', 'qwen3'];

/** Checks that every tensor the architecture needs exists with the right shape. */
export function validateTensors(arch: Architecture, hp: ModelHParams, tensors: Map<string, TensorRef>): void {
  const qDim = hp.nHead * hp.headDim;
  const kvDim = hp.nKvHead * hp.headDim;
  const expect = (name: string, shape: number[], optional = false): void => {
    const t = tensors.get(name);
    if (!t) {
      if (optional) return;
      throw new BadModelError(`tensor "${name}" is missing`);
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new BadModelError(`tensor "${name}" has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
  };
  expect('token_embd.weight', [hp.nEmbd, hp.vocabSize]);
  expect('output_norm.weight', [hp.nEmbd]);
  if (!hp.tiedEmbeddings) expect('output.weight', [hp.nEmbd, hp.vocabSize]);
  if (tensors.has('rope_freqs.weight')) expect('rope_freqs.weight', [hp.nRot / 2]);
  for (let i = 0; i < hp.nLayer; i++) {
    const b = `blk.${i}.`;
    expect(`${b}attn_norm.weight`, [hp.nEmbd]);
    expect(`${b}attn_q.weight`, [hp.nEmbd, qDim]);
    expect(`${b}attn_k.weight`, [hp.nEmbd, kvDim]);
    expect(`${b}attn_v.weight`, [hp.nEmbd, kvDim]);
    expect(`${b}attn_output.weight`, [qDim, hp.nEmbd]);
    const biasOptional = arch !== 'qwen2';
    expect(`${b}attn_q.bias`, [qDim], biasOptional);
    expect(`${b}attn_k.bias`, [kvDim], biasOptional);
    expect(`${b}attn_v.bias`, [kvDim], biasOptional);
    expect(`${b}attn_output.bias`, [hp.nEmbd], true);
    if (arch === 'qwen3') {
      expect(`${b}attn_q_norm.weight`, [hp.headDim]);
      expect(`${b}attn_k_norm.weight`, [hp.headDim]);
    }
    expect(`${b}ffn_norm.weight`, [hp.nEmbd]);
    expect(`${b}ffn_gate.weight`, [hp.nEmbd, hp.nFf]);
    expect(`${b}ffn_up.weight`, [hp.nEmbd, hp.nFf]);
    expect(`${b}ffn_down.weight`, [hp.nFf, hp.nEmbd]);
  }
}

/** Checks hyperparameters are positive, consistent and small enough to be real. */
export function validateHParams(hp: ModelHParams): void {
  const ints: Array<keyof ModelHParams> = [
    'nLayer',
    'nEmbd',
    'nHead',
    'nKvHead',
    'headDim',
    'nFf',
    'vocabSize',
    'contextLength',
    'nRot',
  ];
  for (const k of ints) {
    const v = hp[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0 || v > 2 ** 31) {
      throw new BadModelError(`hyperparameter ${k} = ${JSON.stringify(v)} is not a positive integer`);
    }
  }
  if (hp.nHead % hp.nKvHead !== 0)
    throw new BadModelError(`${hp.nHead} attention heads are not a multiple of ${hp.nKvHead} KV heads`);
  if (hp.nRot > hp.headDim || hp.nRot % 2 !== 0)
    throw new BadModelError(`rope dimension ${hp.nRot} does not fit head dimension ${hp.headDim}`);
  if (!(hp.rmsEps > 0 && hp.rmsEps < 1)) throw new BadModelError(`rms norm epsilon ${hp.rmsEps} is out of range`);
  if (!(hp.ropeTheta > 0 && Number.isFinite(hp.ropeTheta)))
    throw new BadModelError(`rope theta ${hp.ropeTheta} is out of range`);
  const s = hp.ropeScaling;
  if (s) {
    for (const k of ['factor', 'lowFreqFactor', 'highFreqFactor', 'originalContextLength'] as const) {
      if (!(s[k] > 0 && Number.isFinite(s[k]))) throw new BadModelError(`rope scaling ${k} = ${s[k]} is out of range`);
    }
    if (s.highFreqFactor <= s.lowFreqFactor)
      throw new BadModelError('rope scaling highFreqFactor must exceed lowFreqFactor');
  }
}

// ---------------------------------------------------------------- GGUF

function metaNumber(m: Record<string, GGUFValue>, key: string, fallback?: number): number {
  let v = m[key];
  if (v === undefined) {
    if (fallback === undefined) throw new BadModelError(`metadata key "${key}" is missing`);
    return fallback;
  }
  // Some models store per-layer values; uniform ones are fine.
  if (ArrayBuffer.isView(v) && !(v instanceof DataView) && (v as ArrayLike<number | bigint>).length > 0) {
    const arr = Array.from(v as ArrayLike<number | bigint>, Number);
    if (arr.some((x) => x !== arr[0]))
      throw new UnsupportedError(`metadata key "${key}": per-layer values are not supported`);
    v = arr[0]!;
  }
  if (typeof v === 'bigint') v = Number(v);
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new BadModelError(`metadata key "${key}" is not a number`);
  return v;
}

function metaString(m: Record<string, GGUFValue>, key: string): string | undefined {
  const v = m[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new BadModelError(`metadata key "${key}" is not a string`);
  return v;
}

function architectureOf(name: string | undefined, what: string): Architecture {
  if (name === undefined) throw new BadModelError(`${what} is missing`);
  if (!(ARCHITECTURES as readonly string[]).includes(name)) {
    throw new UnsupportedError(
      `unsupported model architecture "${name}" (supported: ${ARCHITECTURES.join(', ')})`,
      'ERR_UNSUPPORTED_ARCH',
    );
  }
  return name as Architecture;
}

/** Builds the description of a parsed GGUF file, or of a split set (metadata in the first part). */
export function describeParsedGGUF(
  file: string,
  g: GGUFFile,
  set: GGUFSet = { files: [file], parts: [g] },
): ModelDescription {
  const m = g.metadata;
  const arch = architectureOf(metaString(m, 'general.architecture'), 'metadata key "general.architecture"');
  const tensors = new Map<string, TensorRef>();
  set.parts.forEach((part, i) => {
    const f = set.files[i]!;
    for (const t of part.tensors) {
      tensors.set(t.name, { name: t.name, file: f, offset: t.offset, bytes: t.bytes, type: t.type, shape: t.shape });
    }
  });
  const k = (s: string): string => `${arch}.${s}`;
  const nEmbd = metaNumber(m, k('embedding_length'));
  const nHead = metaNumber(m, k('attention.head_count'));
  const headDim = metaNumber(m, k('attention.key_length'), nHead > 0 ? Math.floor(nEmbd / nHead) : 0);
  const tokens = m['tokenizer.ggml.tokens'];
  const embd = tensors.get('token_embd.weight');
  const vocabSize = Array.isArray(tokens) ? tokens.length : (embd?.shape[1] ?? metaNumber(m, k('vocab_size')));
  const scalingType = metaString(m, k('rope.scaling.type'));
  if (
    scalingType !== undefined &&
    scalingType !== 'none' &&
    !(scalingType === 'linear' && metaNumber(m, k('rope.scaling.factor'), 1) === 1)
  ) {
    throw new UnsupportedError(`rope scaling "${scalingType}" is not supported`);
  }
  const hp: ModelHParams = {
    nLayer: metaNumber(m, k('block_count')),
    nEmbd,
    nHead,
    nKvHead: metaNumber(m, k('attention.head_count_kv'), nHead),
    headDim,
    nFf: metaNumber(m, k('feed_forward_length')),
    vocabSize,
    contextLength: metaNumber(m, k('context_length'), 2048),
    rmsEps: metaNumber(m, k('attention.layer_norm_rms_epsilon'), 1e-5),
    ropeTheta: metaNumber(m, k('rope.freq_base'), 10000),
    ropeMode: arch === 'llama' ? 'normal' : 'neox',
    nRot: metaNumber(m, k('rope.dimension_count'), headDim),
    tiedEmbeddings: !tensors.has('output.weight'),
  };
  validateHParams(hp);
  validateTensors(arch, hp, tensors);
  const name = metaString(m, 'general.name') ?? path.basename(file).replace(/\.gguf$/i, '');
  return {
    format: 'gguf',
    source: file,
    architecture: arch,
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

export { describeHF };
