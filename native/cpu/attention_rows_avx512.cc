// AVX-512 attention kernels over a chunk of f16 or q8_0 KV cache rows for the g
// query heads that share one KV head (VecOps::scores_f16 / accum_f16 /
// scores_q8_0 / accum_q8_0, see vec_dot.h).
// Zen 4 runs a 512-bit op as two 256-bit halves, so what these gain over the
// AVX2 ones is fewer instructions: 32 registers hold every head's sums of a
// block of rows (accumulation: a 64-wide head's rows in one pass for 4 heads,
// where AVX2 passes four times), one vcvtph2ps widens 16 halves, scores are
// reduced 16 at a time, and q8_0 scores take one vpdpbusd per block for two
// rows. Their gain was measured in attention graphs, KV in L2/L3. (The f16
// accumulation runs at ~85% of the 512-bit FMA peak in L1; the scores, reduced
// per item, at ~50% with scores_group, ~35% without.) Compiled in the
// cpu_avx512 library; used only after cpu_use_avx512(). f16 accumulation over
// heads of d % 16 != 0 is AVX2's.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's _mm512_undefined_ps (`__m512 __Y = __Y;`, behind _mm512_cvtph_ps and
// _mm512_shuffle_f32x4) trips these once inlined (GCC bug 105593, fixed in 13).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <type_traits>

#include "../../kernels/quant_blocks.h"
#include "attention_rows.h"
#include "avx512_exp.h"
#include "prefetch.h"
#include "vec_dot.h"

