// exp(x) for 16 floats, shared by the AVX-512 kernels (attention blocks and rows,
// sampler passes), and the softmax passes built on it. Include only from files compiled with AVX-512 (the avx512
// library).
#pragma once
#include <immintrin.h>

#include <cmath>
#include <cstdint>

namespace mm {
namespace avx512 {

// exp(x) for 16 floats: the AVX2 v_expf (vec_dot_avx2.cc, ggml's ggml_v_expf)
// lane for lane, so the same bits (|error| ~1.5 ulp; exact 0 / inf at the extremes).
inline __m512 v_expf(__m512 x) {
  const __m512 r = _mm512_set1_ps(0x1.8p23f);
  const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r);
  const __m512 n = _mm512_sub_ps(z, r);
  const __m512 b =
      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f), _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
  const __m512i e = _mm512_slli_epi32(_mm512_castps_si512(z), 23);
  const __m512 k = _mm512_castsi512_ps(_mm512_add_epi32(e, _mm512_castps_si512(_mm512_set1_ps(1))));
  const __m512 an = _mm512_abs_ps(n);
  const __mmask16 c = _mm512_cmp_ps_mask(an, _mm512_set1_ps(126), _CMP_GT_OQ);
  const __m512 u = _mm512_mul_ps(b, b);
  const __m512 j = _mm512_fmadd_ps(
      _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                      _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
      u, _mm512_mul_ps(_mm512_set1_ps(0x1.ffffecp-1f), b));
  if (!c) return _mm512_fmadd_ps(j, k, k);
  const __m512i g = _mm512_maskz_mov_epi32(_mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ),
                                           _mm512_set1_epi32(static_cast<int>(0x82000000u)));
  const __m512 s1 = _mm512_castsi512_ps(_mm512_add_epi32(g, _mm512_set1_epi32(0x7f000000)));
  const __m512 s2 = _mm512_castsi512_ps(_mm512_sub_epi32(e, g));
  const __mmask16 dd = _mm512_cmp_ps_mask(an, _mm512_set1_ps(192), _CMP_GT_OQ);
  // Lanes past +-126 (c) scale in two steps (s1 * s2 = 2^n); past +-192 (dd) 0 or inf.
  const __m512 mid = _mm512_mask_blend_ps(c, _mm512_fmadd_ps(k, j, k), _mm512_mul_ps(_mm512_fmadd_ps(s2, j, s2), s1));
  return _mm512_mask_blend_ps(dd, mid, _mm512_mul_ps(s1, s1));
}

// x = exp(x - mx), returns sum(x): the AVX2 exp_sub_sum's bits (its 8-lane sum
// gets each 16 values' low then high half, its horizontal sum, its scalar tail).
inline float exp_sub_sum(int64_t n, float* x, float mx) {
  const __m512 vm = _mm512_set1_ps(mx);
  __m256 s = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 e = v_expf(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm));
    _mm512_storeu_ps(x + i, e);
    s = _mm256_add_ps(s, _mm512_castps512_ps256(e));
    s = _mm256_add_ps(s, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1)));
  }
  if (i + 8 <= n) {
    const __m512 e = v_expf(_mm512_sub_ps(_mm512_zextps256_ps512(_mm256_loadu_ps(x + i)), vm));
    _mm256_storeu_ps(x + i, _mm512_castps512_ps256(e));
    s = _mm256_add_ps(s, _mm512_castps512_ps256(e));
    i += 8;
  }
  __m128 lo = _mm256_castps256_ps128(s), hi = _mm256_extractf128_ps(s, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  float t = _mm_cvtss_f32(lo);
  for (; i < n; i++) t += (x[i] = std::exp(x[i] - mx));
  return t;
}

// y *= a, returns max(y) (NaN products ignored, as the AVX2 scale_max does): the
// same products, and a maximum is the same whatever the order.
inline float scale_max(int64_t n, float a, float* y) {
  const __m512 va = _mm512_set1_ps(a);
  __m512 m = _mm512_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_mul_ps(va, _mm512_loadu_ps(y + i));
    _mm512_storeu_ps(y + i, v);
    m = _mm512_max_ps(v, m);  // (a NaN v gives m)
  }
  float r = _mm512_reduce_max_ps(m);
  for (; i < n; i++) {
    y[i] *= a;
    r = r < y[i] ? y[i] : r;
  }
  return r;
}

}  // namespace avx512
}  // namespace mm
