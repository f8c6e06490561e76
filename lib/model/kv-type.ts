/** The KV cache's element type: the public option, its validation and what a model needs for it. */
import { DType } from '../dtype';
import { InvalidArgumentError, UnsupportedError, showValue } from '../errors';

/**
 * 'f16' (default, as llama.cpp), 'q8_0' (llama.cpp's `-ctk q8_0 -ctv q8_0`: blocks of 32
 * int8 values with an f16 scale, about half the bytes of f16), or 'f32' (twice f16).
 */
export type KvType = 'f16' | 'q8_0' | 'f32';
export const KV_TYPES: readonly KvType[] = ['f16', 'q8_0', 'f32'];

/** The cache tensors' type id. */
export type KvDType = typeof DType.F16 | typeof DType.F32 | typeof DType.Q8_0;
export const KV_DTYPE: Readonly<Record<KvType, KvDType>> = { f16: DType.F16, q8_0: DType.Q8_0, f32: DType.F32 };

/** Validates a kvType option (undefined stays undefined: the caller's default). */
export function checkKvType(v: unknown, what = 'kvType'): KvType | undefined {
  if (v === undefined) return undefined;
  if (!(KV_TYPES as readonly unknown[]).includes(v))
    throw new InvalidArgumentError(`${what} must be one of ${KV_TYPES.join(', ')}, got ${showValue(v)}`);
  return v as KvType;
}

/** Bytes of one cache row of `cols` values (cols a multiple of 32 for q8_0: 34-byte blocks). */
export function kvRowBytes(type: KvDType, cols: number): number {
  return type === DType.Q8_0 ? (cols / 32) * 34 : cols * (type === DType.F16 ? 2 : 4);
}

/** Throws ERR_UNSUPPORTED when this model on this backend cannot hold its KV cache as `kvType`. */
export function checkKvTypeSupport(kvType: KvType, headDim: number, backend: string): void {
  if (kvType !== 'q8_0') return;
  if (headDim % 32 !== 0)
    throw new UnsupportedError(
      `kvType 'q8_0' needs head_dim a multiple of 32 (q8_0 blocks of 32 values per head); this model's head_dim is ${headDim}: use kvType 'f16'`,
    );
  if (backend === 'metal' || backend === 'metal-sim')
    throw new UnsupportedError(
      `kvType 'q8_0' is not supported on the ${backend} backend (no Metal kernels for a q8_0 KV cache yet): use kvType 'f16', or backend 'cpu'`,
    );
}
