// The AVX-512 VNNI kernels on q4_0 weights regrouped 8 rows at a time
// (q4_0_x8.h): the decode tile and the 16-row prefill panel packed from two
// groups. Compiled into the AVX-512 library; called only after
// cpu_use_avx512().
//
// The tile is the plain AVX2 one with vpdpbusd on 256-bit vectors (EVEX,
// AVX512-VL): one instruction per 4 activation bytes and 8 rows where AVX2
// needs a maddubs and an int16 add, and int32 sums from the start (no madd).
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own AVX-512 headers trip this warning (_mm512_castsi256_si512's undefined upper half).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstring>

#include "../../kernels/quant_blocks.h"
#include "gemm_panel.h"
#include "q4_0_x8.h"

namespace mm {
namespace avx512 {

namespace {

// The 8 rows' int32 sums of one block against one activation block, minus 8 * sum(a): two chains of
// four vpdpbusd (the nibbles unsigned, the activations signed), joined.
inline __m256i block_sums(const __m256i* nib, const int8_t* qs, int32_t zero) {
  int32_t a4[8];
  std::memcpy(a4, qs, 32);
  __m256i s0 = _mm256_set1_epi32(-zero), s1 = _mm256_setzero_si256();
  for (int j = 0; j < 4; j++) {
    s0 = _mm256_dpbusd_epi32(s0, nib[j], _mm256_set1_epi32(a4[j]));
    s1 = _mm256_dpbusd_epi32(s1, nib[4 + j], _mm256_set1_epi32(a4[4 + j]));
  }
  return _mm256_add_epi32(s0, s1);
}

template <int C>
void tile(int64_t k, const uint8_t* group, const uint8_t* a, size_t as, float* out, size_t os) {
  const int64_t nb = k / 32;
  const size_t gb = q4_0_x8_group_bytes(k);
  const size_t xo = q4_0_x8_extra_offset(k);
  const __m256i lo4 = _mm256_set1_epi8(0x0F);
  __m256 acc[C];
  for (int c = 0; c < C; c++) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* blk = group + static_cast<size_t>(b) * kX8BlockBytes;
    if (C == 1) {
      // Decode streams each weight byte once: the same block of the next group into L2 (144 bytes, up to 3 lines).
      _mm_prefetch(reinterpret_cast<const char*>(blk + gb), _MM_HINT_T1);
      _mm_prefetch(reinterpret_cast<const char*>(blk + gb + 64), _MM_HINT_T1);
      _mm_prefetch(reinterpret_cast<const char*>(blk + gb + 143), _MM_HINT_T1);
    }
    __m256i nib[8];  // [value group]: lanes = rows; groups 0-3 low nibbles, 4-7 high
    for (int j = 0; j < 4; j++) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16 + 32 * j));
      nib[j] = _mm256_and_si256(v, lo4);
      nib[4 + j] = _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4);
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk)));  // [8] row scales
    for (int c = 0; c < C; c++) {
      const uint8_t* row = a + as * c;
      const block_q8_0& y = reinterpret_cast<const block_q8_0*>(row)[b];
      const int32_t zero = reinterpret_cast<const int32_t*>(row + xo)[b];
      const __m256i s = block_sums(nib, y.qs, zero);
      acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(_cvtsh_ss(y.d))), _mm256_cvtepi32_ps(s), acc[c]);
    }
  }
  for (int c = 0; c < C; c++) _mm256_storeu_ps(out + os * c, acc[c]);
}

}  // namespace

void q4_0_x8_tile(int64_t k, const uint8_t* group, const uint8_t* a, size_t as, int nc, float* out, size_t os) {
  switch (nc) {
    case 1: return tile<1>(k, group, a, as, out, os);
    case 2: return tile<2>(k, group, a, as, out, os);
    default: return tile<3>(k, group, a, as, out, os);
  }
}

// gemm_avx512.cc's q4_0 panel ([nb][8 value groups][16 rows][4 bytes] nibbles, then [nb][16] f32 scales)
// from groups[0] (rows 0-7) and, where nr is 16, groups[1] (rows 8-15; zero rows otherwise). A regrouped
// block's 32 bytes of value group j are 4 bytes of each of its 8 rows, as in the panel: two of them side
// by side are the panel's 64.
void q4_0_x8_pack_panel(int64_t k, const uint8_t* groups, int nr, uint8_t* panel) {
  const int64_t nb = k / 32;
  const size_t gb = q4_0_x8_group_bytes(k);
  const bool two = nr > kX8Rows;
  const __m512i lo4 = _mm512_set1_epi8(0x0F);
  float* scales = reinterpret_cast<float*>(panel + static_cast<size_t>(nb) * 512);
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* b0 = groups + static_cast<size_t>(b) * kX8BlockBytes;
    const uint8_t* b1 = b0 + gb;
    __m512i* dst = reinterpret_cast<__m512i*>(panel + b * 512);
    for (int j = 0; j < 4; j++) {
      const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b0 + 16 + 32 * j));
      const __m256i hi =
          two ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b1 + 16 + 32 * j)) : _mm256_setzero_si256();
      const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
      _mm512_storeu_si512(dst + j, _mm512_and_si512(v, lo4));
      _mm512_storeu_si512(dst + 4 + j, _mm512_and_si512(_mm512_srli_epi16(v, 4), lo4));
    }
    const __m128i d0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b0));
    const __m128i d1 = two ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(b1)) : _mm_setzero_si128();
    _mm512_storeu_ps(scales + 16 * b, _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(d0), d1, 1)));
  }
}

}  // namespace avx512
}  // namespace mm
