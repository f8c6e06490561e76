// AVX-512 block attention over an f16 or q8_0 KV cache (see attention_block.h):
// the AVX2 kernel's algorithm (attention_avx2.cc: chunks of 64 keys, online
// softmax, the same vec_ops() softmax functions) with the 32 zmm registers'
// tiles: the key chunk widened 16 values at a time (one vcvtph2ps, or one
// q8_0 widening) and transposed 16 x 16 in registers, scores by blocks of up to
// 8 queries x 32 keys (16 sums, 2 key loads and 8 broadcasts per 16 FMAs,
// where AVX2's 4 x 16 takes 2 loads and 4 broadcasts per 8), value sums by
// blocks of up to 8 queries x 32 columns. Zen 4 runs a 512-bit FMA as two
// 256-bit halves, so the gain there is the fewer loads, broadcasts, widenings
// and loop steps per FMA. Scores have the AVX2 kernel's bits (the same FMA
// order over the head's values); the value sums too (one FMA per key, in key
// order). Compiled in the cpu_avx512 library; called only after cpu_use_avx512().
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's _mm512_undefined_ps (`__m512 __Y = __Y;`, behind _mm512_cvtph_ps and
// _mm512_shuffle_f32x4) trips these once inlined (GCC bug 105593, fixed in 13).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "../../kernels/quant_blocks.h"
#include "attention_block.h"
#include "attention_block_step.h"
#include "avx512_exp.h"
#include "count_blocks.h"
#include "prefetch.h"
#include "vec_dot.h"

namespace mm {
namespace avx512 {

namespace {

constexpr int C = kAttnKeyChunk;

// Values [c, c + 16) of one head's row (c % 16 == 0) as floats: f16, or q8_0
// blocks of 32 (int8 widened, times the block's f16 scale: AVX2's load8 bits).
template <bool Q8>
inline __m512 load16(const uint8_t* row, int c) {
  if constexpr (Q8) {
    const auto* b = reinterpret_cast<const block_q8_0*>(row) + c / QK8_0;
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b->qs + c % QK8_0));
    return _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(b->d)), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)));
  } else {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * c)));
  }
}

// Transposes 16 rows of 16 floats in registers: pairs of rows interleaved, then
// 4 x 4 blocks within each 128-bit lane, then the lanes (two f32x4 shuffles).
inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  // u[4g + k], lane L: column 4L + k of rows 4g .. 4g + 3.
  for (int g = 0; g < 16; g += 4) {
    u[g] = _mm512_shuffle_ps(t[g], t[g + 2], 0x44);
    u[g + 1] = _mm512_shuffle_ps(t[g], t[g + 2], 0xEE);
    u[g + 2] = _mm512_shuffle_ps(t[g + 1], t[g + 3], 0x44);
    u[g + 3] = _mm512_shuffle_ps(t[g + 1], t[g + 3], 0xEE);
  }
  for (int k = 0; k < 4; k++) {
    const __m512 a = _mm512_shuffle_f32x4(u[k], u[4 + k], 0x88);  // lanes 0, 2 of rows 0-3, of rows 4-7
    const __m512 b = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0x88);
    const __m512 c = _mm512_shuffle_f32x4(u[k], u[4 + k], 0xDD);  // lanes 1, 3
    const __m512 e = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0xDD);
    r[k] = _mm512_shuffle_f32x4(a, b, 0x88);
    r[8 + k] = _mm512_shuffle_f32x4(a, b, 0xDD);
    r[4 + k] = _mm512_shuffle_f32x4(c, e, 0x88);
    r[12 + k] = _mm512_shuffle_f32x4(c, e, 0xDD);
  }
}

inline float max_of(const float* x, int n) {
  int j = 0;
  float m = -INFINITY;
  if (n >= 16) {
    __m512 v = _mm512_loadu_ps(x);
    for (j = 16; j + 16 <= n; j += 16) v = _mm512_max_ps(v, _mm512_loadu_ps(x + j));
    m = _mm512_reduce_max_ps(v);
  }
  for (; j < n; j++) m = std::max(m, x[j]);
  return m;
}

