// The AVX2 kernels on q4_0 weights regrouped 8 rows at a time (q4_0_x8.h):
// the decode tile (maddubs, and vpdpbusd where the CPU has AVX-VNNI), its
// activation extra and the prefill panel packer.
#include <immintrin.h>

#include <cstring>

#include "../../kernels/quant_blocks.h"
#include "avx2_common.h"
#include "q4_0_x8.h"
#include "x86_vnni.h"

namespace mm {
namespace avx2 {

namespace {
size_t extra_bytes(int64_t k) { return static_cast<size_t>(k / 32) * sizeof(int32_t); }

// [k/32] int32: 8 * the sum of each q8_0 block's values (the q4_0 zero point's share of the dot).
void extra_fill(int64_t k, const void* row, void* extra) {
  const auto* y = static_cast<const block_q8_0*>(row);
  auto* out = static_cast<int32_t*>(extra);
  const __m256i ones = _mm256_set1_epi8(1), eights = _mm256_set1_epi16(8);
  for (int64_t b = 0; b < k / 32; b++) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].qs));
    out[b] = hsum_i32(_mm256_madd_epi16(_mm256_maddubs_epi16(ones, v), eights));
  }
}

// The 8 rows' int32 sums of one block against one activation block: 8 maddubs of
// the unsigned nibbles against each 4 activation bytes broadcast, summed in int16
// (|sum| <= 8 * 2 * 15 * 128 < 2^15), then pairs to int32, minus 8 * sum(a).
inline __m256i block_sums(const __m256i* nib, const int8_t* qs, int32_t zero) {
  int32_t a4[8];
  std::memcpy(a4, qs, 32);
  __m256i s = _mm256_maddubs_epi16(nib[0], _mm256_set1_epi32(a4[0]));
  for (int j = 1; j < 4; j++) s = _mm256_add_epi16(s, _mm256_maddubs_epi16(nib[j], _mm256_set1_epi32(a4[j])));
  for (int j = 0; j < 4; j++) s = _mm256_add_epi16(s, _mm256_maddubs_epi16(nib[4 + j], _mm256_set1_epi32(a4[4 + j])));
  return _mm256_sub_epi32(_mm256_madd_epi16(s, _mm256_set1_epi16(1)), _mm256_set1_epi32(zero));
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
      // Decode streams each weight byte once: the same block of the next group (the next
      // thread-local rows) into L2, 144 bytes = up to 3 lines.
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

#if MM_HAVE_VNNI
// The same with AVX-VNNI: 8 vpdpbusd in two chains into int32 (no int16 sums, no madd), starting at the
// zero point's -8 * sum(a).
MM_TARGET_VNNI inline __m256i block_sums_vnni(const __m256i* nib, const int8_t* qs, int32_t zero) {
  int32_t a4[8];
  std::memcpy(a4, qs, 32);
  __m256i s0 = _mm256_set1_epi32(-zero), s1 = _mm256_setzero_si256();
  for (int j = 0; j < 4; j++) {
    s0 = _mm256_dpbusd_avx_epi32(s0, nib[j], _mm256_set1_epi32(a4[j]));
    s1 = _mm256_dpbusd_avx_epi32(s1, nib[4 + j], _mm256_set1_epi32(a4[4 + j]));
  }
  return _mm256_add_epi32(s0, s1);
}

template <int C>
MM_TARGET_VNNI void tile_vnni(int64_t k, const uint8_t* group, const uint8_t* a, size_t as, float* out, size_t os) {
  const int64_t nb = k / 32;
  const size_t gb = q4_0_x8_group_bytes(k);
  const size_t xo = q4_0_x8_extra_offset(k);
  const __m256i lo4 = _mm256_set1_epi8(0x0F);
  __m256 acc[C];
  for (int c = 0; c < C; c++) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* blk = group + static_cast<size_t>(b) * kX8BlockBytes;
    if (C == 1) {
      _mm_prefetch(reinterpret_cast<const char*>(blk + gb), _MM_HINT_T1);
      _mm_prefetch(reinterpret_cast<const char*>(blk + gb + 64), _MM_HINT_T1);
      _mm_prefetch(reinterpret_cast<const char*>(blk + gb + 143), _MM_HINT_T1);
    }
    __m256i nib[8];
    for (int j = 0; j < 4; j++) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16 + 32 * j));
      nib[j] = _mm256_and_si256(v, lo4);
      nib[4 + j] = _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4);
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk)));
    for (int c = 0; c < C; c++) {
      const uint8_t* row = a + as * c;
      const block_q8_0& y = reinterpret_cast<const block_q8_0*>(row)[b];
      const int32_t zero = reinterpret_cast<const int32_t*>(row + xo)[b];
      const __m256i s = block_sums_vnni(nib, y.qs, zero);
      acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(_cvtsh_ss(y.d))), _mm256_cvtepi32_ps(s), acc[c]);
    }
  }
  for (int c = 0; c < C; c++) _mm256_storeu_ps(out + os * c, acc[c]);
}
#endif
}  // namespace

void q4_0_x8_tile(int64_t k, const uint8_t* group, const uint8_t* a, size_t as, int nc, float* out, size_t os) {
  switch (nc) {
    case 1: return tile<1>(k, group, a, as, out, os);
    case 2: return tile<2>(k, group, a, as, out, os);
    default: return tile<3>(k, group, a, as, out, os);
  }
}

#if MM_HAVE_VNNI
void q4_0_x8_tile_vnni(int64_t k, const uint8_t* group, const uint8_t* a, size_t as, int nc, float* out, size_t os) {
  switch (nc) {
    case 1: return tile_vnni<1>(k, group, a, as, out, os);
    case 2: return tile_vnni<2>(k, group, a, as, out, os);
    default: return tile_vnni<3>(k, group, a, as, out, os);
  }
}
#endif

ActExtra q4_0_x8_extra() { return {extra_bytes, extra_fill}; }

// gemm_avx2.cc's q4_0 panel: [nb][8 groups][8 rows][4 bytes] nibbles (group g < 4: the low
// nibbles of qs bytes 4g..4g+3, g >= 4 the high ones of bytes 4(g-4)..), then [nb][8] f32 scales.
void q4_0_x8_pack_panel(int64_t k, const uint8_t* group, int /*nr: 8*/, uint8_t* panel) {
  const int64_t nb = k / 32;
  const __m256i lo4 = _mm256_set1_epi8(0x0F);
  float* scales = reinterpret_cast<float*>(panel + static_cast<size_t>(nb) * 256);
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* blk = group + static_cast<size_t>(b) * kX8BlockBytes;
    __m256i* dst = reinterpret_cast<__m256i*>(panel + b * 256);
    for (int j = 0; j < 4; j++) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16 + 32 * j));
      _mm256_storeu_si256(dst + j, _mm256_and_si256(v, lo4));
      _mm256_storeu_si256(dst + 4 + j, _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4));
    }
    _mm256_storeu_ps(scales + 8 * b, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk))));
  }
}

}  // namespace avx2
}  // namespace mm
