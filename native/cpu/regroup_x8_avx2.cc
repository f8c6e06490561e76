// The AVX2 kernels on weights regrouped 8 rows at a time (regroup_x8.h): the
// q4_0 and q8_0 decode tiles (plain AVX2 at every x86 level: the layout, not
// VNNI, is what they gain), q4_0's activation extra and the 8-row prefill
// panel packers.
#include <immintrin.h>

#include "../../kernels/quant_blocks.h"
#include "avx2_common.h"
#include "regroup_x8.h"

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

// Decode streams each weight byte once: the same block of the next group (the next thread-local rows)
// into L2, every line of it.
template <DType T>
inline void prefetch_next_group(const uint8_t* blk, size_t gb) {
  constexpr size_t kBytes = x8_block_bytes(T);
  for (size_t o = 0; o < kBytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(blk + gb + o), _MM_HINT_T1);
  _mm_prefetch(reinterpret_cast<const char*>(blk + gb + kBytes - 1), _MM_HINT_T1);
}

// q4_0: the 8 rows' int32 sums of one block against one activation block: 8 maddubs of the unsigned
// nibbles against each 4 activation bytes broadcast, summed in int16 (|sum| <= 8 * 2 * 15 * 128 < 2^15),
// then pairs to int32, minus 8 * sum(a).
inline __m256i q4_0_sums(const __m256i* nib, const int8_t* qs, int32_t zero) {
  __m256i s = _mm256_maddubs_epi16(nib[0], bcast4(qs));
  for (int j = 1; j < 8; j++) s = _mm256_add_epi16(s, _mm256_maddubs_epi16(nib[j], bcast4(qs + 4 * j)));
  return _mm256_sub_epi32(_mm256_madd_epi16(s, _mm256_set1_epi16(1)), _mm256_set1_epi32(zero));
}

template <int C>
void tile_q4_0(int64_t k, const uint8_t* group, const uint8_t* a, size_t as, float* out, size_t os) {
  constexpr DType T = DType::Q4_0;
  constexpr size_t kBytes = x8_block_bytes(T);
  const int64_t nb = k / 32;
  const size_t gb = static_cast<size_t>(nb) * kBytes;
  const size_t xo = q4_0_x8_extra_offset(k);
  const __m256i lo4 = _mm256_set1_epi8(0x0F);
  __m256 acc[C];
  for (int c = 0; c < C; c++) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* blk = group + static_cast<size_t>(b) * kBytes;
    if (C == 1) prefetch_next_group<T>(blk, gb);
    __m256i w[8];  // [value group]: lanes = rows; groups 0-3 low nibbles, 4-7 high
    for (int j = 0; j < 4; j++) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16 + 32 * j));
      w[j] = _mm256_and_si256(v, lo4);
      w[4 + j] = _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4);
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk)));  // [8] row scales
    for (int c = 0; c < C; c++) {
      const uint8_t* row = a + as * c;
      const block_q8_0& y = reinterpret_cast<const block_q8_0*>(row)[b];
      const __m256i s = q4_0_sums(w, y.qs, reinterpret_cast<const int32_t*>(row + xo)[b]);
      acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(_cvtsh_ss(y.d))), _mm256_cvtepi32_ps(s), acc[c]);
    }
  }
  for (int c = 0; c < C; c++) _mm256_storeu_ps(out + os * c, acc[c]);
}

