// The AVX-512 kernels on weights regrouped 8 rows at a time (regroup_x8.h):
// the q4_0 and q8_0 decode tiles, two 32-byte value groups of a block per
// 512-bit vector, and the 16-row prefill panels (gemm_avx512.cc) packed from
// two groups side by side. Compiled into the AVX-512 library; called only
// after cpu_use_avx512().
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own AVX-512 headers trip these warnings (_mm512_castsi256_si512's undefined upper half).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include "../../kernels/quant_blocks.h"
#include "gemm_panel.h"
#include "regroup_x8.h"

namespace mm {
namespace avx512 {

namespace {
// A regrouped block's value groups j and j + 1 side by side in one vector: lanes 0-7 the 8 rows' 4 bytes
// of group j, lanes 8-15 of group j + 1. pair_index(j) puts activation dword j in lanes 0-7 and j + 1 in
// lanes 8-15 (vpermd of the block's 32 activation bytes), so one VNNI product covers both groups.
inline __m512i pair_index(int j) {
  return _mm512_set_epi32(j + 1, j + 1, j + 1, j + 1, j + 1, j + 1, j + 1, j + 1, j, j, j, j, j, j, j, j);
}
// The two halves' int32 sums added: each row's sum over the block (exact, as the AVX2 tile's).
inline __m256i join_halves(__m512i s) {
  return _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
}
// Decode streams each weight byte once: the same block of the next group (the next thread-local rows)
// into L2, every line of it (as the AVX2 tiles do).
template <DType T>
inline void prefetch_next_group(const uint8_t* blk, size_t gb) {
  constexpr size_t kBytes = x8_block_bytes(T);
  for (size_t o = 0; o < kBytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(blk + gb + o), _MM_HINT_T1);
  _mm_prefetch(reinterpret_cast<const char*>(blk + gb + kBytes - 1), _MM_HINT_T1);
}

// q4_0, C activation rows: a block's 128 nibble bytes are two vectors (value groups 0-1 and 2-3), each
// giving a low- and a high-nibble vector; four VNNI products (unsigned nibbles x signed activations, 4 per
// int32 lane) per row, then per row of the 8 the same integer sum, zero-point correction and float steps
// as avx2::q4_0_x8_tile: the same bits at ~1.6x its rate from L1/L2 (Zen 5).
template <int C>
void tile_q4_0(int64_t k, const uint8_t* group, const uint8_t* a, size_t as, float* out, size_t os) {
  constexpr DType T = DType::Q4_0;
  constexpr size_t kBytes = x8_block_bytes(T);
  const int64_t nb = k / 32;
  const size_t gb = static_cast<size_t>(nb) * kBytes;
  const size_t xo = q4_0_x8_extra_offset(k);
  const __m512i lo4 = _mm512_set1_epi8(0x0F);
  // low nibbles of groups 0-1: values 0-7; of groups 2-3: 8-15; high nibbles: 16-23 and 24-31
  const __m512i i01 = pair_index(0), i23 = pair_index(2), i45 = pair_index(4), i67 = pair_index(6);
  __m256 acc[C];
  for (int c = 0; c < C; c++) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* blk = group + static_cast<size_t>(b) * kBytes;
    if (C == 1) prefetch_next_group<T>(blk, gb);
    const __m512i v0 = _mm512_loadu_si512(blk + 16), v1 = _mm512_loadu_si512(blk + 80);
    const __m512i lo0 = _mm512_and_si512(v0, lo4), hi0 = _mm512_and_si512(_mm512_srli_epi16(v0, 4), lo4);
    const __m512i lo1 = _mm512_and_si512(v1, lo4), hi1 = _mm512_and_si512(_mm512_srli_epi16(v1, 4), lo4);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk)));  // [8] row scales
    for (int c = 0; c < C; c++) {
      const uint8_t* row = a + as * c;
      const block_q8_0& y = reinterpret_cast<const block_q8_0*>(row)[b];
      const __m512i q = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.qs)));
      // two chains of two products, joined: |sum| <= 32 * 15 * 128 fits int32 at every step
      __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo0, _mm512_permutexvar_epi32(i01, q));
      __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo1, _mm512_permutexvar_epi32(i23, q));
      s0 = _mm512_dpbusd_epi32(s0, hi0, _mm512_permutexvar_epi32(i45, q));
      s1 = _mm512_dpbusd_epi32(s1, hi1, _mm512_permutexvar_epi32(i67, q));
      const __m256i s = _mm256_sub_epi32(join_halves(_mm512_add_epi32(s0, s1)),
                                         _mm256_set1_epi32(reinterpret_cast<const int32_t*>(row + xo)[b]));
      acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(_cvtsh_ss(y.d))), _mm256_cvtepi32_ps(s), acc[c]);
    }
  }
  for (int c = 0; c < C; c++) _mm256_storeu_ps(out + os * c, acc[c]);
}

