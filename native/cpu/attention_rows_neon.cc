// arm64 NEON attention kernels over a chunk of KV cache rows for the g query
// heads that share one KV head (decode and the row-by-row path, see vec_dot.h's
// VecOps), as the AVX2 ones (attention_rows_avx2.cc): each cache row is loaded
// and widened once for all g heads. f16 rows are widened to f32 (vcvt: exact)
// and summed in f32, as the scalar reference; q8_0 scores are integer block
// dots (attention_rows_neon.h; sdot in attention_rows_neon_dotprod.cc). Plain
// Armv8: NEON is part of the arm64 base ISA.
#if defined(__aarch64__) || defined(_M_ARM64)
#include "attention_rows.h"
#include "attention_rows_neon.h"

namespace mm {
namespace neon {

namespace {

// Scores of 4 f16 rows (r[0..3], d halves each) for H heads (q + h * d): one
// accumulator per (head, row) over d in steps of 8 (the two widened halves
// fused into it in turn), then store_scores4's reduction.
template <int H>
inline void scores4(const uint8_t* const r[4], int d, const float* q, float* out, int64_t os, int nr) {
  float32x4_t acc[H][4];
#pragma GCC unroll 4
  for (int h = 0; h < H; h++)
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) acc[h][k] = vdupq_n_f32(0);
  for (int i = 0; i < d; i += 8) {
    float32x4_t ql[H], qh[H];
#pragma GCC unroll 4
    for (int h = 0; h < H; h++) {
      ql[h] = vld1q_f32(q + h * d + i);
      qh[h] = vld1q_f32(q + h * d + i + 4);
    }
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
      const float16x8_t x = vreinterpretq_f16_u16(vld1q_u16(reinterpret_cast<const uint16_t*>(r[k] + 2 * i)));
      const float32x4_t lo = vcvt_f32_f16(vget_low_f16(x)), hi = vcvt_high_f32_f16(x);
#pragma GCC unroll 4
      for (int h = 0; h < H; h++) acc[h][k] = vfmaq_f32(vfmaq_f32(acc[h][k], lo, ql[h]), hi, qh[h]);
    }
  }
  store_scores4<H>(acc, out, os, nr);
}

template <int H>
void scores_heads(int64_t n, const uint8_t* rows, size_t stride, int d, const float* q, float* out, int64_t os,
                  ptrdiff_t pf) {
  for (int64_t j = 0; j < n; j += 4) {
    const int nr = static_cast<int>(std::min<int64_t>(4, n - j));
    const uint8_t* r[4];
    for (int k = 0; k < 4; k++) r[k] = rows + stride * (j + std::min(k, nr - 1));
    for (int k = 0; k < nr; k++) prefetch_row(r[k], pf, 2 * static_cast<size_t>(d));
    scores4<H>(r, d, q, out + j, os, nr);
  }
}

// acc[h][c0, c0 + 4 * C) += sum_j s[h][j] * row j, H heads: 4 * C columns of every
// head's sums held in registers across the rows, each row's values widened once.
template <int H, int C, bool Q8>
void accum_block(int64_t n, const float* s, int64_t ss, const uint8_t* rows, size_t stride, int d, int c0, float* acc,
                 ptrdiff_t pf) {
  float32x4_t a[H][C];
#pragma GCC unroll 4
  for (int h = 0; h < H; h++)
#pragma GCC unroll 4
    for (int c = 0; c < C; c++) a[h][c] = vld1q_f32(acc + h * d + c0 + 4 * c);
  const uint8_t* r = rows;
  const size_t rb = Q8 ? static_cast<size_t>(d / QK8_0) * sizeof(block_q8_0) : 2 * static_cast<size_t>(d);
  for (int64_t j = 0; j < n; j++, r += stride) {
    prefetch_row(r, pf, rb);
    float32x4_t v[C];
    float w[H];
    if constexpr (Q8) {  // the weight s * d_block, then the block's int8 values as floats
      const auto* b = reinterpret_cast<const block_q8_0*>(r) + c0 / QK8_0;
      const float db = half_to_float(b->d);
#pragma GCC unroll 4
      for (int h = 0; h < H; h++) w[h] = s[h * ss + j] * db;
      static_assert(!Q8 || C % 4 == 0, "q8_0 columns go 16 at a time");
#pragma GCC unroll 4
      for (int c = 0; c < C; c += 4) {
        const int8x16_t q = vld1q_s8(b->qs + c0 % QK8_0 + 4 * c);
        const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q);
        v[c] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)));
        v[c + 1] = vcvtq_f32_s32(vmovl_high_s16(lo));
        v[c + 2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)));
        v[c + 3] = vcvtq_f32_s32(vmovl_high_s16(hi));
      }
    } else {
#pragma GCC unroll 4
      for (int h = 0; h < H; h++) w[h] = s[h * ss + j];
#pragma GCC unroll 4
      for (int c = 0; c < C; c += 2) {
        const float16x8_t x = vreinterpretq_f16_u16(vld1q_u16(reinterpret_cast<const uint16_t*>(r + 2 * (c0 + 4 * c))));
        v[c] = vcvt_f32_f16(vget_low_f16(x));
        v[c + 1] = vcvt_high_f32_f16(x);
      }
    }