// q8_0, one activation row: the 8 rows' sums in the float order of the row tiles (vec_dot_avx2.cc's
// tile_q8_act and its AVX-VNNI variant, ggml's AVX2 q8_0 dot): there each 8-lane vector holds one row,
// lane j the int32 sum of values 4j..4j+3 (|w| x sign(a, w), madd), each block adds scale x lane into
// lane j's float sum, and hsum() joins the 8 lanes at the end. Here lane r is row r and vector j holds
// every row's lane j: 8 sums, one FMA each per block, joined by hsum()'s tree ((0+4) + (2+6)) +
// ((1+5) + (3+7)) lane-wise. So a regrouped q8_0 matrix gives the bits of the same matrix read in place.
void tile_q8_0(int64_t k, const uint8_t* group, const uint8_t* a, float* out) {
  constexpr size_t kBytes = x8_block_bytes(DType::Q8_0);
  const int64_t nb = k / 32;
  const size_t gb = static_cast<size_t>(nb) * kBytes;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[8];
  for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* blk = group + static_cast<size_t>(b) * kBytes;
    prefetch_next_group<DType::Q8_0>(blk, gb);
    const block_q8_0& y = reinterpret_cast<const block_q8_0*>(a)[b];
    // [8] dw_r * da, as the row tile's scalar product
    const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk))),
                                   _mm256_set1_ps(_cvtsh_ss(y.d)));
    for (int j = 0; j < 8; j++) {
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16 + 32 * j));
      const __m256i p = _mm256_madd_epi16(
          _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(bcast4(y.qs + 4 * j), w)), ones);
      acc[j] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[j]);
    }
  }
  const __m256 t0 = _mm256_add_ps(acc[0], acc[4]), t1 = _mm256_add_ps(acc[1], acc[5]);
  const __m256 t2 = _mm256_add_ps(acc[2], acc[6]), t3 = _mm256_add_ps(acc[3], acc[7]);
  _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(t0, t2), _mm256_add_ps(t1, t3)));
}

// gemm_avx2.cc's panels: [nb][8 groups][8 rows][4 bytes] weights (q4_0: group g < 4 the low nibbles of
// qs bytes 4g..4g+3, g >= 4 the high ones of bytes 4(g-4)..; q8_0: values 4g..4g+3, + 128 for VNNI),
// then [nb][8] f32 scales.
template <bool kVnni>
void pack_panel(DType t, int64_t k, const uint8_t* group, uint8_t* panel) {
  const int64_t nb = k / 32;
  const size_t bytes = x8_block_bytes(t);
  const __m256i lo4 = _mm256_set1_epi8(0x0F), flip = _mm256_set1_epi8(kVnni ? static_cast<char>(0x80) : 0);
  float* scales = reinterpret_cast<float*>(panel + static_cast<size_t>(nb) * 256);
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* blk = group + static_cast<size_t>(b) * bytes;
    __m256i* dst = reinterpret_cast<__m256i*>(panel + b * 256);
    if (t == DType::Q4_0) {
      for (int j = 0; j < 4; j++) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16 + 32 * j));
        _mm256_storeu_si256(dst + j, _mm256_and_si256(v, lo4));
        _mm256_storeu_si256(dst + 4 + j, _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4));
      }
    } else {
      for (int j = 0; j < 8; j++)
        _mm256_storeu_si256(
            dst + j, _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16 + 32 * j)), flip));
    }
    _mm256_storeu_ps(scales + 8 * b, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk))));
  }
}
}  // namespace

void q4_0_x8_tile(int64_t k, const uint8_t* group, const uint8_t* a, size_t as, int nc, float* out, size_t os) {
  switch (nc) {
    case 1: return tile_q4_0<1>(k, group, a, as, out, os);
    case 2: return tile_q4_0<2>(k, group, a, as, out, os);
    default: return tile_q4_0<3>(k, group, a, as, out, os);
  }
}
// (Activation rows one at a time: 8 sums per row are half the registers; a group's blocks stay in L1/L2
// for the next row.)
void q8_0_x8_tile(int64_t k, const uint8_t* group, const uint8_t* a, size_t as, int nc, float* out, size_t os) {
  for (int c = 0; c < nc; c++) tile_q8_0(k, group, a + as * c, out + os * c);
}

ActExtra q4_0_x8_extra() { return {extra_bytes, extra_fill}; }

void x8_pack_panel(DType t, int64_t k, const uint8_t* group, int /*nr: 8*/, uint8_t* panel) {
  pack_panel<false>(t, k, group, panel);
}
void x8_pack_panel_vnni(DType t, int64_t k, const uint8_t* group, int /*nr: 8*/, uint8_t* panel) {
  pack_panel<true>(t, k, group, panel);
}

}  // namespace avx2
}  // namespace mm