namespace mm {
namespace avx512 {

namespace {

inline __m512 load_h16(const uint8_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

inline void prefetch_row(const uint8_t* r, ptrdiff_t pf, size_t bytes) {
  if (pf != 0) prefetch_l2(r + pf, bytes);
}

// Reduction of 16 lanes per item, two items per step: 128-bit lanes (0+2, 1+3),
// then (0+1), then within a lane elements (0+1, 2+3), then the two pairs. Every
// item is summed by the same tree whatever its place (a + b == b + a), so an
// item's bits do not depend on which items share its reduction.
inline __m512 fold_lanes(__m512 x, __m512 y) {  // [x: L0+L2, L1+L3 | y: L0+L2, L1+L3]
  return _mm512_add_ps(_mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(1, 0, 1, 0)),
                       _mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(3, 2, 3, 2)));
}
inline __m512 fold_pairs(__m512 x, __m512 y) {  // 128-bit lanes (0+1, 2+3) of x, then of y
  return _mm512_add_ps(_mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(3, 1, 3, 1)));
}
inline __m512 fold_elems(__m512 x, __m512 y) {  // in each 128-bit lane: x0+x1, x2+x3, y0+y1, y2+y3
  return _mm512_add_ps(_mm512_shuffle_ps(x, y, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_ps(x, y, _MM_SHUFFLE(3, 1, 3, 1)));
}
// After the four steps lane 4k + e holds item 4e + k; this puts item i in lane i.
inline __m512i item_order() { return _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15); }

// Lane i = the sum of a[i]'s 16 lanes, i < 16.
inline __m512 reduce16(const __m512* a) {
  const __m512 u0 = fold_pairs(fold_lanes(a[0], a[1]), fold_lanes(a[2], a[3]));
  const __m512 u1 = fold_pairs(fold_lanes(a[4], a[5]), fold_lanes(a[6], a[7]));
  const __m512 u2 = fold_pairs(fold_lanes(a[8], a[9]), fold_lanes(a[10], a[11]));
  const __m512 u3 = fold_pairs(fold_lanes(a[12], a[13]), fold_lanes(a[14], a[15]));
  return _mm512_permutexvar_ps(item_order(), fold_elems(fold_elems(u0, u1), fold_elems(u2, u3)));
}
// Lane i = the sum of a[i]'s 16 lanes, i < 8 (the same tree; lanes 8-15 repeat them).
inline __m512 reduce8(const __m512* a) {
  const __m512 u0 = fold_pairs(fold_lanes(a[0], a[1]), fold_lanes(a[2], a[3]));
  const __m512 u1 = fold_pairs(fold_lanes(a[4], a[5]), fold_lanes(a[6], a[7]));
  const __m512 w = fold_elems(u0, u1);
  return _mm512_permutexvar_ps(item_order(), fold_elems(w, w));
}

// Lane i = the sum of item i's 8 lanes, items two to a vector (b[i]: items 2i in
// the low 256 bits, 2i + 1 in the high), i < 16: reduce16's tree without its first step.
inline __m512 reduce16_paired(const __m512* b) {
  const __m512 u0 = fold_pairs(b[0], b[1]), u1 = fold_pairs(b[2], b[3]);
  const __m512 u2 = fold_pairs(b[4], b[5]), u3 = fold_pairs(b[6], b[7]);
  return _mm512_permutexvar_ps(item_order(), fold_elems(fold_elems(u0, u1), fold_elems(u2, u3)));
}
inline __m512 reduce8_paired(const __m512* b) {  // i < 8 (lanes 8-15 repeat them)
  const __m512 w = fold_elems(fold_pairs(b[0], b[1]), fold_pairs(b[2], b[3]));
  return _mm512_permutexvar_ps(item_order(), fold_elems(w, w));
}

// Stores lanes [l0, l0 + nr) of v at p (nr <= R, R = 4 or 8; l0 a multiple of R).
template <int R>
inline void store_lanes(float* p, __m512 v, int l0, int nr) {
  const __mmask8 m = static_cast<__mmask8>((1u << nr) - 1);
  if constexpr (R == 8) {
    // (Immediates spelled out: an unoptimized build, e.g. the sanitizer one, does not fold l0 / 8.)
    const __m512d vd = _mm512_castps_pd(v);
    const __m256 x = _mm256_castpd_ps(l0 < 8 ? _mm512_extractf64x4_pd(vd, 0) : _mm512_extractf64x4_pd(vd, 1));
    _mm256_mask_storeu_ps(p, m, x);
  } else {
    __m128 x;
    switch (l0 / 4) {
      case 0: x = _mm512_extractf32x4_ps(v, 0); break;
      case 1: x = _mm512_extractf32x4_ps(v, 1); break;
      case 2: x = _mm512_extractf32x4_ps(v, 2); break;
      default: x = _mm512_extractf32x4_ps(v, 3); break;
    }
    _mm_mask_storeu_ps(p, m, x);
  }
}

// The H * R (head, row) items' sums of acc into out[h * os + row], rows < nr:
// reductions of 16 items, then one of 8 if H * R % 16 == 8. Paired: two items
// to a vector (8 lanes each, acc[H * R / 2]); else one (16 lanes, acc[H * R]).
template <int H, int R, bool Paired>
inline void store_items(const __m512* acc, float* out, int64_t os, int nr) {
  static_assert(H * R % 8 == 0, "items reduce 8 or 16 at a time");
  constexpr int kFull = H * R / 16, kStep = Paired ? 8 : 16;  // vectors per 16 items
#pragma GCC unroll 2
  for (int b = 0; b < kFull; b++) {
    const __m512 s = Paired ? reduce16_paired(acc + kStep * b) : reduce16(acc + kStep * b);
#pragma GCC unroll 4
    for (int l = 0; l < 16; l += R) store_lanes<R>(out + ((16 * b + l) / R) * os, s, l, nr);
  }
  if constexpr (H * R % 16 != 0) {
    const __m512 s = Paired ? reduce8_paired(acc + kStep * kFull) : reduce8(acc + kStep * kFull);
#pragma GCC unroll 2
    for (int l = 0; l < 8; l += R) store_lanes<R>(out + ((16 * kFull + l) / R) * os, s, l, nr);
  }
}

// Scores of R rows (r[0..R), d halves each, d % 16 == 0) for H heads (q + h * d):
// one 16-lane sum per (head, row) over d, the block's queries loaded once per 16
// columns for all R rows, then the (head, row) items reduced 16 at a time. The
// tail block repeats its last row, so a row's score has the same bits wherever
// it sits and whichever heads share its block.
template <int H, int R>
inline void scores_block(const uint8_t* const r[R], int d, const float* q, float* out, int64_t os, int nr) {
  static_assert(H * R % 8 == 0, "items reduce 8 or 16 at a time");
  __m512 acc[H * R];
#pragma GCC unroll 32
  for (int i = 0; i < H * R; i++) acc[i] = _mm512_setzero_ps();
  for (int c = 0; c < d; c += 16) {
    __m512 qv[H];
#pragma GCC unroll 4
    for (int h = 0; h < H; h++) qv[h] = _mm512_loadu_ps(q + h * d + c);
#pragma GCC unroll 8
    for (int k = 0; k < R; k++) {
      const __m512 key = load_h16(r[k] + 2 * c);
#pragma GCC unroll 4
      for (int h = 0; h < H; h++) acc[h * R + k] = _mm512_fmadd_ps(key, qv[h], acc[h * R + k]);
    }
  }
  store_items<H, R, false>(acc, out, os, nr);
}

// scores_block for short heads (d % 8 == 0): two rows to a vector, 8 columns of
// each (one vcvtph2ps of both rows' halves) against the query's 8 columns twice,
// so an item is 8 lanes to reduce instead of 16.
template <int H, int R>
inline void scores_block_paired(const uint8_t* const r[R], int d, const float* q, float* out, int64_t os, int nr) {
  static_assert(R % 2 == 0 && H * R % 8 == 0, "row pairs; items reduce 8 or 16 at a time");
  constexpr int P = R / 2;
  __m512 acc[H * P];
#pragma GCC unroll 32
  for (int i = 0; i < H * P; i++) acc[i] = _mm512_setzero_ps();
  for (int c = 0; c < d; c += 8) {
    __m512 qv[H];
#pragma GCC unroll 4
    for (int h = 0; h < H; h++)
      qv[h] = _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_loadu_pd(reinterpret_cast<const double*>(q + h * d + c))));
#pragma GCC unroll 8
    for (int k = 0; k < P; k++) {
      const __m256i halves = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(r[2 * k + 1] + 2 * c),
                                                 reinterpret_cast<const __m128i*>(r[2 * k] + 2 * c));
      const __m512 key = _mm512_cvtph_ps(halves);
#pragma GCC unroll 4
      for (int h = 0; h < H; h++) acc[h * P + k] = _mm512_fmadd_ps(key, qv[h], acc[h * P + k]);
    }
  }
  store_items<H, R, true>(acc, out, os, nr);
}

