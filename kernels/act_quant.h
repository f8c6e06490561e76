// Activations rounded to the 8-bit grid the CPU backend multiplies quantized
// weights with (ggml's vec_dot_type: q8_0 blocks of 32 for q4_0 / q4_1 / q5_0 /
// q5_1 / q8_0 / iq4_nl weights, q8_K blocks of 256 for the K-quants and iq4_xs),
// kept as f32 values q * d: the kernels then multiply them as they multiply any
// f32 row, and a dot product over the rounded values is the CPU's integer dot
// up to f32 summation order. Used by quantize_act.metal (a row rounded once,
// read by every matmul of that input) and matmul_fused.metal (rounded after the
// norm / gated activation, as they load it). The rounding rules are the CPU's
// quantize_row_q8_0 / quantize_row_q8_K (native/core/quants.cc, vec_dot_avx2.cc):
//   q8_0: d = amax / 127, q = rint(x * (1 / d)), value q * half(d) (the block
//         keeps d as f16; q is computed with the f32 d)
//   q8_K: iscale = 127 / amax (the CPU's -127 / max, whose sign cancels in
//         q * d), q = rint(x * iscale), value q * (1 / iscale) (d kept as f32)
// rint rounds half to even, as the AVX2 quantizers (cvtps with nearest).
#ifndef MM_KERNELS_ACT_QUANT_H
#define MM_KERNELS_ACT_QUANT_H

#include "common.h"

// a / b correctly rounded under fast math (whose division is only within 2.5 ulp):
// one fma correction of the quotient, as a reciprocal-based division does.
inline float act_div(float a, float b) {
  const float q = a / b;
  return fma(fma(-q, b, a), 1.0f / b, q);
}

// The grid of a weight type's activations (dequant.h: each type's ACT).
struct ActNone {  // f32 / f16 / bf16 weights: no 8-bit grid (mm_act rounds f16 / bf16)
  enum { QB = 0 };
};
struct ActQ8_0 {
  enum { QB = 32 };
  // float2(1 / d, half(d)) of a block whose largest |x| is amax.
  static float2 scales(float amax) {
    const float d = act_div(amax, 127.0f);
    return float2(d != 0.0f ? act_div(1.0f, d) : 0.0f, float(half(d)));
  }
};
struct ActQ8_K {
  enum { QB = 256 };
  static float2 scales(float amax) {
    if (amax == 0.0f) return float2(0.0f, 0.0f);
    const float is = act_div(127.0f, amax);
    return float2(is, act_div(1.0f, is));
  }
};
// One activation on the grid of its block's scales.
inline float act_round(float x, float2 s) { return rint(x * s[0]) * s[1]; }

#endif  // MM_KERNELS_ACT_QUANT_H