// S[q][j..j+32) = scale * (q . key) for Q queries from q0, keys from the
// transposed chunk kt [d][C]: each pair of key vector loads serves Q queries.
template <int Q>
void scores(int d, const float* const* q, int q0, const float* kt, int j, float scale, float* S) {
  __m512 acc[Q][2];
  for (int i = 0; i < Q; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  const float* qi[Q];
  for (int i = 0; i < Q; i++) qi[i] = q[q0 + i];
  for (int c = 0; c < d; c++) {
    const __m512 k0 = _mm512_loadu_ps(kt + C * c + j), k1 = _mm512_loadu_ps(kt + C * c + j + 16);
    for (int i = 0; i < Q; i++) {
      const __m512 qb = _mm512_set1_ps(qi[i][c]);
      acc[i][0] = _mm512_fmadd_ps(qb, k0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(qb, k1, acc[i][1]);
    }
  }
  const __m512 s = _mm512_set1_ps(scale);
  for (int i = 0; i < Q; i++) {
    _mm512_storeu_ps(S + C * (q0 + i) + j, _mm512_mul_ps(acc[i][0], s));
    _mm512_storeu_ps(S + C * (q0 + i) + j + 16, _mm512_mul_ps(acc[i][1], s));
  }
}

// acc[q][c0 .. c0 + 16 W) += sum_j P[q][j] * value row j, for Q queries from q0
// and W vectors of 16 columns (2, or 1 for a head_dim % 32 tail): each value
// vector load (and f16 or q8_0 widening) serves Q queries.
template <int Q, int W, bool Q8>
void weighted_sum(int cnt, const float* P, int q0, const uint8_t* v, size_t vs, int c0, float* acc, int d) {
  __m512 a[Q][W];
  for (int i = 0; i < Q; i++)
    for (int w = 0; w < W; w++) a[i][w] = _mm512_loadu_ps(acc + d * (q0 + i) + c0 + 16 * w);
  const float* p = P + C * q0;
  const uint8_t* r = v;
  for (int j = 0; j < cnt; j++, r += vs) {
    __m512 x[W];
    for (int w = 0; w < W; w++) x[w] = load16<Q8>(r, c0 + 16 * w);
    for (int i = 0; i < Q; i++) {
      const __m512 pb = _mm512_set1_ps(p[C * i + j]);
      for (int w = 0; w < W; w++) a[i][w] = _mm512_fmadd_ps(pb, x[w], a[i][w]);
    }
  }
  for (int i = 0; i < Q; i++)
    for (int w = 0; w < W; w++) _mm512_storeu_ps(acc + d * (q0 + i) + c0 + 16 * w, a[i][w]);
}

template <bool Q8>
void attend(const AttnBlock& b) {
  const int nq = b.nq, d = b.d;
  float* kt = b.scratch;     // [d, C] keys of the chunk, transposed to f32
  float* S = kt + d * C;     // [nq, C] scores, then softmax weights
  float* acc = S + nq * C;   // [nq, d] weighted value sums
  float* mx = acc + nq * d;  // [nq] running maximum score
  float* den = mx + nq;      // [nq] running softmax denominator
  std::fill(acc, acc + nq * d, 0.0f);
  std::fill(mx, mx + nq, -INFINITY);
  std::fill(den, den + nq, 0.0f);
  const VecOps& vo = avx512::vec_ops();  // (softcap, scale: AVX2's, as vec_ops() gives)
  const int64_t n_max = *std::max_element(b.n_kv, b.n_kv + nq);
  const int64_t n_min = *std::min_element(b.kv_begin, b.kv_begin + nq);

  const auto row_of = [&](int64_t j) { return b.ring > 0 ? j % b.ring : j; };

  const size_t head_bytes = Q8 ? static_cast<size_t>(d / QK8_0) * sizeof(block_q8_0) : 2 * static_cast<size_t>(d);
  for (int64_t j0 = n_min; j0 < n_max; j0 += C) {
    const int cnt = static_cast<int>(std::min<int64_t>(C, n_max - j0));
    const int cnt32 = (cnt + 31) & ~31;
    // The next chunk's key and value rows into L2 meanwhile (as the AVX2 kernel).
    for (int64_t j = j0 + C, end = std::min<int64_t>(n_max, j0 + 2 * C); j < end; j++) {
      prefetch_l2(b.k + b.k_stride * row_of(j), head_bytes);
      prefetch_l2(b.v + b.v_stride * row_of(j), head_bytes);
    }
    // kt[c][j] = key j0 + j, value c: 16 x 16 tiles transposed in registers (zero past cnt).
    for (int j = 0; j < cnt32; j += 16) {
      const uint8_t* rows[16];
      for (int e = 0; e < 16; e++) rows[e] = j + e < cnt ? b.k + b.k_stride * row_of(j0 + j + e) : nullptr;
      for (int c = 0; c < d; c += 16) {
        __m512 r[16];
        for (int e = 0; e < 16; e++) r[e] = rows[e] ? load16<Q8>(rows[e], c) : _mm512_setzero_ps();
        transpose16(r);
        for (int e = 0; e < 16; e++) _mm512_storeu_ps(kt + C * (c + e) + j, r[e]);
      }
    }

    for (int j = 0; j < cnt32; j += 32)
      for_blocks<8>(
          nq, [&](auto q, int64_t q0) { scores<decltype(q)::value>(d, b.q, static_cast<int>(q0), kt, j, b.scale, S); });

    chunk_softmax(b, j0, cnt, C, S, acc, mx, den, vo, max_of,
                  [&](int n, float* x, float m) { return exp_sub_sum(n, x, m); });

    // Values of the chunk's keys in order (two runs where a ring wraps: the same sums).
    for_ring_runs(j0, cnt, b.ring, [&](int64_t off, int64_t len, int64_t row) {
      const uint8_t* v = b.v + b.v_stride * row;
      int c0 = 0;
      for (; c0 + 32 <= d; c0 += 32)
        for_blocks<8>(nq, [&](auto q, int64_t q0) {
          weighted_sum<decltype(q)::value, 2, Q8>(static_cast<int>(len), S + off, static_cast<int>(q0), v, b.v_stride,
                                                  c0, acc, d);
        });
      if (c0 < d)  // head_dim % 32 == 16
        for_blocks<8>(nq, [&](auto q, int64_t q0) {
          weighted_sum<decltype(q)::value, 1, Q8>(static_cast<int>(len), S + off, static_cast<int>(q0), v, b.v_stride,
                                                  c0, acc, d);
        });
    });
  }
  for (int i = 0; i < nq; i++) {
    const float inv = 1.0f / den[i];
    for (int c = 0; c < d; c++) b.out[i][c] = acc[d * i + c] * inv;
  }
}

}  // namespace

void attend_block(const AttnBlock& b) { b.q8 ? attend<true>(b) : attend<false>(b); }

}  // namespace avx512
}  // namespace mm