// The rows [0, n) in blocks of R: block(r, j, nr) with r[0..R) the block's rows
// (the tail repeats its last row), each of its nr rows' bytes pf further on
// prefetched first (the next chunk's, see prefetch_row).
template <int R, class Block>
inline void row_blocks(int64_t n, const uint8_t* rows, size_t stride, size_t row_bytes, ptrdiff_t pf, Block&& block) {
  for (int64_t j = 0; j < n; j += R) {
    const int nr = static_cast<int>(std::min<int64_t>(R, n - j));
    const uint8_t* r[R];
    for (int k = 0; k < R; k++) r[k] = rows + stride * (j + std::min(k, nr - 1));
    for (int k = 0; k < nr; k++) prefetch_row(r[k], pf, row_bytes);
    block(r, j, nr);
  }
}

template <int H, int R>
void scores_heads_paired(int64_t n, const uint8_t* rows, size_t stride, int d, const float* q, float* out, int64_t os,
                         ptrdiff_t pf) {
  row_blocks<R>(n, rows, stride, 2 * static_cast<size_t>(d), pf, [&](const uint8_t* const* r, int64_t j, int nr) {
    scores_block_paired<H, R>(r, d, q, out + j, os, nr);
  });
}

template <int H, int R>
void scores_heads(int64_t n, const uint8_t* rows, size_t stride, int d, const float* q, float* out, int64_t os,
                  ptrdiff_t pf) {
  row_blocks<R>(n, rows, stride, 2 * static_cast<size_t>(d), pf,
                [&](const uint8_t* const* r, int64_t j, int nr) { scores_block<H, R>(r, d, q, out + j, os, nr); });
}

