// arm64 kernels (Apple-silicon CPUs, Linux arm64): f32, f16, q8_0, q4_0 and the
// low-bit types (q2_K, q3_K, iq4_nl, iq4_xs); the other types use
// vec_dot_generic.inc's. NEON is part of the arm64 base ISA, so these need no
// run-time check; sdot is used where the compiler targets it
// (__ARM_FEATURE_DOTPROD).
#if defined(__aarch64__) || defined(_M_ARM64)
#include <arm_neon.h>

#include <cstring>

#include "../../kernels/quant_blocks.h"
#include "../core/quants.h"
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

// ---- the low-bit types ------------------------------------------------------

// The 16 levels looked up for the low and high nibbles of 16 bytes.
inline void iq4_lookup(int8x16_t table, const uint8_t* qs, int8x16_t* lo, int8x16_t* hi) {
  const uint8x16_t q = vld1q_u8(qs);
  *lo = vqtbl1q_s8(table, vandq_u8(q, vdupq_n_u8(0x0F)));
  *hi = vqtbl1q_s8(table, vshrq_n_u8(q, 4));
}

float dot_iq4_nl(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const block_iq4_nl*>(w);
  const auto* y = static_cast<const block_q8_0*>(a);
  const int8x16_t table = vld1q_s8(kIq4nlValues);
  float32x4_t acc = vdupq_n_f32(0);
  for (int64_t i = 0; i < n / QK4_NL; i++) {
    int8x16_t lo, hi;
    iq4_lookup(table, x[i].qs, &lo, &hi);
    const int32x4_t s = dot16(dot16(vdupq_n_s32(0), lo, vld1q_s8(y[i].qs)), hi, vld1q_s8(y[i].qs + 16));
    acc = vmlaq_n_f32(acc, vcvtq_f32_s32(s), fp16_lookup(x[i].d) * fp16_lookup(y[i].d));
  }
  return vaddvq_f32(acc);
}

float dot_iq4_xs(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const block_iq4_xs*>(w);
  const auto* y = static_cast<const block_q8_K*>(a);
  const int8x16_t table = vld1q_s8(kIq4nlValues);
  float sum = 0;
  for (int64_t i = 0; i < n / QK_K; i++) {
    int32x4_t acc = vdupq_n_s32(0);
    for (int s = 0; s < QK_K / 32; s++) {
      int8x16_t lo, hi;
      iq4_lookup(table, x[i].qs + 16 * s, &lo, &hi);
      const int8_t* q8 = y[i].qs + 32 * s;
      const int32x4_t p = dot16(dot16(vdupq_n_s32(0), lo, vld1q_s8(q8)), hi, vld1q_s8(q8 + 16));
      acc = vmlaq_n_s32(acc, p, iq4_xs_scale(x[i], s));
    }
    sum += fp16_lookup(x[i].d) * y[i].d * static_cast<float>(vaddvq_s32(acc));
  }
  return sum;
}

// q2_K / q3_K: plane j of 16 packed bytes, (q >> 2j) & 3.
inline uint8x16_t plane2(uint8x16_t q, int j) {
  return vandq_u8(vshlq_u8(q, vdupq_n_s8(static_cast<int8_t>(-2 * j))), vdupq_n_u8(3));
}

