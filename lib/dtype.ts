/**
 * Tensor type ids (ggml's, as stored in GGUF), in plain TS: format parsing
 * (gguf/, safetensors/, hf/) and graph building use them without the addon.
 */
/** ggml type ids, as stored in GGUF. */
export const DType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ4_NL: 20,
  IQ4_XS: 23,
  I32: 26,
  BF16: 30,
} as const;
export type DTypeName = keyof typeof DType;
export type DTypeId = (typeof DType)[DTypeName];
