// The sampler's passes over a row of logits (VecOps::exp_weights, bucket_mass,
// bucket_members; see vec_dot.h and sampler.cc) on 16 lanes. Each lane computes
// what the AVX2 passes compute for it (the same exp, the product rounded before
// the subtraction) and the bucket sums are added in position order, so the sums,
// and every draw, are the AVX2 ones. Compiled into the AVX-512 library.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"  // (_mm512_min_epi32 too)
#endif
#include <immintrin.h>

#include <cmath>

#include "avx512_exp.h"
#include "vec_dot.h"

namespace mm {
namespace avx512 {

namespace {

// w = exp(v * inv - sub) for 16 floats, the product rounded first.
inline __m512 exp_weight16(__m512 v, __m512 inv, __m512 sub) {
  __m512 p = _mm512_mul_ps(v, inv);
  opaque(p);  // no fused multiply-subtract
  return v_expf(_mm512_sub_ps(p, sub));
}
// x[0, n) (n < 16) in the low lanes, the rest -inf.
inline __m512 load_tail(const float* x, int64_t n) {
  return _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), static_cast<__mmask16>((1u << n) - 1), x);
}
// The bucket of each lane (NaN as -inf: max_ps returns its second operand for a NaN first).
inline __m512i buckets(__m512& x, __m512 vm, __m512 sc, __m512 top) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-INFINITY));
  return _mm512_cvttps_epi32(_mm512_min_ps(_mm512_mul_ps(_mm512_sub_ps(vm, x), sc), top));
}

void exp_weights(int64_t n, const float* v, float inv, float sub, float* w) {
  const __m512 vi = _mm512_set1_ps(inv), vs = _mm512_set1_ps(sub);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(w + i, exp_weight16(_mm512_loadu_ps(v + i), vi, vs));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(w + i, m, exp_weight16(load_tail(v + i, n - i), vi, vs));
  }
}