// scores_heads<H, R> for a whole group of H heads of d = 16 * C (H * C <= 16): the
// same items summed the same way (scores_block's bits), but the queries are
// loaded into registers once for all the rows instead of once per block of R
// rows and 16 columns. At SmolLM2's and Llama-3.2-1B's shapes (d = 64, 3 and
// 4 heads) a chunk's scores took 1.4x fewer cycles (99 against 143 per 8
// rows, 3 heads; 114 against 154, 4 heads), and 1.5x at d = 128 with 2 heads
// (129 against 188), keys in L1/L2, one thread, Zen 5.
template <int H, int C, int R>
void scores_group(int64_t n, const uint8_t* rows, size_t stride, const float* q, float* out, int64_t os, ptrdiff_t pf) {
  static_assert(H * C <= 16 && H * R <= 16 && (R == 4 || R == 8), "queries and items in registers");
  constexpr int kItems = H * R <= 8 ? 8 : 16;  // reduced 8 or 16 at a time (12: 4 zero items)
  constexpr int d = 16 * C;
  __m512 qv[H][C];
#pragma GCC unroll 4
  for (int h = 0; h < H; h++)
#pragma GCC unroll 16
    for (int c = 0; c < C; c++) qv[h][c] = _mm512_loadu_ps(q + h * d + 16 * c);
  // (A plain loop, rows outer: as row_blocks' lambda the queries were reloaded for every block.)
  for (int64_t j = 0; j < n; j += R) {
    const int nr = static_cast<int>(std::min<int64_t>(R, n - j));
    __m512 acc[kItems];
#pragma GCC unroll 16
    for (int i = 0; i < kItems; i++) acc[i] = _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int k = 0; k < R; k++) {
      const uint8_t* r = rows + stride * (j + std::min(k, nr - 1));  // (the tail repeats its last row)
      if (k < nr) prefetch_row(r, pf, 2 * static_cast<size_t>(d));
#pragma GCC unroll 16
      for (int c = 0; c < C; c++) {
        const __m512 key = load_h16(r + 32 * c);
#pragma GCC unroll 4
        for (int h = 0; h < H; h++) acc[h * R + k] = _mm512_fmadd_ps(key, qv[h][c], acc[h * R + k]);
      }
    }
    const __m512 s = kItems == 8 ? reduce8(acc) : reduce16(acc);
#pragma GCC unroll 4
    for (int h = 0; h < H; h++) store_lanes<R>(out + h * os + j, s, h * R, nr);
  }
}

// Block b of a q8_0 query (its 32 values in both 256-bit halves), the correction
// -128 * its 4-value sums that turns the unsigned keys' dot into the signed one,
// and its scale.
inline void q8_query_block(const uint8_t* q, int b, __m512i bias, __m512i& qv, __m512i& ncorr, __m512& dq) {
  const auto* qblk = reinterpret_cast<const block_q8_0*>(q) + b;
  qv = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qblk->qs)));
  ncorr = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, qv));
  dq = _mm512_set1_ps(_cvtsh_ss(qblk->d));
}

// Block b of two q8_0 key rows side by side (values + 128) and their scales.
inline void q8_key_pair(const uint8_t* r0, const uint8_t* r1, int b, __m512i bias, __m512i& kx, __m512& dk) {
  const auto* b0 = reinterpret_cast<const block_q8_0*>(r0) + b;
  const auto* b1 = reinterpret_cast<const block_q8_0*>(r1) + b;
  kx = _mm512_xor_si512(
      _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b0->qs))),
                         _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b1->qs)), 1),
      bias);
  dk = _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(_cvtsh_ss(b0->d)), _mm512_set1_ps(_cvtsh_ss(b1->d)));
}

// Scores of R q8_0 rows for H q8_0 queries (qq + h * qb), rows in pairs as
// scores_block_paired: per 32-value block one vpdpbusd of both rows' values
// (as unsigned: + 128) against the query's, started from -128 * the query's
// 4-value sums, gives each int32 lane's exact integer dot (the AVX2 kernel's
// lanes), then times dk * dq in floats per lane; the items reduced as above.
template <int H, int R>
inline void scores_block_q8(const uint8_t* const r[R], int d, const uint8_t* qq, size_t qb, float* out, int64_t os,
                            int nr) {
  static_assert(R % 2 == 0 && H * R % 8 == 0, "row pairs; items reduce 8 or 16 at a time");
  constexpr int P = R / 2;
  __m512 acc[H * P];
#pragma GCC unroll 32
  for (int i = 0; i < H * P; i++) acc[i] = _mm512_setzero_ps();
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int b = 0; b < d / QK8_0; b++) {
    __m512i qv[H], ncorr[H];
    __m512 dq[H];
#pragma GCC unroll 4
    for (int h = 0; h < H; h++) q8_query_block(qq + h * qb, b, bias, qv[h], ncorr[h], dq[h]);
#pragma GCC unroll 4
    for (int k = 0; k < P; k++) {
      __m512i kx;
      __m512 dk;
      q8_key_pair(r[2 * k], r[2 * k + 1], b, bias, kx, dk);
#pragma GCC unroll 4
      for (int h = 0; h < H; h++) {
        const __m512i p = _mm512_dpbusd_epi32(ncorr[h], kx, qv[h]);
        acc[h * P + k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(dk, dq[h]), acc[h * P + k]);
      }
    }
  }
  store_items<H, R, true>(acc, out, os, nr);
}

