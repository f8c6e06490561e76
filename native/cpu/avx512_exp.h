// exp(x) for 16 floats, shared by the AVX-512 kernels (attention blocks, sampler
// passes). Include only from files compiled with AVX-512 (the avx512 library).
#pragma once
#include <immintrin.h>

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

}  // namespace avx512
}  // namespace mm
