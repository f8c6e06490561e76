// AVX2/FMA/F16C attention kernels over a chunk of KV cache rows for the g query
// heads that share one KV head (decode and the row-by-row path, see vec_dot.h's
// VecOps): each cache row is loaded and widened once for all g heads instead of
// once per head, which was most of a deep decode step's time. Compiled in the
// cpu_avx2 library; called only after cpu_use_avx2().
#include <immintrin.h>

#include <algorithm>

#include "../../kernels/quant_blocks.h"
#include "attention_rows.h"
#include "prefetch.h"

namespace mm {
namespace avx2 {

namespace {

inline __m256 load_h8(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Scores of 4 rows (r[0..3], d halves each) for H heads (q + h * d): one
// accumulator per (head, row) over d in steps of 8, then a transposing
// reduction: lanes (0+1)+(2+3) and (4+5)+(6+7), then the two halves. A row's
// score is the same whichever rows share its block (the tail repeats a row).
// The row `pf` bytes past r (the next chunk's; pf == 0: none), into L2.
inline void prefetch_row(const uint8_t* r, ptrdiff_t pf, size_t bytes) {
  if (pf != 0) prefetch_l2(r + pf, bytes);
}

// Calls score(r, j, nr) for the rows of [0, n) 4 at a time (r: their pointers, from row j), each
// row's `rb` bytes `pf` further on prefetched first: whole blocks with stepped pointers (the
// general form's per-block min() and multiplies were ~20% of a chunk's scoring on a Zen 3), then
// the tail of nr < 4 rows, its last row repeated.
template <typename Score>
inline void row_blocks(int64_t n, const uint8_t* rows, size_t stride, size_t rb, ptrdiff_t pf, Score&& score) {
  int64_t j = 0;
  for (const uint8_t* r0 = rows; j + 4 <= n; j += 4, r0 += 4 * stride) {
    const uint8_t* r[4] = {r0, r0 + stride, r0 + 2 * stride, r0 + 3 * stride};
    for (int k = 0; k < 4; k++) prefetch_row(r[k], pf, rb);
    score(r, j, 4);
  }
  if (j < n) {
    const int nr = static_cast<int>(n - j);
    const uint8_t* r[4];
    for (int k = 0; k < 4; k++) r[k] = rows + stride * (j + std::min(k, nr - 1));
    for (int k = 0; k < nr; k++) prefetch_row(r[k], pf, rb);
    score(r, j, nr);
  }
}

template <int H>
inline void scores4(const uint8_t* const r[4], int d, const float* q, float* out, int64_t os, int nr) {
  __m256 acc[H][4];
#pragma GCC unroll 4
  for (int h = 0; h < H; h++)
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) acc[h][k] = _mm256_setzero_ps();
  for (int i = 0; i < d; i += 8)
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
      const __m256 key = load_h8(r[k] + 2 * i);
#pragma GCC unroll 4
      for (int h = 0; h < H; h++) acc[h][k] = _mm256_fmadd_ps(key, _mm256_loadu_ps(q + h * d + i), acc[h][k]);
    }
#pragma GCC unroll 4
  for (int h = 0; h < H; h++) {
    const __m256 h01 = _mm256_hadd_ps(acc[h][0], acc[h][1]), h23 = _mm256_hadd_ps(acc[h][2], acc[h][3]);
    const __m256 t = _mm256_hadd_ps(h01, h23);  // [r0 r1 r2 r3 | r0 r1 r2 r3] partial sums
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
    if (nr == 4) {
      _mm_storeu_ps(out + h * os, s);
    } else {
      alignas(16) float tmp[4];
      _mm_store_ps(tmp, s);
      std::copy(tmp, tmp + nr, out + h * os);
    }
  }
}

template <int H>
void scores_heads(int64_t n, const uint8_t* rows, size_t stride, int d, const float* q, float* out, int64_t os,
                  ptrdiff_t pf) {
  row_blocks(n, rows, stride, 2 * static_cast<size_t>(d), pf,
             [&](const uint8_t* const r[4], int64_t j, int nr) { scores4<H>(r, d, q, out + j, os, nr); });
}

// Scores of 4 q8_0 rows for H q8_0 queries (qq + h * qb): per block the
// integer dot as 8 int32 lanes (maddubs with the key's sign moved onto the
// query), times the two scales, summed in floats per lane; then the 4-row
// reduction. The integer block sums are exact, as llama.cpp's q8_0 dots.
template <int H>
inline void scores4_q8(const uint8_t* const r[4], int d, const uint8_t* qq, size_t qb, float* out, int64_t os, int nr) {
  __m256 acc[H][4];
#pragma GCC unroll 4
  for (int h = 0; h < H; h++)
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) acc[h][k] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  for (int b = 0; b < d / QK8_0; b++)
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
      const auto* kb = reinterpret_cast<const block_q8_0*>(r[k]) + b;
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kb->qs));
      const __m256i ax = _mm256_sign_epi8(x, x);
      const float dk = _cvtsh_ss(kb->d);