template <int H, int R>
void scores_q8_heads(int64_t n, const uint8_t* rows, size_t stride, int d, const uint8_t* qq, size_t qb, float* out,
                     int64_t os, ptrdiff_t pf) {
  const size_t rb = static_cast<size_t>(d / QK8_0) * sizeof(block_q8_0);
  row_blocks<R>(n, rows, stride, rb, pf, [&](const uint8_t* const* r, int64_t j, int nr) {
    scores_block_q8<H, R>(r, d, qq, qb, out + j, os, nr);
  });
}

// scores_q8_heads<H, R> for H heads of d = 32 * NB with every query's blocks,
// corrections and scales in registers (3 * H * NB <= 24 vectors), set up once
// for all the rows instead of once per block of R rows: the same items, summed
// the same way (the same bits whichever heads share a block). Keys in L1/L2,
// one thread, Zen 5, cycles per 8 rows: d = 64 with 3 heads 111 -> 69, 4 heads
// 166 -> 87, d = 128 with 2 heads 146 -> 96.
template <int H, int NB, int R>
void scores_group_q8(int64_t n, const uint8_t* rows, size_t stride, const uint8_t* qq, size_t qb, float* out,
                     int64_t os, ptrdiff_t pf) {
  constexpr int P = R / 2;
  static_assert(3 * H * NB <= 24 && H * R <= 16 && (R == 4 || R == 8), "queries and items in registers");
  constexpr int kVecs = H * P <= 4 ? 4 : 8;  // pair vectors reduced 8 or 16 items at a time (12: 2 zero vectors)
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512i qv[H][NB], ncorr[H][NB];
  __m512 dq[H][NB];
  // (No unroll pragmas on these two loops: with them GCC 12 took twice the cycles per row block.)
  for (int h = 0; h < H; h++)
    for (int b = 0; b < NB; b++) q8_query_block(qq + h * qb, b, bias, qv[h][b], ncorr[h][b], dq[h][b]);
  const size_t rb = static_cast<size_t>(NB) * sizeof(block_q8_0);
  for (int64_t j = 0; j < n; j += R) {
    const int nr = static_cast<int>(std::min<int64_t>(R, n - j));
    const uint8_t* r[R];
    for (int k = 0; k < R; k++) r[k] = rows + stride * (j + std::min(k, nr - 1));
    for (int k = 0; k < nr; k++) prefetch_row(r[k], pf, rb);
    __m512 acc[kVecs];
#pragma GCC unroll 8
    for (int i = 0; i < kVecs; i++) acc[i] = _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int b = 0; b < NB; b++)
#pragma GCC unroll 4
      for (int k = 0; k < P; k++) {
        __m512i kx;
        __m512 dk;
        q8_key_pair(r[2 * k], r[2 * k + 1], b, bias, kx, dk);
#pragma GCC unroll 4
        for (int h = 0; h < H; h++) {
          const __m512i p = _mm512_dpbusd_epi32(ncorr[h][b], kx, qv[h][b]);
          acc[h * P + k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(dk, dq[h][b]), acc[h * P + k]);
        }
      }
    const __m512 s = kVecs == 4 ? reduce8_paired(acc) : reduce16_paired(acc);
#pragma GCC unroll 4
    for (int h = 0; h < H; h++) store_lanes<R>(out + h * os + j, s, h * R, nr);
  }
}

