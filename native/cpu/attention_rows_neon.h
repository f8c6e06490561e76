// arm64 attention rows (attention_rows_neon.cc): the q8_0 scores kernel and
// what it shares with the others, header-only in an anonymous namespace:
// attention_rows_neon.cc compiles it for plain Armv8 (integer dots by widening
// multiplies) and attention_rows_neon_dotprod.cc again with sdot, in the
// +dotprod library (see gemm_neon.h), chosen at run time.
#pragma once
#include <arm_neon.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "../../kernels/quant_blocks.h"
#include "prefetch.h"

namespace mm {
namespace neon {
namespace {

// The row `pf` bytes past r (the next chunk's; pf == 0: none), into L2.
inline void prefetch_row(const uint8_t* r, ptrdiff_t pf, size_t bytes) {
  if (pf != 0) prefetch_l2(r + pf, bytes);
}

inline float half_to_float(uint16_t h) { return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0); }

// out[h * os + k] = the 4 lanes of acc[h][k] summed, for k < nr: pairwise,
// (l0 + l1) + (l2 + l3), the same tree for every row whichever rows share the
// block (the tail repeats a row).
template <int H>
inline void store_scores4(const float32x4_t (&acc)[H][4], float* out, int64_t os, int nr) {
#pragma GCC unroll 4
  for (int h = 0; h < H; h++) {
    const float32x4_t s = vpaddq_f32(vpaddq_f32(acc[h][0], acc[h][1]), vpaddq_f32(acc[h][2], acc[h][3]));
    if (nr == 4) {
      vst1q_f32(out + h * os, s);
    } else {
      float tmp[4];
      vst1q_f32(tmp, s);
      std::copy(tmp, tmp + nr, out + h * os);
    }
  }
}

// The integer dot of one q8_0 block's 32 values with a query block's, as 4
// int32 lanes: sdot where the file is compiled with it, else widening
// multiplies (each 16-bit product widened again before any sum: -128 * -128
// twice would not fit 16 bits). The lanes differ between the two, their sum
// never does.
inline int32x4_t block_dot(int8x16_t x0, int8x16_t x1, int8x16_t y0, int8x16_t y1) {
#if defined(__ARM_FEATURE_DOTPROD)
  return vdotq_s32(vdotq_s32(vdupq_n_s32(0), x0, y0), x1, y1);
#else
  int32x4_t s = vpaddlq_s16(vmull_s8(vget_low_s8(x0), vget_low_s8(y0)));
  s = vpadalq_s16(s, vmull_high_s8(x0, y0));
  s = vpadalq_s16(s, vmull_s8(vget_low_s8(x1), vget_low_s8(y1)));
  return vpadalq_s16(s, vmull_high_s8(x1, y1));
#endif
}

// Scores of 4 q8_0 rows for H q8_0 queries (qq + h * qb): per block the integer
// dot as 4 int32 lanes, as floats times the two scales (their product rounded
// first), fused into the (head, row) accumulator; then store_scores4.
template <int H>
inline void scores4_q8(const uint8_t* const r[4], int d, const uint8_t* qq, size_t qb, float* out, int64_t os, int nr) {
  float32x4_t acc[H][4];
#pragma GCC unroll 4
  for (int h = 0; h < H; h++)
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) acc[h][k] = vdupq_n_f32(0);
  for (int b = 0; b < d / QK8_0; b++) {
    int8x16_t y0[H], y1[H];
    float dq[H];
#pragma GCC unroll 4
    for (int h = 0; h < H; h++) {
      const auto* qbk = reinterpret_cast<const block_q8_0*>(qq + h * qb) + b;
      dq[h] = half_to_float(qbk->d);
      y0[h] = vld1q_s8(qbk->qs);
      y1[h] = vld1q_s8(qbk->qs + 16);
    }
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
      const auto* kb = reinterpret_cast<const block_q8_0*>(r[k]) + b;
      const int8x16_t x0 = vld1q_s8(kb->qs), x1 = vld1q_s8(kb->qs + 16);
      const float dk = half_to_float(kb->d);
#pragma GCC unroll 4
      for (int h = 0; h < H; h++) {
        const float32x4_t p = vcvtq_f32_s32(block_dot(x0, x1, y0[h], y1[h]));
        acc[h][k] = vfmaq_f32(acc[h][k], p, vdupq_n_f32(dk * dq[h]));
      }
    }
  }
  store_scores4<H>(acc, out, os, nr);
}

template <int H>
void scores_q8_heads(int64_t n, const uint8_t* rows, size_t stride, int d, const uint8_t* qq, size_t qb, float* out,
                     int64_t os, ptrdiff_t pf) {
  const size_t rb = static_cast<size_t>(d / QK8_0) * sizeof(block_q8_0);
  for (int64_t j = 0; j < n; j += 4) {
    const int nr = static_cast<int>(std::min<int64_t>(4, n - j));
    const uint8_t* r[4];
    for (int k = 0; k < 4; k++) r[k] = rows + stride * (j + std::min(k, nr - 1));
    for (int k = 0; k < nr; k++) prefetch_row(r[k], pf, rb);
    scores4_q8<H>(r, d, qq, qb, out + j, os, nr);
  }
}

// Heads in blocks of up to 4 (16 accumulators, 8 query vectors, a row's two).
inline void scores_q8_0_rows(int64_t n, const uint8_t* rows, size_t stride, int d, const uint8_t* qq, size_t qb, int g,
                             float* out, int64_t os, ptrdiff_t pf) {
  for (int h0 = 0; h0 < g; h0 += 4) {
    const uint8_t* qh = qq + static_cast<size_t>(h0) * qb;
    float* oh = out + h0 * os;
    switch (std::min(4, g - h0)) {
      case 4: scores_q8_heads<4>(n, rows, stride, d, qh, qb, oh, os, h0 == 0 ? pf : 0); break;
      case 3: scores_q8_heads<3>(n, rows, stride, d, qh, qb, oh, os, h0 == 0 ? pf : 0); break;
      case 2: scores_q8_heads<2>(n, rows, stride, d, qh, qb, oh, os, h0 == 0 ? pf : 0); break;
      default: scores_q8_heads<1>(n, rows, stride, d, qh, qb, oh, os, h0 == 0 ? pf : 0); break;
    }
  }
}

}  // namespace
}  // namespace neon
}  // namespace mm
