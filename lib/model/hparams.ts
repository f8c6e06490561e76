/**
 * The hyper-parameters every family has, their common checks, and the GGUF
 * metadata reader families read theirs with. A family's own hyper-parameters
 * extend ModelHParams (see arch/family.ts).
 */
import { BadModelError, UnsupportedError } from '../errors';
import type { GGUFValue } from '../gguf/types';

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

/** GGUF metadata as a family reads it: `num('block_count')` reads `<arch>.block_count`. */
export class GGUFMeta {
  constructor(
    readonly metadata: Record<string, GGUFValue>,
    /** The key prefix of num() / str(): the architecture. */
    readonly arch = '',
  ) {}

  /** A number under `<arch>.`; `fallback` when absent (BadModelError when absent without one). */
  num(key: string, fallback?: number): number {
    return this.numAt(`${this.arch}.${key}`, fallback);
  }

  /** A number under its full key (`general.*`, `tokenizer.*`). Per-layer arrays must be uniform. */
  numAt(fullKey: string, fallback?: number): number {
    let v = this.metadata[fullKey];
    if (v === undefined) {
      if (fallback === undefined) throw new BadModelError(`metadata key "${fullKey}" is missing`);
      return fallback;
    }
    // Some models store per-layer values; uniform ones are fine.
    if (ArrayBuffer.isView(v) && !(v instanceof DataView) && (v as ArrayLike<number | bigint>).length > 0) {
      const arr = Array.from(v as ArrayLike<number | bigint>, Number);
      if (arr.some((x) => x !== arr[0]))
        throw new UnsupportedError(`metadata key "${fullKey}": per-layer values are not supported`);
      v = arr[0]!;
    }
    if (typeof v === 'bigint') v = Number(v);
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new BadModelError(`metadata key "${fullKey}" is not a number`);
    return v;
  }

  /** A string under `<arch>.`, or undefined. */
  str(key: string): string | undefined {
    return this.strAt(`${this.arch}.${key}`);
  }

  strAt(fullKey: string): string | undefined {
    const v = this.metadata[fullKey];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new BadModelError(`metadata key "${fullKey}" is not a string`);
    return v;
  }

  /** The raw value under its full key. */
  value(fullKey: string): GGUFValue | undefined {
    return this.metadata[fullKey];
  }
}
