// Portable kernels: the reference every SIMD path is tested against.
#include "quants.h"
#include "vec_dot.h"

#include <cstring>

#include "../core/quant_blocks.h"

namespace mm {
namespace scalar {

#define MM_FP16_TO_FP32(h) ::mm::fp16_lookup(h)
#include "vec_dot_generic.inc"
#undef MM_FP16_TO_FP32

const DotKernels& kernels() {
  static const DotKernels k = {generic::dot_f32,  generic::dot_f16,  generic::dot_bf16, generic::dot_q4_0,
                               generic::dot_q4_1, generic::dot_q5_0, generic::dot_q5_1, generic::dot_q8_0,
                               generic::dot_q4_K, generic::dot_q5_K, generic::dot_q6_K};
  return k;
}

}  // namespace scalar
}  // namespace mm