// acc[h][c0, c0 + 16 * C) += sum_j s[h][j] * row j for H heads: every head's
// sums of those columns in registers across the rows, each row widened once.
// q8_0 rows (c0 % 32 == 0, C even): the weight s * d_block rounded, then times
// the block's int8 values as floats (as the AVX2 and scalar kernels).
template <int H, int C, bool Q8>
void accum_block(int64_t n, const float* s, int64_t ss, const uint8_t* rows, size_t stride, int d, int c0, float* acc,
                 ptrdiff_t pf) {
  __m512 a[H][C];
#pragma GCC unroll 4
  for (int h = 0; h < H; h++)
#pragma GCC unroll 4
    for (int c = 0; c < C; c++) a[h][c] = _mm512_loadu_ps(acc + h * d + c0 + 16 * c);
  const uint8_t* r = rows;
  const size_t rb = Q8 ? static_cast<size_t>(d / QK8_0) * sizeof(block_q8_0) : 2 * static_cast<size_t>(d);
  for (int64_t j = 0; j < n; j++, r += stride) {
    prefetch_row(r, pf, rb);
    __m512 v[C];
    if constexpr (Q8) {
      static_assert(C % 2 == 0, "whole q8_0 blocks");
      const auto* blk = reinterpret_cast<const block_q8_0*>(r) + c0 / QK8_0;
      float db[C / 2];
#pragma GCC unroll 4
      for (int c = 0; c < C; c++)
        v[c] = _mm512_cvtepi32_ps(
            _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[c / 2].qs + 16 * (c % 2)))));
#pragma GCC unroll 2
      for (int b = 0; b < C / 2; b++) db[b] = _cvtsh_ss(blk[b].d);
#pragma GCC unroll 4
      for (int h = 0; h < H; h++)
#pragma GCC unroll 2
        for (int b = 0; b < C / 2; b++) {
          const __m512 w = _mm512_set1_ps(s[h * ss + j] * db[b]);
          a[h][2 * b] = _mm512_fmadd_ps(w, v[2 * b], a[h][2 * b]);
          a[h][2 * b + 1] = _mm512_fmadd_ps(w, v[2 * b + 1], a[h][2 * b + 1]);
        }
    } else {
#pragma GCC unroll 4
      for (int c = 0; c < C; c++) v[c] = load_h16(r + 2 * (c0 + 16 * c));
#pragma GCC unroll 4
      for (int h = 0; h < H; h++) {
        const __m512 w = _mm512_set1_ps(s[h * ss + j]);
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) a[h][c] = _mm512_fmadd_ps(w, v[c], a[h][c]);
      }
    }
  }
#pragma GCC unroll 4
  for (int h = 0; h < H; h++)
#pragma GCC unroll 4
    for (int c = 0; c < C; c++) _mm512_storeu_ps(acc + h * d + c0 + 16 * c, a[h][c]);
}

template <int C, bool Q8>
void accum_cols(int64_t n, const float* s, int64_t ss, const uint8_t* rows, size_t stride, int d, int H, int c0,
                float* acc, ptrdiff_t pf) {
  switch (H) {
    case 4: accum_block<4, C, Q8>(n, s, ss, rows, stride, d, c0, acc, pf); break;
    case 3: accum_block<3, C, Q8>(n, s, ss, rows, stride, d, c0, acc, pf); break;
    case 2: accum_block<2, C, Q8>(n, s, ss, rows, stride, d, c0, acc, pf); break;
    default: accum_block<1, C, Q8>(n, s, ss, rows, stride, d, c0, acc, pf); break;
  }
}

