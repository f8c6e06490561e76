// The AVX-512 16-row prefill panels (gemm_avx512.cc) packed from weights
// regrouped 8 rows at a time (regroup_x8.h), two groups side by side.
// Compiled into the AVX-512 library; called only after cpu_use_avx512().
// (Decode reads the groups with avx2::q4_0_x8_tile / q8_0_x8_tile at this
// level too: a VNNI tile on 256-bit vectors measured the same.)
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own AVX-512 headers trip this warning (_mm512_castsi256_si512's undefined upper half).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "gemm_panel.h"
#include "regroup_x8.h"

namespace mm {
namespace avx512 {

// gemm_avx512.cc's panels ([nb][8 value groups][16 rows][4 bytes] unsigned weights: q4_0 nibbles,
// q8_0 values + 128; then [nb][16] f32 scales) from groups[0] (rows 0-7) and, where nr is 16, groups[1]
// (rows 8-15; zero rows otherwise). A regrouped block's 32 bytes of value group j are 4 bytes of each of
// its 8 rows, as in the panel: two of them side by side are the panel's 64.
void x8_pack_panel(DType t, int64_t k, const uint8_t* groups, int nr, uint8_t* panel) {
  const int64_t nb = k / 32;
  const size_t bytes = x8_block_bytes(t), gb = x8_group_bytes(t, k);
  const bool two = nr > kX8Rows, q4 = t == DType::Q4_0;
  const __m512i lo4 = _mm512_set1_epi8(0x0F), flip = _mm512_set1_epi8(static_cast<char>(0x80));
  float* scales = reinterpret_cast<float*>(panel + static_cast<size_t>(nb) * 512);
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* b0 = groups + static_cast<size_t>(b) * bytes;
    const uint8_t* b1 = b0 + gb;
    __m512i* dst = reinterpret_cast<__m512i*>(panel + b * 512);
    for (int j = 0; j < (q4 ? 4 : 8); j++) {
      const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b0 + 16 + 32 * j));
      const __m256i hi =
          two ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b1 + 16 + 32 * j)) : _mm256_setzero_si256();
      const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
      if (q4) {
        _mm512_storeu_si512(dst + j, _mm512_and_si512(v, lo4));
        _mm512_storeu_si512(dst + 4 + j, _mm512_and_si512(_mm512_srli_epi16(v, 4), lo4));
      } else {
        _mm512_storeu_si512(dst + j, _mm512_xor_si512(v, flip));
      }
    }
    const __m128i d0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b0));
    const __m128i d1 = two ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(b1)) : _mm_setzero_si128();
    _mm512_storeu_ps(scales + 16 * b, _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(d0), d1, 1)));
  }
}

}  // namespace avx512
}  // namespace mm