// NW weights per element, CNT: a count too; the AVX2 pass's scheme (vec_dot_avx2.cc): a chunk's buckets
// and values in vectors into small arrays, then the adds from them; an element that adds nothing adds its
// zeros to bucket `lane` instead (so a grammar's run of -inf never chains adds through one bucket).
template <int NW, bool CNT>
void bucket_mass_t(int64_t n, const float* v, float vmax, float scale, int nb, const float* inv, const float* sub,
                   double* mass) {
  constexpr int S = NW + (CNT ? 1 : 0);
  constexpr int kChunk = 256;
  const __m512 vm = _mm512_set1_ps(vmax), sc = _mm512_set1_ps(scale), top = _mm512_set1_ps(static_cast<float>(nb - 1));
  const __m512 ninf = _mm512_set1_ps(-INFINITY), zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
  const __m512 i0 = _mm512_set1_ps(inv[0]), s0 = _mm512_set1_ps(sub[0]);
  const __m512 i1 = _mm512_set1_ps(inv[NW - 1]), s1 = _mm512_set1_ps(sub[NW - 1]);
  const __m512i lane = _mm512_min_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                        _mm512_set1_epi32(nb - 1));
  // S == 2: (first, second) of elements 0-7 and 8-15 side by side.
  const __m512i pair_lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i pair_hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  alignas(64) int32_t bk[kChunk];
  alignas(64) float w0[kChunk], w1[kChunk], cn[kChunk];
  alignas(64) float pr[2 * kChunk];
  int64_t weightless = 0;  // -inf and NaN elements (CNT)
  for (int64_t c0 = 0; c0 < n; c0 += kChunk) {
    const int m = static_cast<int>(n - c0 < kChunk ? n - c0 : kChunk);
    for (int j = 0; j < m; j += 16) {
      const int left = m - j;
      __m512 x = left >= 16 ? _mm512_loadu_ps(v + c0 + j) : load_tail(v + c0 + j, left);
      const __m512i b = buckets(x, vm, sc, top);
      const __m512 e0 = exp_weight16(x, i0, s0);
      __m512 e1 = e0, second = e0;
      if (NW == 2) e1 = second = exp_weight16(x, i1, s1);
      __mmask16 live;
      if (CNT) {
        live = _mm512_cmp_ps_mask(x, ninf, _CMP_GT_OQ);
        if (NW == 1)
          second = _mm512_maskz_mov_ps(live, one);
        else
          _mm512_store_ps(cn + j, _mm512_maskz_mov_ps(live, one));
        const unsigned valid = left >= 16 ? 0xffffu : (1u << left) - 1;
        weightless += __builtin_popcount(valid & ~static_cast<unsigned>(live));
      } else {
        live = _mm512_cmp_ps_mask(e0, zero, _CMP_GT_OQ) | _mm512_cmp_ps_mask(e1, zero, _CMP_GT_OQ);
      }
      _mm512_store_si512(bk + j, _mm512_mask_blend_epi32(live, lane, b));
      if (S == 2) {
        _mm512_store_ps(pr + 2 * j, _mm512_permutex2var_ps(e0, pair_lo, second));
        _mm512_store_ps(pr + 2 * j + 16, _mm512_permutex2var_ps(e0, pair_hi, second));
      } else {
        _mm512_store_ps(w0 + j, e0);
        if (NW == 2) _mm512_store_ps(w1 + j, e1);
      }
    }
    if (S == 2) {
      for (int j = 0; j < m; j++) {
        double* p = mass + static_cast<int64_t>(bk[j]) * 2;
        const __m128 two = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(pr + 2 * j)));
        _mm_storeu_pd(p, _mm_add_pd(_mm_loadu_pd(p), _mm_cvtps_pd(two)));
      }
    } else if (S == 1) {
      for (int j = 0; j < m; j++) mass[bk[j]] += w0[j];
    } else {  // S == 3: two weights and a count
      for (int j = 0; j < m; j++) {
        double* p = mass + static_cast<int64_t>(bk[j]) * 3;
        p[0] += w0[j];
        p[1] += w1[j];
        p[2] += cn[j];
      }
    }
  }
  if (CNT) mass[static_cast<int64_t>(nb - 1) * S + NW] += static_cast<double>(weightless);
}

void bucket_mass(int64_t n, const float* v, float vmax, float scale, int nb, int nw, const float* inv, const float* sub,
                 bool count, double* mass) {
  if (nw == 2)
    (count ? bucket_mass_t<2, true> : bucket_mass_t<2, false>)(n, v, vmax, scale, nb, inv, sub, mass);
  else
    (count ? bucket_mass_t<1, true> : bucket_mass_t<1, false>)(n, v, vmax, scale, nb, inv, sub, mass);
}

int64_t bucket_members(int64_t n, const float* v, float vmax, float scale, int nb, int b, int32_t* pos) {
  const __m512 vm = _mm512_set1_ps(vmax), sc = _mm512_set1_ps(scale), top = _mm512_set1_ps(static_cast<float>(nb - 1));
  const __m512i want = _mm512_set1_epi32(b);
  int64_t m = 0, i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 x = _mm512_loadu_ps(v + i);
    for (unsigned h = _mm512_cmpeq_epi32_mask(buckets(x, vm, sc, top), want); h; h &= h - 1)
      pos[m++] = static_cast<int32_t>(i + __builtin_ctz(h));
  }
  if (i < n) {
    __m512 x = load_tail(v + i, n - i);
    const unsigned valid = (1u << (n - i)) - 1;
    for (unsigned h = _mm512_cmpeq_epi32_mask(buckets(x, vm, sc, top), want) & valid; h; h &= h - 1)
      pos[m++] = static_cast<int32_t>(i + __builtin_ctz(h));
  }
  return m;
}

}  // namespace

void add_sampler_ops(VecOps& o) {
  o.exp_weights = exp_weights;
  o.bucket_mass = bucket_mass;
  o.bucket_members = bucket_members;
}

}  // namespace avx512
}  // namespace mm