// Heads in blocks of up to 4 x columns in blocks of 64 (16 sums, 4 values, a
// weight): a 64-wide head's rows in one pass for up to 4 heads. d % 16 == 0
// (q8_0: d % 32 == 0, so the blocks are 64 or 32 columns).
template <bool Q8>
void accum_heads(int64_t n, const float* s, int64_t ss, const uint8_t* rows, size_t stride, int d, int g, float* acc,
                 ptrdiff_t pf) {
  for (int h0 = 0; h0 < g; h0 += 4) {
    const int H = std::min(4, g - h0);
    const float* sh = s + h0 * ss;
    float* ah = acc + static_cast<int64_t>(h0) * d;
    for (int c0 = 0; c0 < d;) {
      const ptrdiff_t p = c0 == 0 && h0 == 0 ? pf : 0;
      switch (std::min(4, (d - c0) / 16)) {
        case 4:
          accum_cols<4, Q8>(n, sh, ss, rows, stride, d, H, c0, ah, p);
          c0 += 64;
          break;
        case 3:
          if constexpr (!Q8) {
            accum_cols<3, Q8>(n, sh, ss, rows, stride, d, H, c0, ah, p);
            c0 += 48;
            break;
          }
          [[fallthrough]];
        case 2:
          accum_cols<2, Q8>(n, sh, ss, rows, stride, d, H, c0, ah, p);
          c0 += 32;
          break;
        default:
          if constexpr (!Q8) accum_cols<1, Q8>(n, sh, ss, rows, stride, d, H, c0, ah, p);
          c0 += 16;
          break;
      }
    }
  }
}

// Head sizes from which the 16-lane items (scores_block) beat the paired ones:
// measured in one process, alternating (attention graphs, one thread, KV in L2/L3):
// d = 256 (gemma-3 1B) paired 2.7% slower; d = 128 paired 2-3% faster, d = 64 even.
// d = 64 takes them too, through scores_group (below).
constexpr int kDirectMinD = 256;

template <int N>
using Int = std::integral_constant<int, N>;
// The g heads in blocks of 4 heads over 4 rows while 4 are left, then one
// block of the last 1-3 over 8 rows: run(H, R, h0) for each (H, R constants).
template <class Run>
void head_blocks(int g, Run&& run) {
  int h0 = 0;
  for (; g - h0 >= 4; h0 += 4) run(Int<4>{}, Int<4>{}, h0);
  switch (g - h0) {
    case 3: run(Int<3>{}, Int<8>{}, h0); break;
    case 2: run(Int<2>{}, Int<8>{}, h0); break;
    case 1: run(Int<1>{}, Int<8>{}, h0); break;
    default: break;
  }
}
}  // namespace

// Paired rows (d < kDirectMinD or d % 16 != 0, but d = 64): heads in blocks of
// up to 4 over 8 rows (16 sums, 4 queries' 8 columns twice, a row pair). 16-lane
// items: d = 64 in blocks of up to 4 heads with their queries in registers
// (scores_group), and so a lone head of 256; else heads in blocks of up to 3
// over 8 rows (24 sums, 3 queries' 16 columns, a key), or of 4 over 4.
// (d = 128 stays paired: scores_group<2, 8, 4> is 1.5x faster for 1-2 heads,
// but blocks of 2 for 3-8 heads widen the keys again per block, 15% slower
// than pairs of rows; and a head's bits must not depend on its group's size.)
void scores_f16(int64_t n, const uint8_t* rows, size_t stride, int d, const float* q, int g, float* out, int64_t os,
                ptrdiff_t pf) {
  // Heads in blocks of up to 4 (the first block prefetches the next chunk's rows).
  const auto by_4 = [&](auto block) {
    for (int h0 = 0; h0 < g; h0 += 4)
      block(std::min(4, g - h0), q + static_cast<int64_t>(h0) * d, out + h0 * os, h0 == 0 ? pf : 0);
  };
  if (d == 64) {
    return by_4([&](int h, const float* qh, float* oh, ptrdiff_t p) {
      switch (h) {
        case 4: return scores_group<4, 4, 4>(n, rows, stride, qh, oh, os, p);
        case 3: return scores_group<3, 4, 4>(n, rows, stride, qh, oh, os, p);
        case 2: return scores_group<2, 4, 8>(n, rows, stride, qh, oh, os, p);
        default: return scores_group<1, 4, 8>(n, rows, stride, qh, oh, os, p);
      }
    });
  }
  if (d % 16 != 0 || d < kDirectMinD) {
    return by_4([&](int h, const float* qh, float* oh, ptrdiff_t p) {
      switch (h) {
        case 4: return scores_heads_paired<4, 8>(n, rows, stride, d, qh, oh, os, p);
        case 3: return scores_heads_paired<3, 8>(n, rows, stride, d, qh, oh, os, p);
        case 2: return scores_heads_paired<2, 8>(n, rows, stride, d, qh, oh, os, p);
        default: return scores_heads_paired<1, 8>(n, rows, stride, d, qh, oh, os, p);
      }
    });
  }
  if (d == 256 && g == 1) return scores_group<1, 16, 8>(n, rows, stride, q, out, os, pf);
  head_blocks(g, [&](auto H, auto R, int h0) {
    scores_heads<decltype(H)::value, decltype(R)::value>(n, rows, stride, d, q + static_cast<int64_t>(h0) * d,
                                                         out + h0 * os, os, h0 == 0 ? pf : 0);
  });
}

