// Row-by-row dot products between a weight row (any block type, read in place)
// and one activation row already converted to the matching activation format:
//   f32/f16/bf16 weights   x f32 activations
//   q4_0, q5_0, q8_0       x q8_0 activations (integer dot products)
//   q4_1, q5_1             x q8_1 activations
//   q4_K, q5_K, q6_K       x q8_K activations
// This mirrors llama.cpp, whose matmuls also quantize activations, so both
// engines round the same way.
#pragma once
#include <cstdint>

#include "../core/dtype.h"

namespace mm {

using VecDotFn = float (*)(int64_t n, const void* w, const void* a);

struct DotKernels {
  VecDotFn f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q4_K, q5_K, q6_K;
};

namespace scalar {
const DotKernels& kernels();
}
#if defined(MM_HAVE_AVX2_KERNELS)
namespace avx2 {
const DotKernels& kernels();
// AVX2 activation quantizers (same rounding as the reference ones).
void quantize_row_q8_0(const float* x, void* y, int64_t n);
}  // namespace avx2
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
namespace neon {
const DotKernels& kernels();
}
#endif

struct MatmulKernel {
  DType act_type;  // format activations are converted to
  VecDotFn dot;
};

// The kernel for a weight type on this CPU (AVX2 / NEON / scalar, chosen at
// run time); throws ERR_UNSUPPORTED for types that cannot be matmul weights.
MatmulKernel matmul_kernel(DType weight_type);
// Converts one activation row to `act_type` (a quantize_row for quantized types).
void convert_activations(DType act_type, const float* x, void* dst, int64_t n);

}  // namespace mm