#pragma GCC unroll 4
      for (int h = 0; h < H; h++) {
        const auto* qbk = reinterpret_cast<const block_q8_0*>(qq + h * qb) + b;
        const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qbk->qs));
        const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(y, x)), ones);
        const __m256 sc = _mm256_set1_ps(dk * _cvtsh_ss(qbk->d));
        acc[h][k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), sc, acc[h][k]);
      }
    }
#pragma GCC unroll 4
  for (int h = 0; h < H; h++) {
    const __m256 h01 = _mm256_hadd_ps(acc[h][0], acc[h][1]), h23 = _mm256_hadd_ps(acc[h][2], acc[h][3]);
    const __m256 t = _mm256_hadd_ps(h01, h23);
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
    if (nr == 4) {
      _mm_storeu_ps(out + h * os, s);
    } else {
      alignas(16) float tmp[4];
      _mm_store_ps(tmp, s);
      std::copy(tmp, tmp + nr, out + h * os);
    }
  }
}

template <int H>
void scores_q8_heads(int64_t n, const uint8_t* rows, size_t stride, int d, const uint8_t* qq, size_t qb, float* out,
                     int64_t os, ptrdiff_t pf) {
  const size_t rb = static_cast<size_t>(d / QK8_0) * sizeof(block_q8_0);
  row_blocks(n, rows, stride, rb, pf,
             [&](const uint8_t* const r[4], int64_t j, int nr) { scores4_q8<H>(r, d, qq, qb, out + j, os, nr); });
}

// acc[h][c0, c0 + 8 * C) += sum_j s[h][j] * row j, H heads: 8 * C columns of every
// head's sums held in registers across the rows, each row's values widened once.
template <int H, int C, bool Q8>
void accum_block(int64_t n, const float* s, int64_t ss, const uint8_t* rows, size_t stride, int d, int c0, float* acc,
                 ptrdiff_t pf) {
  __m256 a[H][C];
#pragma GCC unroll 4
  for (int h = 0; h < H; h++)
#pragma GCC unroll 4
    for (int c = 0; c < C; c++) a[h][c] = _mm256_loadu_ps(acc + h * d + c0 + 8 * c);
  const uint8_t* r = rows;
  const size_t rb = Q8 ? static_cast<size_t>(d / QK8_0) * sizeof(block_q8_0) : 2 * static_cast<size_t>(d);
  for (int64_t j = 0; j < n; j++, r += stride) {
    prefetch_row(r, pf, rb);
    __m256 v[C];
    __m256 w[H];
    if constexpr (Q8) {  // the weight s * d_block, then the block's int8 values as floats
      const auto* b = reinterpret_cast<const block_q8_0*>(r) + c0 / QK8_0;
      const float db = _cvtsh_ss(b->d);
#pragma GCC unroll 4
      for (int h = 0; h < H; h++) w[h] = _mm256_set1_ps(s[h * ss + j] * db);
#pragma GCC unroll 4
      for (int c = 0; c < C; c++) {
        const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b->qs + c0 % QK8_0 + 8 * c));
        v[c] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
      }
    } else {
#pragma GCC unroll 4
      for (int h = 0; h < H; h++) w[h] = _mm256_broadcast_ss(s + h * ss + j);
#pragma GCC unroll 4
      for (int c = 0; c < C; c++) v[c] = load_h8(r + 2 * (c0 + 8 * c));
    }
#pragma GCC unroll 4
    for (int h = 0; h < H; h++)
#pragma GCC unroll 4
      for (int c = 0; c < C; c++) a[h][c] = _mm256_fmadd_ps(w[h], v[c], a[h][c]);
  }
#pragma GCC unroll 4
  for (int h = 0; h < H; h++)
#pragma GCC unroll 4
    for (int c = 0; c < C; c++) _mm256_storeu_ps(acc + h * d + c0 + 8 * c, a[h][c]);
}