void accum_f16(int64_t n, const float* s, int64_t ss, const uint8_t* rows, size_t stride, int d, int g, float* acc,
               ptrdiff_t pf) {
  if (d % 16 != 0) return avx2::accum_f16(n, s, ss, rows, stride, d, g, acc, pf);
  accum_heads<false>(n, s, ss, rows, stride, d, g, acc, pf);
}

void accum_q8_0(int64_t n, const float* s, int64_t ss, const uint8_t* rows, size_t stride, int d, int g, float* acc,
                ptrdiff_t pf) {
  accum_heads<true>(n, s, ss, rows, stride, d, g, acc, pf);
}

// Heads in blocks of up to 3 over 8 rows (12 sums; 3 queries' block, correction
// and scale), or of 4 over 4 rows.
void scores_q8_0(int64_t n, const uint8_t* rows, size_t stride, int d, const uint8_t* qq, size_t qb, int g, float* out,
                 int64_t os, ptrdiff_t pf) {
  // Heads in blocks with their queries in registers (scores_group_q8): up to 4 of 64, 2 of 128, a lone
  // head of 256 (blocks of one 256-wide head each read the keys again: 4 heads 447 -> 659 cycles).
  const int most = d == 64 ? 4 : d == 128 ? 2 : d == 256 && g == 1 ? 1 : 0;
  if (most > 0) {
    for (int h0 = 0; h0 < g; h0 += most) {
      const uint8_t* qh = qq + static_cast<size_t>(h0) * qb;
      float* oh = out + h0 * os;
      const ptrdiff_t p = h0 == 0 ? pf : 0;
      switch (d / 32 * 8 + std::min(most, g - h0)) {
        case 2 * 8 + 1: scores_group_q8<1, 2, 8>(n, rows, stride, qh, qb, oh, os, p); break;
        case 2 * 8 + 2: scores_group_q8<2, 2, 8>(n, rows, stride, qh, qb, oh, os, p); break;
        case 2 * 8 + 3: scores_group_q8<3, 2, 4>(n, rows, stride, qh, qb, oh, os, p); break;
        case 2 * 8 + 4: scores_group_q8<4, 2, 4>(n, rows, stride, qh, qb, oh, os, p); break;
        case 4 * 8 + 1: scores_group_q8<1, 4, 8>(n, rows, stride, qh, qb, oh, os, p); break;
        case 4 * 8 + 2: scores_group_q8<2, 4, 4>(n, rows, stride, qh, qb, oh, os, p); break;
        default: scores_group_q8<1, 8, 8>(n, rows, stride, qh, qb, oh, os, p); break;
      }
    }
    return;
  }
  head_blocks(g, [&](auto H, auto R, int h0) {
    scores_q8_heads<decltype(H)::value, decltype(R)::value>(n, rows, stride, d, qq + static_cast<size_t>(h0) * qb, qb,
                                                            out + h0 * os, os, h0 == 0 ? pf : 0);
  });
}

const VecOps& vec_ops() {
  static const VecOps v = [] {
    VecOps o = avx2::vec_ops();
    o.scores_q8_0 = scores_q8_0;
    o.accum_q8_0 = accum_q8_0;
    o.scores_f16 = scores_f16;
    o.accum_f16 = accum_f16;
    // The AVX2 passes' bits, 16 lanes at a time (avx512_exp.h).
    o.scale_max = [](int64_t n, float a, float* y) { return avx512::scale_max(n, a, y); };
    o.exp_sub_sum = [](int64_t n, float* x, float mx) { return avx512::exp_sub_sum(n, x, mx); };
    add_sampler_ops(o);
    return o;
  }();
  return v;
}

}  // namespace avx512
}  // namespace mm