#pragma GCC unroll 4
    for (int h = 0; h < H; h++)
#pragma GCC unroll 4
      for (int c = 0; c < C; c++) a[h][c] = vfmaq_n_f32(a[h][c], v[c], w[h]);
  }
#pragma GCC unroll 4
  for (int h = 0; h < H; h++)
#pragma GCC unroll 4
    for (int c = 0; c < C; c++) vst1q_f32(acc + h * d + c0 + 4 * c, a[h][c]);
}

// Heads in blocks of up to 4 over 16 columns (16 sums + 4 values in the 32
// vector registers), over the last 8 columns when d % 16 == 8 (f16 only: q8_0
// heads are whole blocks of 32).
template <bool Q8>
void accum_heads(int64_t n, const float* s, int64_t ss, const uint8_t* rows, size_t stride, int d, int g, float* acc,
                 ptrdiff_t pf) {
  for (int h0 = 0; h0 < g; h0 += 4) {
    const float* sh = s + h0 * ss;
    float* ah = acc + h0 * d;
    int c0 = 0;
    for (; c0 + 16 <= d; c0 += 16) {
      const ptrdiff_t p = c0 == 0 && h0 == 0 ? pf : 0;
      switch (std::min(4, g - h0)) {
        case 4: accum_block<4, 4, Q8>(n, sh, ss, rows, stride, d, c0, ah, p); break;
        case 3: accum_block<3, 4, Q8>(n, sh, ss, rows, stride, d, c0, ah, p); break;
        case 2: accum_block<2, 4, Q8>(n, sh, ss, rows, stride, d, c0, ah, p); break;
        default: accum_block<1, 4, Q8>(n, sh, ss, rows, stride, d, c0, ah, p); break;
      }
    }
    if constexpr (!Q8) {
      if (c0 < d) {  // 8 columns left (d % 16 == 8)
        const ptrdiff_t p = c0 == 0 && h0 == 0 ? pf : 0;
        switch (std::min(4, g - h0)) {
          case 4: accum_block<4, 2, false>(n, sh, ss, rows, stride, d, c0, ah, p); break;
          case 3: accum_block<3, 2, false>(n, sh, ss, rows, stride, d, c0, ah, p); break;
          case 2: accum_block<2, 2, false>(n, sh, ss, rows, stride, d, c0, ah, p); break;
          default: accum_block<1, 2, false>(n, sh, ss, rows, stride, d, c0, ah, p); break;
        }
      }
    }
  }
}

}  // namespace

// Heads in blocks of up to 4 (16 accumulators, 8 query vectors, a row's two halves).
void scores_f16(int64_t n, const uint8_t* rows, size_t stride, int d, const float* q, int g, float* out, int64_t os,
                ptrdiff_t pf) {
  for (int h0 = 0; h0 < g; h0 += 4) {
    const float* qh = q + static_cast<int64_t>(h0) * d;
    float* oh = out + h0 * os;
    switch (std::min(4, g - h0)) {
      case 4: scores_heads<4>(n, rows, stride, d, qh, oh, os, h0 == 0 ? pf : 0); break;
      case 3: scores_heads<3>(n, rows, stride, d, qh, oh, os, h0 == 0 ? pf : 0); break;
      case 2: scores_heads<2>(n, rows, stride, d, qh, oh, os, h0 == 0 ? pf : 0); break;
      default: scores_heads<1>(n, rows, stride, d, qh, oh, os, h0 == 0 ? pf : 0); break;
    }
  }
}

// Widening multiplies here, or sdot where this file itself is built with it
// (the test's +dotprod build); the addon's sdot copy is neon_dotprod's.
void scores_q8_0(int64_t n, const uint8_t* rows, size_t stride, int d, const uint8_t* qq, size_t qb, int g, float* out,
                 int64_t os, ptrdiff_t pf) {
  scores_q8_0_rows(n, rows, stride, d, qq, qb, g, out, os, pf);
}

void accum_f16(int64_t n, const float* s, int64_t ss, const uint8_t* rows, size_t stride, int d, int g, float* acc,
               ptrdiff_t pf) {
  accum_heads<false>(n, s, ss, rows, stride, d, g, acc, pf);
}

void accum_q8_0(int64_t n, const float* s, int64_t ss, const uint8_t* rows, size_t stride, int d, int g, float* acc,
                ptrdiff_t pf) {
  accum_heads<true>(n, s, ss, rows, stride, d, g, acc, pf);
}

}  // namespace neon
}  // namespace mm
#endif
