// Reference (scalar) conversions between f32 and every block type, following
// ggml's reference quantizers so our blocks are interchangeable with llama.cpp's.
#pragma once
#include <cstdint>

#include "dtype.h"

namespace mm {

// Expands n elements (a multiple of the block size) of type t to f32.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);
// Whether quantize_row can produce type t.
bool can_quantize(DType t);
// Quantizes n floats (a multiple of the block size) into type t.
void quantize_row(DType t, const float* src, void* dst, int64_t n);

// Fast scalar half -> float through a 64K-entry table.
float fp16_lookup(uint16_t h);

}  // namespace mm
