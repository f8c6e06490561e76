// arm64 kernels (Apple-silicon CPUs, Linux arm64). NEON is part of the arm64
// base ISA, so these need no run-time check; sdot is used where the compiler
// targets it (__ARM_FEATURE_DOTPROD).
#if defined(__aarch64__) || defined(_M_ARM64)
#include <arm_neon.h>

#include <cstring>

#include "../../kernels/quant_blocks.h"
#include "quants.h"
#include "vec_dot.h"

namespace mm {
namespace neon {

#define MM_FP16_TO_FP32(h) ::mm::fp16_lookup(h)
#include "vec_dot_generic.inc"
#undef MM_FP16_TO_FP32

namespace {

// Sum of the 16 products of signed bytes, as 4 int32 lanes.
inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
  return vdotq_s32(acc, a, b);
#else
  const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
  const int16x8_t hi = vmull_s8(vget_high_s8(a), vget_high_s8(b));
  return vaddq_s32(acc, vaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi)));
#endif
}

float dot_f32(int64_t n, const void* w, const void* a) {
  const float* x = static_cast<const float*>(w);
  const float* y = static_cast<const float*>(a);
  float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0), s2 = vdupq_n_f32(0), s3 = vdupq_n_f32(0);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = vfmaq_f32(s0, vld1q_f32(x + i), vld1q_f32(y + i));
    s1 = vfmaq_f32(s1, vld1q_f32(x + i + 4), vld1q_f32(y + i + 4));
    s2 = vfmaq_f32(s2, vld1q_f32(x + i + 8), vld1q_f32(y + i + 8));
    s3 = vfmaq_f32(s3, vld1q_f32(x + i + 12), vld1q_f32(y + i + 12));
  }
  for (; i + 4 <= n; i += 4) s0 = vfmaq_f32(s0, vld1q_f32(x + i), vld1q_f32(y + i));
  float t = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
  for (; i < n; i++) t += x[i] * y[i];
  return t;
}

float dot_f16(int64_t n, const void* w, const void* a) {
  const uint16_t* x = static_cast<const uint16_t*>(w);
  const float* y = static_cast<const float*>(a);
  float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(x + i));
    s0 = vfmaq_f32(s0, vcvt_f32_f16(vget_low_f16(h)), vld1q_f32(y + i));
    s1 = vfmaq_f32(s1, vcvt_f32_f16(vget_high_f16(h)), vld1q_f32(y + i + 4));
  }
  float t = vaddvq_f32(vaddq_f32(s0, s1));
  for (; i < n; i++) t += fp16_lookup(x[i]) * y[i];
  return t;
}

float dot_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const block_q8_0*>(w);
  const auto* y = static_cast<const block_q8_0*>(a);
  float32x4_t acc = vdupq_n_f32(0);
  for (int64_t i = 0; i < n / QK8_0; i++) {
    int32x4_t s = vdupq_n_s32(0);
    s = dot16(s, vld1q_s8(x[i].qs), vld1q_s8(y[i].qs));
    s = dot16(s, vld1q_s8(x[i].qs + 16), vld1q_s8(y[i].qs + 16));
    acc = vmlaq_n_f32(acc, vcvtq_f32_s32(s), fp16_lookup(x[i].d) * fp16_lookup(y[i].d));
  }
  return vaddvq_f32(acc);
}

float dot_q4_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const block_q4_0*>(w);
  const auto* y = static_cast<const block_q8_0*>(a);
  float32x4_t acc = vdupq_n_f32(0);
  const uint8x16_t m4 = vdupq_n_u8(0x0F);
  const int8x16_t eight = vdupq_n_s8(8);
  for (int64_t i = 0; i < n / QK4_0; i++) {
    const uint8x16_t q = vld1q_u8(x[i].qs);
    const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), eight);
    const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
    int32x4_t s = vdupq_n_s32(0);
    s = dot16(s, lo, vld1q_s8(y[i].qs));
    s = dot16(s, hi, vld1q_s8(y[i].qs + 16));
    acc = vmlaq_n_f32(acc, vcvtq_f32_s32(s), fp16_lookup(x[i].d) * fp16_lookup(y[i].d));
  }
  return vaddvq_f32(acc);
}

}  // namespace

const DotKernels& kernels() {
  static const DotKernels k = {dot_f32,
                               dot_f16,
                               generic::dot_bf16,
                               dot_q4_0,
                               generic::dot_q4_1,
                               generic::dot_q5_0,
                               generic::dot_q5_1,
                               dot_q8_0,
                               generic::dot_q4_K,
                               generic::dot_q5_K,
                               generic::dot_q6_K,
                               generic::dot_q2_K,
                               generic::dot_q3_K,
                               generic::dot_iq4_nl,
                               generic::dot_iq4_xs};
  return k;
}

}  // namespace neon
}  // namespace mm
#endif