float dot_q2_K(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const block_q2_K*>(w);
  const auto* y = static_cast<const block_q8_K*>(a);
  float sum = 0;
  for (int64_t i = 0; i < n / QK_K; i++) {
    // mins x sums of 16
    const uint8x16_t sc = vld1q_u8(x[i].scales);
    const int16x8_t m_lo = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(vshrq_n_u8(sc, 4))));
    const int16x8_t m_hi = vreinterpretq_s16_u16(vmovl_u8(vget_high_u8(vshrq_n_u8(sc, 4))));
    const int16x8_t b_lo = vld1q_s16(y[i].bsums), b_hi = vld1q_s16(y[i].bsums + 8);
    int32x4_t mins = vmull_s16(vget_low_s16(m_lo), vget_low_s16(b_lo));
    mins = vmlal_s16(mins, vget_high_s16(m_lo), vget_high_s16(b_lo));
    mins = vmlal_s16(mins, vget_low_s16(m_hi), vget_low_s16(b_hi));
    mins = vmlal_s16(mins, vget_high_s16(m_hi), vget_high_s16(b_hi));
    int32x4_t acc = vdupq_n_s32(0);
    for (int h = 0; h < 2; h++) {
      const uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * h), q1 = vld1q_u8(x[i].qs + 32 * h + 16);
      for (int j = 0; j < 4; j++) {
        const int s = 8 * h + 2 * j;  // sub-block of values 0-15 of plane j; 16-31: s + 1
        const int8_t* q8 = y[i].qs + 128 * h + 32 * j;
        const int32x4_t p0 = dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(plane2(q0, j)), vld1q_s8(q8));
        const int32x4_t p1 = dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(plane2(q1, j)), vld1q_s8(q8 + 16));
        acc = vmlaq_n_s32(vmlaq_n_s32(acc, p0, x[i].scales[s] & 0xF), p1, x[i].scales[s + 1] & 0xF);
      }
    }
    sum += y[i].d * (fp16_lookup(x[i].d) * static_cast<float>(vaddvq_s32(acc)) -
                     fp16_lookup(x[i].dmin) * static_cast<float>(vaddvq_s32(mins)));
  }
  return sum;
}

float dot_q3_K(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const block_q3_K*>(w);
  const auto* y = static_cast<const block_q8_K*>(a);
  float sum = 0;
  for (int64_t i = 0; i < n / QK_K; i++) {
    int sc[16];
    for (int s = 0; s < 16; s++) sc[s] = q3_K_scale(x[i].scales, s);
    const uint8x16_t hm0 = vld1q_u8(x[i].hmask), hm1 = vld1q_u8(x[i].hmask + 16);
    int32x4_t acc = vdupq_n_s32(0);
    for (int h = 0; h < 2; h++) {
      const uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * h), q1 = vld1q_u8(x[i].qs + 32 * h + 16);
      for (int j = 0; j < 4; j++) {
        const int t = 4 * h + j, s = 2 * t;
        // (q2 | bit t of hmask << 2) - 4
        const int8x16_t shift = vdupq_n_s8(static_cast<int8_t>(2 - t));
        const uint8x16_t h0 = vandq_u8(vshlq_u8(hm0, shift), vdupq_n_u8(4));
        const uint8x16_t h1 = vandq_u8(vshlq_u8(hm1, shift), vdupq_n_u8(4));
        const int8x16_t v0 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(plane2(q0, j), h0)), vdupq_n_s8(4));
        const int8x16_t v1 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(plane2(q1, j), h1)), vdupq_n_s8(4));
        const int8_t* q8 = y[i].qs + 128 * h + 32 * j;
        const int32x4_t p0 = dot16(vdupq_n_s32(0), v0, vld1q_s8(q8));
        const int32x4_t p1 = dot16(vdupq_n_s32(0), v1, vld1q_s8(q8 + 16));
        acc = vmlaq_n_s32(vmlaq_n_s32(acc, p0, sc[s]), p1, sc[s + 1]);
      }
    }
    sum += fp16_lookup(x[i].d) * y[i].d * static_cast<float>(vaddvq_s32(acc));
  }
  return sum;
}

}  // namespace

const DotKernels& kernels() {
  static const DotKernels k = {dot_f32,           dot_f16,           generic::dot_bf16, dot_q4_0,
                               generic::dot_q4_1, generic::dot_q5_0, generic::dot_q5_1, dot_q8_0,
                               generic::dot_q4_K, generic::dot_q5_K, generic::dot_q6_K, dot_q2_K,
                               dot_q3_K,          dot_iq4_nl,        dot_iq4_xs};
  return k;
}

}  // namespace neon
}  // namespace mm
#endif
