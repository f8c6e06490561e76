/**
 * GGUF value types and ggml tensor type traits, in plain TS so a header can be
 * read (and a file size validated) without loading the native addon.
 */
import { DType } from '../dtype';

/** Metadata value type ids, as stored in GGUF. */
export const GGUFValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GGUFValueTypeId = (typeof GGUFValueType)[keyof typeof GGUFValueType];

/** Bytes each scalar value type occupies (string/array: their minimum, the length prefix). */
export const GGUF_VALUE_MIN_SIZE: readonly number[] = [1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8];

export const GGUF_VALUE_TYPE_NAMES: readonly string[] = [
  'u8',
  'i8',
  'u16',
  'i16',
  'u32',
  'i32',
  'f32',
  'bool',
  'string',
  'array',
  'u64',
  'i64',
  'f64',
];

/**
 * A metadata value. Scalars: u8..i32/f32/f64 → number, u64/i64 → bigint,
 * bool → boolean, string → string. Arrays: numeric element types → typed arrays,
 * bool → boolean[], string → string[], nested arrays → GGUFValue[].
 */
export type GGUFValue =
  | number
  | bigint
  | boolean
  | string
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array
  | boolean[]
  | string[]
  | GGUFValue[];

export interface GGMLTypeTraits {
  /** ggml's name, e.g. 'Q8_0'. */
  name: string;
  /** Elements per block (1 for plain types). */
  blockSize: number;
  /** Bytes per block. */
  typeSize: number;
  isQuantized: boolean;
}

/** Traits of every tensor type minimacllm understands, keyed by ggml type id. */
export const GGML_TYPES: ReadonlyMap<number, GGMLTypeTraits> = new Map<number, GGMLTypeTraits>([
  [DType.F32, { name: 'F32', blockSize: 1, typeSize: 4, isQuantized: false }],
  [DType.F16, { name: 'F16', blockSize: 1, typeSize: 2, isQuantized: false }],
  [DType.Q4_0, { name: 'Q4_0', blockSize: 32, typeSize: 18, isQuantized: true }],
  [DType.Q4_1, { name: 'Q4_1', blockSize: 32, typeSize: 20, isQuantized: true }],
  [DType.Q5_0, { name: 'Q5_0', blockSize: 32, typeSize: 22, isQuantized: true }],
  [DType.Q5_1, { name: 'Q5_1', blockSize: 32, typeSize: 24, isQuantized: true }],
  [DType.Q8_0, { name: 'Q8_0', blockSize: 32, typeSize: 34, isQuantized: true }],
  [DType.Q8_1, { name: 'Q8_1', blockSize: 32, typeSize: 36, isQuantized: true }],
  [DType.Q2_K, { name: 'Q2_K', blockSize: 256, typeSize: 84, isQuantized: true }],
  [DType.Q3_K, { name: 'Q3_K', blockSize: 256, typeSize: 110, isQuantized: true }],
  [DType.Q4_K, { name: 'Q4_K', blockSize: 256, typeSize: 144, isQuantized: true }],
  [DType.Q5_K, { name: 'Q5_K', blockSize: 256, typeSize: 176, isQuantized: true }],
  [DType.Q6_K, { name: 'Q6_K', blockSize: 256, typeSize: 210, isQuantized: true }],
  [DType.Q8_K, { name: 'Q8_K', blockSize: 256, typeSize: 292, isQuantized: true }],
  [DType.IQ4_NL, { name: 'IQ4_NL', blockSize: 32, typeSize: 18, isQuantized: true }],
  [DType.IQ4_XS, { name: 'IQ4_XS', blockSize: 256, typeSize: 136, isQuantized: true }],
  [DType.I32, { name: 'I32', blockSize: 1, typeSize: 4, isQuantized: false }],
  [DType.BF16, { name: 'BF16', blockSize: 1, typeSize: 2, isQuantized: false }],
]);

/** ggml names of type ids minimacllm does not support, so errors can name them. */
const OTHER_GGML_TYPE_NAMES: Record<number, string> = {
  4: 'Q4_2 (removed)',
  5: 'Q4_3 (removed)',
  16: 'IQ2_XXS',
  17: 'IQ2_XS',
  18: 'IQ3_XXS',
  19: 'IQ1_S',
  21: 'IQ3_S',
  22: 'IQ2_S',
  24: 'I8',
  25: 'I16',
  27: 'I64',
  28: 'F64',
  29: 'IQ1_M',
  31: 'Q4_0_4_4 (removed)',
  32: 'Q4_0_4_8 (removed)',
  33: 'Q4_0_8_8 (removed)',
  34: 'TQ1_0',
  35: 'TQ2_0',
  39: 'MXFP4',
};

/** "Q8_0", or "type 16 (IQ2_XXS)" style text for an id, for messages. */
export function ggmlTypeName(type: number): string {
  if (typeof type !== 'number') return `type ${typeof type}`;
  const t = GGML_TYPES.get(type);
  if (t) return t.name;
  const other = OTHER_GGML_TYPE_NAMES[type];
  return other ? `type ${type} (${other})` : `type ${type}`;
}

/** Bytes of a tensor of `type` with ggml shape `shape`, or undefined for an unknown type. Assumes shape[0] % blockSize == 0. */
export function tensorBytes(type: number, shape: readonly number[]): number | undefined {
  const t = GGML_TYPES.get(type);
  if (!t) return undefined;
  let n = 1;
  for (const d of shape) n *= d;
  return (n / t.blockSize) * t.typeSize;
}
