// AVX2 block attention over an f16 or q8_0 KV cache (see attention_block.h).
// Compiled in the cpu_avx2 library; called only after cpu_use_avx2(). A q8_0
// cache is dequantized as it is loaded (8 values: int8 widened, times the
// block's f16 scale), so the rest is the f16 path's.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../../kernels/quant_blocks.h"
#include "attention_block.h"
#include "attention_block_step.h"
#include "count_blocks.h"
#include "prefetch.h"
#include "vec_dot.h"

namespace mm {
namespace avx2 {

namespace {

constexpr int C = kAttnKeyChunk;

inline __m256 load_h8(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Values [c, c + 8) of one head's row (c % 8 == 0) as floats: f16, or q8_0 blocks of 32.
template <bool Q8>
inline __m256 load8(const uint8_t* row, int c) {
  if constexpr (Q8) {
    const auto* b = reinterpret_cast<const block_q8_0*>(row) + c / QK8_0;
    const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b->qs + c % QK8_0));
    return _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(b->d)), _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)));
  } else {
    return load_h8(row + 2 * c);
  }
}

// Transposes 8 rows of 8 floats in registers.
inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20), r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20), r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31), r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31), r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

inline float max_of(const float* x, int n) {
  int j = 0;
  float m = -INFINITY;
  if (n >= 8) {
    __m256 v = _mm256_loadu_ps(x);
    for (j = 8; j + 8 <= n; j += 8) v = _mm256_max_ps(v, _mm256_loadu_ps(x + j));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    m = _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
  }
  for (; j < n; j++) m = std::max(m, x[j]);
  return m;
}

// S[q][j..j+16) = scale * (q . key) for Q queries from q0, keys from the
// transposed chunk kt [d][C]: each key vector load serves Q queries.
template <int Q>
void scores(int d, const float* const* q, int q0, const float* kt, int j, float scale, float* S) {
  __m256 acc[Q][2];
  for (int i = 0; i < Q; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int c = 0; c < d; c++) {
    const __m256 k0 = _mm256_loadu_ps(kt + C * c + j), k1 = _mm256_loadu_ps(kt + C * c + j + 8);
    for (int i = 0; i < Q; i++) {
      const __m256 qb = _mm256_set1_ps(q[q0 + i][c]);
      acc[i][0] = _mm256_fmadd_ps(qb, k0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(qb, k1, acc[i][1]);
    }
  }
  const __m256 s = _mm256_set1_ps(scale);
  for (int i = 0; i < Q; i++) {
    _mm256_storeu_ps(S + C * (q0 + i) + j, _mm256_mul_ps(acc[i][0], s));
    _mm256_storeu_ps(S + C * (q0 + i) + j + 8, _mm256_mul_ps(acc[i][1], s));
  }
}

// acc[q][c0..c0+16) += sum_j P[q][j] * value row j, for Q queries from q0:
// each value vector load (and f16 or q8_0 widening) serves Q queries, up to 6
// (12 sums + 2 values + a broadcast of the 16 registers; blocks of 6 instead of
// 4 measured +5 to +20% on prefill attention at depth 3840-7680, head_dim 64 to 256).
template <int Q, bool Q8>
void weighted_sum(int cnt, const float* P, int q0, const uint8_t* v, size_t vs, int c0, float* acc, int d) {
  __m256 a[Q][2];
  for (int i = 0; i < Q; i++) {
    a[i][0] = _mm256_loadu_ps(acc + d * (q0 + i) + c0);
    a[i][1] = _mm256_loadu_ps(acc + d * (q0 + i) + c0 + 8);
  }
  const uint8_t* r = v;
  for (int j = 0; j < cnt; j++, r += vs) {
    const __m256 v0 = load8<Q8>(r, c0), v1 = load8<Q8>(r, c0 + 8);
    for (int i = 0; i < Q; i++) {
      const __m256 p = _mm256_set1_ps(P[C * (q0 + i) + j]);
      a[i][0] = _mm256_fmadd_ps(p, v0, a[i][0]);
      a[i][1] = _mm256_fmadd_ps(p, v1, a[i][1]);
    }
  }
  for (int i = 0; i < Q; i++) {
    _mm256_storeu_ps(acc + d * (q0 + i) + c0, a[i][0]);
    _mm256_storeu_ps(acc + d * (q0 + i) + c0 + 8, a[i][1]);
  }
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
  // (softcap, scale, exp_sub_sum: the AVX2 ones at both x86 levels, as vec_ops() gives)
  const VecOps& vo = avx2::vec_ops();
  const int64_t n_max = *std::max_element(b.n_kv, b.n_kv + nq);
  const int64_t n_min = *std::min_element(b.kv_begin, b.kv_begin + nq);

  const auto row_of = [&](int64_t j) { return b.ring > 0 ? j % b.ring : j; };

  const size_t head_bytes = Q8 ? static_cast<size_t>(d / QK8_0) * sizeof(block_q8_0) : 2 * static_cast<size_t>(d);
  for (int64_t j0 = n_min; j0 < n_max; j0 += C) {
    const int cnt = static_cast<int>(std::min<int64_t>(C, n_max - j0));
    const int cnt16 = (cnt + 15) & ~15;
    // The next chunk's key and value rows into L2 meanwhile: a deep cache's rows
    // (one head's part of each, strided) come from L3 or memory for every block
    // (SmolLM2's shape, depth 7680-15872: +5 to +18%; head_dim 128 and q8_0 even).
    for (int64_t j = j0 + C, end = std::min<int64_t>(n_max, j0 + 2 * C); j < end; j++) {
      prefetch_l2(b.k + b.k_stride * row_of(j), head_bytes);
      prefetch_l2(b.v + b.v_stride * row_of(j), head_bytes);
    }
    // kt[c][j] = key j0 + j, value c: 8 x 8 tiles transposed in registers (zero past cnt).
    for (int j = 0; j < cnt16; j += 8)
      for (int c = 0; c < d; c += 8) {
        __m256 r[8];
        for (int e = 0; e < 8; e++)
          r[e] = j + e < cnt ? load8<Q8>(b.k + b.k_stride * row_of(j0 + j + e), c) : _mm256_setzero_ps();
        transpose8(r);
        for (int e = 0; e < 8; e++) _mm256_storeu_ps(kt + C * (c + e) + j, r[e]);
      }

    for (int j = 0; j < cnt16; j += 16)
      for_blocks<4>(
          nq, [&](auto q, int64_t q0) { scores<decltype(q)::value>(d, b.q, static_cast<int>(q0), kt, j, b.scale, S); });

    chunk_softmax(b, j0, cnt, C, S, acc, mx, den, vo, max_of,
                  [&](int n, float* x, float m) { return vo.exp_sub_sum(n, x, m); });

    // Values of the chunk's keys in order (two runs where a ring wraps: the same sums).
    for_ring_runs(j0, cnt, b.ring, [&](int64_t off, int64_t len, int64_t row) {
      const uint8_t* v = b.v + b.v_stride * row;
      for (int c0 = 0; c0 < d; c0 += 16)
        for_blocks<6>(nq, [&](auto q, int64_t q0) {
          weighted_sum<decltype(q)::value, Q8>(static_cast<int>(len), S + off, static_cast<int>(q0), v, b.v_stride, c0,
                                               acc, d);
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

}  // namespace avx2
}  // namespace mm