// Heads in blocks of up to 4 (16 columns: 8 sums + 4 weights + 2 values in the
// 16 ymm registers), of up to 2 over the last 8 columns when d % 16 == 8.
template <bool Q8>
void accum_heads(int64_t n, const float* s, int64_t ss, const uint8_t* rows, size_t stride, int d, int g, float* acc,
                 ptrdiff_t pf) {
  for (int h0 = 0; h0 < g; h0 += 4) {
    const float* sh = s + h0 * ss;
    float* ah = acc + h0 * d;
    int c0 = 0;
    for (; c0 + 16 <= d; c0 += 16) {
      switch (std::min(4, g - h0)) {
        case 4: accum_block<4, 2, Q8>(n, sh, ss, rows, stride, d, c0, ah, c0 == 0 && h0 == 0 ? pf : 0); break;
        case 3: accum_block<3, 2, Q8>(n, sh, ss, rows, stride, d, c0, ah, c0 == 0 && h0 == 0 ? pf : 0); break;
        case 2: accum_block<2, 2, Q8>(n, sh, ss, rows, stride, d, c0, ah, c0 == 0 && h0 == 0 ? pf : 0); break;
        default: accum_block<1, 2, Q8>(n, sh, ss, rows, stride, d, c0, ah, c0 == 0 && h0 == 0 ? pf : 0); break;
      }
    }
    if (c0 < d) {  // 8 columns left (d % 16 == 8)
      switch (std::min(4, g - h0)) {
        case 4: accum_block<4, 1, Q8>(n, sh, ss, rows, stride, d, c0, ah, c0 == 0 && h0 == 0 ? pf : 0); break;
        case 3: accum_block<3, 1, Q8>(n, sh, ss, rows, stride, d, c0, ah, c0 == 0 && h0 == 0 ? pf : 0); break;
        case 2: accum_block<2, 1, Q8>(n, sh, ss, rows, stride, d, c0, ah, c0 == 0 && h0 == 0 ? pf : 0); break;
        default: accum_block<1, 1, Q8>(n, sh, ss, rows, stride, d, c0, ah, c0 == 0 && h0 == 0 ? pf : 0); break;
      }
    }
  }
}

}  // namespace

// Heads in blocks of up to 3 (12 accumulators over 4 rows).
void scores_f16(int64_t n, const uint8_t* rows, size_t stride, int d, const float* q, int g, float* out, int64_t os,
                ptrdiff_t pf) {
  for (int h0 = 0; h0 < g; h0 += 3) {
    const float* qh = q + static_cast<int64_t>(h0) * d;
    float* oh = out + h0 * os;
    switch (std::min(3, g - h0)) {
      case 3: scores_heads<3>(n, rows, stride, d, qh, oh, os, h0 == 0 ? pf : 0); break;
      case 2: scores_heads<2>(n, rows, stride, d, qh, oh, os, h0 == 0 ? pf : 0); break;
      default: scores_heads<1>(n, rows, stride, d, qh, oh, os, h0 == 0 ? pf : 0); break;
    }
  }
}

// Heads in blocks of up to 2 (8 accumulators and the block's registers).
void scores_q8_0(int64_t n, const uint8_t* rows, size_t stride, int d, const uint8_t* qq, size_t qb, int g, float* out,
                 int64_t os, ptrdiff_t pf) {
  for (int h0 = 0; h0 < g; h0 += 2) {
    const uint8_t* qh = qq + static_cast<size_t>(h0) * qb;
    float* oh = out + h0 * os;
    if (g - h0 >= 2)
      scores_q8_heads<2>(n, rows, stride, d, qh, qb, oh, os, h0 == 0 ? pf : 0);
    else
      scores_q8_heads<1>(n, rows, stride, d, qh, qb, oh, os, h0 == 0 ? pf : 0);
  }
}

void accum_f16(int64_t n, const float* s, int64_t ss, const uint8_t* rows, size_t stride, int d, int g, float* acc,
               ptrdiff_t pf) {
  accum_heads<false>(n, s, ss, rows, stride, d, g, acc, pf);
}

void accum_q8_0(int64_t n, const float* s, int64_t ss, const uint8_t* rows, size_t stride, int d, int g, float* acc,
                ptrdiff_t pf) {
  accum_heads<true>(n, s, ss, rows, stride, d, g, acc, pf);
}

}  // namespace avx2
}  // namespace mm
