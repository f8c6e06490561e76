// The weight types every kernel test covers (type, scalar dot kernel, activation
// type) and random valid weight rows for them: shared by simd_kernels_test.cc and
// panel_kernels_test.cc (standalone binaries built by test/native-simd.test.ts).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "../../kernels/quant_blocks.h"
#include "../core/dtype.h"
#include "../core/quants.h"
#include "../cpu/vec_dot.h"

namespace mm {
namespace kernel_test {

struct Case {
  const char* name;
  DType type;
  VecDotFn DotKernels::*fn;
  DType act;
};

inline const Case kCases[] = {
    {"f32", DType::F32, &DotKernels::f32, DType::F32},
    {"f16", DType::F16, &DotKernels::f16, DType::F32},
    {"bf16", DType::BF16, &DotKernels::bf16, DType::F32},
    {"q4_0", DType::Q4_0, &DotKernels::q4_0, DType::Q8_0},
    {"q4_1", DType::Q4_1, &DotKernels::q4_1, DType::Q8_1},
    {"q5_0", DType::Q5_0, &DotKernels::q5_0, DType::Q8_0},
    {"q5_1", DType::Q5_1, &DotKernels::q5_1, DType::Q8_1},
    {"q8_0", DType::Q8_0, &DotKernels::q8_0, DType::Q8_0},
    {"q4_K", DType::Q4_K, &DotKernels::q4_K, DType::Q8_K},
    {"q5_K", DType::Q5_K, &DotKernels::q5_K, DType::Q8_K},
    {"q6_K", DType::Q6_K, &DotKernels::q6_K, DType::Q8_K},
    {"q2_K", DType::Q2_K, &DotKernels::q2_K, DType::Q8_K},
    {"q3_K", DType::Q3_K, &DotKernels::q3_K, DType::Q8_K},
    {"iq4_nl", DType::IQ4_NL, &DotKernels::iq4_nl, DType::Q8_0},
    {"iq4_xs", DType::IQ4_XS, &DotKernels::iq4_xs, DType::Q8_K},
};

// Random valid weights: quantized from floats where a quantizer exists, else random
// bytes with small positive block scales.
inline std::vector<uint8_t> random_weights(DType t, int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<uint8_t> out(row_bytes(t, n));
  if (can_quantize(t)) {
    std::vector<float> f(n);
    for (auto& v : f) v = u(rng);
    quantize_row(t, f.data(), out.data(), n);
    return out;
  }
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  const size_t bs = traits(t).type_size;
  for (size_t o = 0; o < out.size(); o += bs) {
    const uint16_t d = fp32_to_fp16(0.002f + 0.01f * std::fabs(u(rng)));
    switch (t) {
      case DType::Q6_K: std::memcpy(&out[o + offsetof(block_q6_K, d)], &d, 2); break;
      case DType::Q3_K: std::memcpy(&out[o + offsetof(block_q3_K, d)], &d, 2); break;
      case DType::Q2_K:
        std::memcpy(&out[o + offsetof(block_q2_K, d)], &d, 2);
        std::memcpy(&out[o + offsetof(block_q2_K, dmin)], &d, 2);
        break;
      case DType::IQ4_NL:
      case DType::IQ4_XS: std::memcpy(&out[o], &d, 2); break;  // (IQ4_XS: random 6-bit sub-block scales)
      default:                                                 // d, dmin first
        std::memcpy(&out[o], &d, 2);
        std::memcpy(&out[o + 2], &d, 2);
    }
  }
  return out;
}

}  // namespace kernel_test
}  // namespace mm