// q8_0, R activation rows (1 or 2: a row's sums take 4 registers), each in avx2::q8_0_x8_tile's float order
// (so the row tiles' bits): there vector j holds the 8 rows' float sums of value group j; here vector p
// holds groups 2p (lanes 0-7) and 2p + 1 (lanes 8-15), each lane's int32 product the same (|w| x sign(a, w):
// VNNI on |w| and a negated where w is negative), its scale the same f32 product dw x da, its FMA the same;
// and the final tree ((0+4) + (2+6)) + ((1+5) + (3+7)) is (p0 + p2) + (p1 + p3), then the halves. ~1.5x
// the AVX2 tile's rate from L1/L2; two rows share each weight vector's |w| and signs.
template <int R>
void tile_q8_0(int64_t k, const uint8_t* group, const uint8_t* a, size_t as, float* out, size_t os) {
  constexpr DType T = DType::Q8_0;
  constexpr size_t kBytes = x8_block_bytes(T);
  const int64_t nb = k / 32;
  const size_t gb = static_cast<size_t>(nb) * kBytes;
  __m512i idx[4];
  for (int p = 0; p < 4; p++) idx[p] = pair_index(2 * p);
  __m512 acc[R][4];
  for (int r = 0; r < R; r++)
    for (int p = 0; p < 4; p++) acc[r][p] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* blk = group + static_cast<size_t>(b) * kBytes;
    if (R == 1) prefetch_next_group<T>(blk, gb);
    // [16] the 8 row scales in both halves
    const __m512 dw =
        _mm512_cvtph_ps(_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk))));
    __m512 d[R];  // [16] dw_r * da
    __m512i q[R];
    for (int r = 0; r < R; r++) {
      const block_q8_0& y = reinterpret_cast<const block_q8_0*>(a + as * r)[b];
      d[r] = _mm512_mul_ps(dw, _mm512_set1_ps(_cvtsh_ss(y.d)));
      q[r] = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.qs)));
    }
    for (int p = 0; p < 4; p++) {
      const __m512i w = _mm512_loadu_si512(blk + 16 + 64 * p);
      const __m512i aw = _mm512_abs_epi8(w);
      const __mmask64 neg = _mm512_movepi8_mask(w);
      for (int r = 0; r < R; r++) {
        const __m512i x = _mm512_permutexvar_epi32(idx[p], q[r]);
        const __m512i sx = _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x);
        acc[r][p] =
            _mm512_fmadd_ps(d[r], _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), aw, sx)), acc[r][p]);
      }
    }
  }
  for (int r = 0; r < R; r++) {
    const __m512 u = _mm512_add_ps(_mm512_add_ps(acc[r][0], acc[r][2]), _mm512_add_ps(acc[r][1], acc[r][3]));
    const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(u), 1));
    _mm256_storeu_ps(out + os * r, _mm256_add_ps(_mm512_castps512_ps256(u), hi));
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
void q8_0_x8_tile(int64_t k, const uint8_t* group, const uint8_t* a, size_t as, int nc, float* out, size_t os) {
  int c = 0;
  for (; c + 2 <= nc; c += 2) tile_q8_0<2>(k, group, a + as * c, as, out + os * c, os);
  if (c < nc) tile_q8_0<1>(k, group, a + as * c, as, out + os * c, os);
}

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
