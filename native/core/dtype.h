// Tensor element types. The numeric values are ggml's (GGUF stores them), so a
// GGUF tensor's type field maps straight onto DType and its bytes are used in
// place, unconverted.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace mm {

enum class DType : int32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ4_NL = 20,
  IQ4_XS = 23,
  I32 = 26,
  BF16 = 30,
};

// The one table of tensor types (dtype.cc): ggml's names ("q4_K", "bf16"),
// which lib/native.ts DType and lib/gguf/types.ts spell upper-case
// (test/native-tables.test.ts compares them).
struct TypeTraits {
  const char* name;
  int64_t block_size;  // elements per block (1 for plain types)
  size_t type_size;    // bytes per block
  bool is_quantized;
};

// Null when `t` is not a type minimacllm knows.
const TypeTraits* type_traits(int32_t t);
inline const TypeTraits& traits(DType t) { return *type_traits(static_cast<int32_t>(t)); }
const char* type_name(int32_t t);  // "q4_K", or "unknown(17)"
// Every type id the table has, in increasing order.
const std::vector<int32_t>& known_types();

// Bytes of a row of `n` elements; `n` must be a multiple of the block size.
inline size_t row_bytes(DType t, int64_t n) {
  const TypeTraits& tt = traits(t);
  return static_cast<size_t>(n / tt.block_size) * tt.type_size;
}

// IEEE half and bfloat16 <-> float, exact and portable (no F16C needed).
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);  // round to nearest even
inline float bf16_to_fp32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t fp32_to_bf16(float f);  // round to nearest even, NaN kept quiet

}  // namespace mm
