// AVX2 and AVX-VNNI panel GEMM (see gemm_panel.h): 8 weight rows per panel,
// one per int32 lane of a ymm register. Compiled with -mavx2 -mfma -mf16c in
// the cpu_avx2 library; the AVX-VNNI functions carry their own target
// attribute and run only where the CPU has it.
//
// Without VNNI the byte products go through maddubs (u8 x s8 -> int16 pairs):
//   q4_0, q4_K: nibbles (0..15) x activations: a pair is at most 2*15*127, so
//     the 8 groups of a block add up in int16 (<= 30480) before one madd;
//   q5_0, q5_1, q5_K: 5-bit values (0..31): four groups at most (4 * 2*31*127 = 31496);
//   q6_K: 6-bit values (0..63): two groups at most (2 * 2*63*127 = 32004);
//   q8_0: |w| x sign(a, w) per group (the usual sign trick), madd per group.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "../../kernels/quant_blocks.h"
#include "avx2_common.h"
#include "count_blocks.h"
#include "cpu_features.h"
#include "gemm_panel.h"
#include "regroup_x4.h"
#include "regroup_x8.h"
#include "x86_vnni.h"

namespace mm {
namespace avx2 {

namespace {

constexpr int kRows = 8;  // weight rows per panel
constexpr int kCols = 6;  // activation rows per kernel call: 2 x 6 accumulators + weights in 16 ymm

// q4_1 runs as kQ4_K and q5_1 as kQ5_K (nibbles / 5-bit values with a mins term).
enum Kind { kQ4_0, kQ5_0, kQ8_0, kQ4_K, kQ5_K, kQ6_K };

// Panel layout for k values (nb = k / 32 blocks of 32):
//   [nb][8 groups][8 rows][4 bytes]  weight bytes (one 32-byte vector per group):
//                                    nibbles; q8_0: signed, or + 128 for VNNI
//   [nb][8] f32                      scale per row and block
//   [nb][8] f32                      q4_K, q5_K only: min per row and block (dmin * m)
// q6_K instead: [nb][2][8] f32, the scales of each block's two halves of 16.
inline size_t weights_bytes(int64_t k) { return static_cast<size_t>(k / 32) * 256; }

inline __m256i row_offsets(size_t row_stride) {
  return _mm256_mullo_epi32(_mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0), _mm256_set1_epi32(static_cast<int>(row_stride)));
}
// The 8 rows' offsets (x4_row_offset) for gathering a super-block type's panel.
template <bool kX4>
inline __m256i block_row_offsets(size_t rs, size_t block_bytes) {
  alignas(32) int32_t lanes[8];
  for (int r = 0; r < 8; r++) lanes[r] = static_cast<int32_t>(x4_row_offset<kX4>(r, rs, block_bytes));
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes));
}
inline __m256i rows_mask(int nr) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0));
}
inline __m256i gather(__m256i mask, __m256i off, const uint8_t* base) {
  return _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), reinterpret_cast<const int*>(base), off, mask, 1);
}

// The f16 scale at the start of each row's block b (0 for missing rows).
template <typename Block>
void block_scales(const uint8_t* rows, size_t rs, int nr, int64_t b, float* dst) {
  for (int r = 0; r < kRows; r++)
    dst[r] = r < nr ? _cvtsh_ss(reinterpret_cast<const Block*>(rows + rs * r)[b].d) : 0.0f;
}

// q4_0, q4_1 (kMin), q5_0 (kFive), q5_1 (both): qs bytes 4g..4g+3 hold values
// 4g..4g+3 (low nibbles) and 16+4g.. (high); q5 adds bit v of qh as bit 4 of
// value v. q4_1/q5_1 store -m as the row's "min" (x = d*q + m).
template <typename Block, bool kMin, bool kFive>
void pack_legacy(int64_t k, const uint8_t* rows, size_t rs, int nr, uint8_t* panel) {
  const int64_t nb = k / 32;
  const __m256i off = row_offsets(rs), m = rows_mask(nr), lo4 = _mm256_set1_epi8(0x0F);
  float* scales = reinterpret_cast<float*>(panel + weights_bytes(k));
  float* mins = scales + 8 * nb;
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* base = rows + b * sizeof(Block);
    __m256i* dst = reinterpret_cast<__m256i*>(panel + b * 256);
    for (int g = 0; g < 4; g++) {
      const __m256i v = gather(m, off, base + offsetof(Block, qs) + 4 * g);
      _mm256_storeu_si256(dst + g, _mm256_and_si256(v, lo4));
      _mm256_storeu_si256(dst + g + 4, _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4));
    }
    if constexpr (kFive) {
      const __m256i qh = gather(m, off, base + offsetof(Block, qh));
      for (int g = 0; g < 8; g++) {
        // bits 4g..4g+3 -> bit 4 of bytes 0..3 (x * 0x204081 spreads 4 bits 7 apart)
        const __m256i t = _mm256_and_si256(_mm256_srli_epi32(qh, 4 * g), _mm256_set1_epi32(0xF));
        const __m256i bits =
            _mm256_and_si256(_mm256_mullo_epi32(t, _mm256_set1_epi32(0x204081)), _mm256_set1_epi32(0x01010101));
        _mm256_storeu_si256(dst + g, _mm256_or_si256(_mm256_loadu_si256(dst + g), _mm256_slli_epi32(bits, 4)));
      }
    }
    block_scales<Block>(rows, rs, nr, b, scales + 8 * b);
    if constexpr (kMin)
      for (int r = 0; r < kRows; r++)
        mins[8 * b + r] = r < nr ? -_cvtsh_ss((reinterpret_cast<const Block*>(rows + rs * r) + b)->m) : 0.0f;
  }
}

template <bool kVnni>
void pack_q8_0(int64_t k, const uint8_t* rows, size_t rs, int nr, uint8_t* panel) {
  const int64_t nb = k / QK8_0;
  const __m256i off = row_offsets(rs), m = rows_mask(nr);
  const __m256i flip = _mm256_set1_epi8(kVnni ? static_cast<char>(0x80) : 0);
  float* scales = reinterpret_cast<float*>(panel + weights_bytes(k));
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* base = rows + b * sizeof(block_q8_0);
    __m256i* dst = reinterpret_cast<__m256i*>(panel + b * 256);
    for (int g = 0; g < 8; g++) _mm256_storeu_si256(dst + g, _mm256_xor_si256(gather(m, off, base + 2 + 4 * g), flip));
    block_scales<block_q8_0>(rows, rs, nr, b, scales + 8 * b);
  }
}

// q4_K and q5_K (kFive): 8 sub-blocks of 32 with 6-bit scales and mins; q5_K
// adds bit 2j (sub-block 2j) / 2j+1 (sub-block 2j+1) of qh[l] as value bit 4.
// kX4: the rows interleaved 4 at a time (regroup_x4.h), `rows` the first group and rs a group's
// bytes: row r's super-block s at (r / 4) * rs + (4 s + r % 4) * sizeof(Block); the same panel bytes.
template <typename Block, bool kFive, bool kX4 = false>
void pack_k_mins(int64_t k, const uint8_t* rows, size_t rs, int nr, uint8_t* panel) {
  const int64_t nsb = k / QK_K, nb = k / 32;
  const size_t block_step = x4_block_step<kX4>(sizeof(Block));
  const __m256i off = block_row_offsets<kX4>(rs, sizeof(Block)), m = rows_mask(nr);
  const __m256i lo4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
  float* scales = reinterpret_cast<float*>(panel + weights_bytes(k));
  float* mins = scales + 8 * nb;
  std::memset(scales, 0, sizeof(float) * 16 * static_cast<size_t>(nb));
  for (int64_t s = 0; s < nsb; s++) {
    const uint8_t* base = rows + s * block_step;
    for (int g = 0; g < 8; g++) {
      __m256i qh = _mm256_setzero_si256();
      if constexpr (kFive) qh = gather(m, off, base + offsetof(block_q5_K, qh) + 4 * g);
      for (int j = 0; j < 4; j++) {  // qs[32j + i]: value i of sub-block 2j (low nibble) and 2j+1 (high)
        const __m256i v = gather(m, off, base + offsetof(Block, qs) + 32 * j + 4 * g);
        __m256i lo = _mm256_and_si256(v, lo4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4);
        if constexpr (kFive) {
          const __m256i b0 = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * j)), one);
          const __m256i b1 = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * j + 1)), one);
          lo = _mm256_or_si256(lo, _mm256_slli_epi16(b0, 4));
          hi = _mm256_or_si256(hi, _mm256_slli_epi16(b1, 4));
        }
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel + (8 * s + 2 * j) * 256 + 32 * g), lo);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel + (8 * s + 2 * j + 1) * 256 + 32 * g), hi);
      }
    }
    for (int r = 0; r < nr; r++) {
      const Block& x = *reinterpret_cast<const Block*>(base + x4_row_offset<kX4>(r, rs, sizeof(Block)));
      const float d = _cvtsh_ss(x.d), dmin = _cvtsh_ss(x.dmin);
      for (int j = 0; j < 8; j++) {
        uint8_t sc, mn;
        get_scale_min_k4(j, x.scales, &sc, &mn);
        scales[8 * (8 * s + j) + r] = d * sc;
        mins[8 * (8 * s + j) + r] = dmin * mn;
      }
    }
  }
}

// q6_K: value l of the 32 in quarter kk of half h is the low (kk < 2) or high
// nibble of ql[64h + 32(kk & 1) + l] with bits 2kk, 2kk+1 of qh[32h + l] above
// it (0..63; the -32 is the activation side's). kX4: as pack_k_mins'.
template <bool kX4 = false>
void pack_q6_K(int64_t k, const uint8_t* rows, size_t rs, int nr, uint8_t* panel) {
  const int64_t nsb = k / QK_K, nb = k / 32;
  const size_t block_step = x4_block_step<kX4>(sizeof(block_q6_K));
  const __m256i off = block_row_offsets<kX4>(rs, sizeof(block_q6_K)), m = rows_mask(nr);
  const __m256i lo4 = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3);
  float* scales = reinterpret_cast<float*>(panel + weights_bytes(k));  // [nb][2][8]
  std::memset(scales, 0, sizeof(float) * 16 * static_cast<size_t>(nb));
  for (int64_t s = 0; s < nsb; s++) {
    const uint8_t* base = rows + s * block_step;
    for (int h = 0; h < 2; h++)
      for (int g = 0; g < 8; g++) {
        const __m256i l0 = gather(m, off, base + offsetof(block_q6_K, ql) + 64 * h + 4 * g);
        const __m256i l1 = gather(m, off, base + offsetof(block_q6_K, ql) + 64 * h + 32 + 4 * g);
        const __m256i qh = gather(m, off, base + offsetof(block_q6_K, qh) + 32 * h + 4 * g);
        for (int kk = 0; kk < 4; kk++) {
          const __m256i l = (kk & 1) ? l1 : l0;
          const __m256i nib = _mm256_and_si256(kk < 2 ? l : _mm256_srli_epi16(l, 4), lo4);
          const __m256i hi = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * kk)), three);
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel + (8 * s + 4 * h + kk) * 256 + 32 * g),
                              _mm256_or_si256(nib, _mm256_slli_epi16(hi, 4)));
        }
      }
    for (int r = 0; r < nr; r++) {
      const block_q6_K& x = *reinterpret_cast<const block_q6_K*>(base + x4_row_offset<kX4>(r, rs, sizeof(block_q6_K)));
      const float d = _cvtsh_ss(x.d);
      for (int h = 0; h < 2; h++)
        for (int kk = 0; kk < 4; kk++) {
          const int64_t b = 8 * s + 4 * h + kk;
          scales[16 * b + r] = d * x.scales[8 * h + 2 * kk];
          scales[16 * b + 8 + r] = d * x.scales[8 * h + 2 * kk + 1];
        }
    }
  }
}

// ---- the low-bit types -----------------------------------------------------

// The 16 iq4 levels in both 128-bit lanes, for vpshufb: signed, or + 128
// (unsigned) for VNNI.
template <bool kVnni>
inline __m256i iq4_table() {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues));
  return _mm256_broadcastsi128_si256(kVnni ? _mm_xor_si128(t, _mm_set1_epi8(static_cast<char>(0x80))) : t);
}

// Values 4g..4g+3 (low nibbles) and 16+4g.. (high) of 32 at `qs`, looked up.
inline void pack_iq4_group(__m256i m, __m256i off, const uint8_t* qs, int g, __m256i table, __m256i* dst) {
  const __m256i lo4 = _mm256_set1_epi8(0x0F);
  const __m256i v = gather(m, off, qs + 4 * g);
  _mm256_storeu_si256(dst + g, _mm256_shuffle_epi8(table, _mm256_and_si256(v, lo4)));
  _mm256_storeu_si256(dst + g + 4, _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4)));
}

// iq4_nl: the q8_0 layout with looked-up levels.
template <bool kVnni>
void pack_iq4_nl(int64_t k, const uint8_t* rows, size_t rs, int nr, uint8_t* panel) {
  const int64_t nb = k / QK4_NL;
  const __m256i off = row_offsets(rs), m = rows_mask(nr), table = iq4_table<kVnni>();
  float* scales = reinterpret_cast<float*>(panel + weights_bytes(k));
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* base = rows + b * sizeof(block_iq4_nl);
    __m256i* dst = reinterpret_cast<__m256i*>(panel + b * 256);
    for (int g = 0; g < 4; g++) pack_iq4_group(m, off, base + offsetof(block_iq4_nl, qs), g, table, dst);
    block_scales<block_iq4_nl>(rows, rs, nr, b, scales + 8 * b);
  }
}

// iq4_xs: each sub-block of 32 as an iq4_nl block with scale d * (ls - 32).
template <bool kVnni>
void pack_iq4_xs(int64_t k, const uint8_t* rows, size_t rs, int nr, uint8_t* panel) {
  const int64_t nsb = k / QK_K;
  const __m256i off = row_offsets(rs), m = rows_mask(nr), table = iq4_table<kVnni>();
  float* scales = reinterpret_cast<float*>(panel + weights_bytes(k));
  for (int64_t s = 0; s < nsb; s++) {
    const uint8_t* base = rows + s * sizeof(block_iq4_xs);
    for (int t = 0; t < 8; t++) {
      __m256i* dst = reinterpret_cast<__m256i*>(panel + (8 * s + t) * 256);
      for (int g = 0; g < 4; g++) pack_iq4_group(m, off, base + offsetof(block_iq4_xs, qs) + 16 * t, g, table, dst);
    }
    for (int r = 0; r < kRows; r++) {
      const block_iq4_xs* x = reinterpret_cast<const block_iq4_xs*>(base + rs * r);
      const float d = r < nr ? _cvtsh_ss(x->d) : 0.0f;
      for (int t = 0; t < 8; t++) scales[8 * (8 * s + t) + r] = r < nr ? d * iq4_xs_scale(*x, t) : 0.0f;
    }
  }
}

// The low 16 bits of each lane as half -> f32.
inline __m256 halves_to_f32(__m256i v) {
  v = _mm256_and_si256(v, _mm256_set1_epi32(0xFFFF));
  return _mm256_cvtph_ps(_mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
}

// Bytes (as signed int8) times a per-lane int16 scale (the same in both halves
// of each 32-bit lane); the products must fit in a byte.
inline __m256i mul_bytes(__m256i v, __m256i scale) {
  const __m256i lo = _mm256_mullo_epi16(_mm256_srai_epi16(_mm256_slli_epi16(v, 8), 8), scale);
  const __m256i hi = _mm256_mullo_epi16(_mm256_srai_epi16(v, 8), scale);
  return _mm256_or_si256(_mm256_and_si256(lo, _mm256_set1_epi16(0xFF)), _mm256_slli_epi16(hi, 8));
}
// A per-lane value (low 16 bits used) in both int16 halves.
inline __m256i int16_pair(__m256i v) {
  return _mm256_or_si256(_mm256_and_si256(v, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(v, 16));
}

// q2_K: value q (0..3) times its sub-block's 4-bit scale (see gemm_avx512.cc).
void pack_q2_K(int64_t k, const uint8_t* rows, size_t rs, int nr, uint8_t* panel) {
  const int64_t nsb = k / QK_K;
  const __m256i off = row_offsets(rs), m = rows_mask(nr), three = _mm256_set1_epi8(3), nib = _mm256_set1_epi32(0xF);
  float* dsb = reinterpret_cast<float*>(panel + weights_bytes(k));  // [nsb][8]
  float* dmin = dsb + 8 * nsb;                                      // [nsb][8]
  int32_t* mins = reinterpret_cast<int32_t*>(dmin + 8 * nsb);       // [nsb][8][8]
  for (int64_t s = 0; s < nsb; s++) {
    const uint8_t* base = rows + s * sizeof(block_q2_K);
    __m256i sc[4];
    for (int i = 0; i < 4; i++) sc[i] = gather(m, off, base + offsetof(block_q2_K, scales) + 4 * i);
    for (int h = 0; h < 2; h++)
      for (int g = 0; g < 8; g++) {
        const __m256i q = gather(m, off, base + offsetof(block_q2_K, qs) + 32 * h + 4 * g);
        for (int j = 0; j < 4; j++) {
          const int t = 4 * h + j, sub = 2 * t + (g >= 4);
          const __m256i scale =
              int16_pair(_mm256_and_si256(_mm256_srl_epi32(sc[sub / 4], _mm_cvtsi32_si128(8 * (sub % 4))), nib));
          const __m256i v = _mm256_and_si256(_mm256_srl_epi16(q, _mm_cvtsi32_si128(2 * j)), three);
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel + (8 * s + t) * 256 + 32 * g),
                              _mm256_mullo_epi16(v, scale));
        }
      }
    const __m256i dm = gather(m, off, base + offsetof(block_q2_K, d));  // d | dmin << 16
    _mm256_storeu_ps(dsb + 8 * s, halves_to_f32(dm));
    _mm256_storeu_ps(dmin + 8 * s, halves_to_f32(_mm256_srli_epi32(dm, 16)));
    for (int j = 0; j < 8; j++) {
      const __m256i v = _mm256_srl_epi32(sc[j / 2], _mm_cvtsi32_si128(16 * (j % 2)));
      const __m256i pair = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(v, 4), nib),
                                           _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(v, 12), nib), 16));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(mins + 8 * (8 * s + j)), pair);
    }
  }
}

// q3_K: (4 - q3) times its sub-block's signed 6-bit scale (+ 128 for VNNI);
// the scale region holds -d (see gemm_avx512.cc).
template <bool kVnni>
void pack_q3_K(int64_t k, const uint8_t* rows, size_t rs, int nr, uint8_t* panel) {
  const int64_t nsb = k / QK_K;
  const __m256i off = row_offsets(rs), m = rows_mask(nr), three = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
  const __m256i lo4 = _mm256_set1_epi32(0x0f0f0f0f), hi2 = _mm256_set1_epi32(0x30303030);
  const __m256i flip = _mm256_set1_epi8(kVnni ? static_cast<char>(0x80) : 0);
  float* dsb = reinterpret_cast<float*>(panel + weights_bytes(k));  // [nsb][8]
  for (int64_t s = 0; s < nsb; s++) {
    const uint8_t* base = rows + s * sizeof(block_q3_K);
    const __m256i a0 = gather(m, off, base + offsetof(block_q3_K, scales));
    const __m256i a1 = gather(m, off, base + offsetof(block_q3_K, scales) + 4);
    const __m256i a2 = gather(m, off, base + offsetof(block_q3_K, scales) + 8);
    const __m256i sc[4] = {
        _mm256_or_si256(_mm256_and_si256(a0, lo4), _mm256_and_si256(_mm256_slli_epi32(a2, 4), hi2)),
        _mm256_or_si256(_mm256_and_si256(a1, lo4), _mm256_and_si256(_mm256_slli_epi32(a2, 2), hi2)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(a0, 4), lo4), _mm256_and_si256(a2, hi2)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(a1, 4), lo4),
                        _mm256_and_si256(_mm256_srli_epi32(a2, 2), hi2)),
    };
    for (int g = 0; g < 8; g++) {
      const __m256i hm = gather(m, off, base + offsetof(block_q3_K, hmask) + 4 * g);
      for (int h = 0; h < 2; h++) {
        const __m256i q = gather(m, off, base + offsetof(block_q3_K, qs) + 32 * h + 4 * g);
        for (int j = 0; j < 4; j++) {
          const int t = 4 * h + j, sub = 2 * t + (g >= 4);
          const __m256i sb =
              _mm256_and_si256(_mm256_srl_epi32(sc[sub / 4], _mm_cvtsi32_si128(8 * (sub % 4))), _mm256_set1_epi32(63));
          const __m256i scale = int16_pair(_mm256_sub_epi32(sb, _mm256_set1_epi32(32)));
          const __m256i q2 = _mm256_and_si256(_mm256_srl_epi16(q, _mm_cvtsi32_si128(2 * j)), three);
          const __m256i h3 = _mm256_and_si256(_mm256_srl_epi16(hm, _mm_cvtsi32_si128(t)), one);
          const __m256i v = _mm256_sub_epi8(_mm256_set1_epi8(4), _mm256_or_si256(q2, _mm256_slli_epi16(h3, 2)));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(panel + (8 * s + t) * 256 + 32 * g),
                              _mm256_xor_si256(mul_bytes(v, scale), flip));
        }
      }
    }
    const __m256i d = _mm256_srli_epi32(gather(m, off, base + offsetof(block_q3_K, d) - 2), 16);
    _mm256_storeu_ps(dsb + 8 * s, _mm256_sub_ps(_mm256_setzero_ps(), halves_to_f32(d)));
  }
}

// The float part shared by both variants: acc += sum * (dw * da) (q4_K: minus
// mins * da * sum(a); q6_K: plus the second half's sum * (dw_hi * da)).
#define MM_PANEL_ACCUMULATE(sum_expr, sum_hi_expr)                                                              \
  for (int c = 0; c < C; c++) {                                                                                 \
    const uint8_t* a = act + as * c;                                                                            \
    const __m256 da = _mm256_set1_ps(reinterpret_cast<const float*>(a + k)[b]);                                 \
    acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum_expr), _mm256_mul_ps(dw, da), acc[c]);                      \
    if constexpr (K == kQ6_K)                                                                                   \
      acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum_hi_expr), _mm256_mul_ps(dw_hi, da), acc[c]);              \
    if constexpr (K == kQ4_K || K == kQ5_K)                                                                     \
      acc[c] = _mm256_fnmadd_ps(_mm256_loadu_ps(mins + 8 * b),                                                  \
                                _mm256_set1_ps(reinterpret_cast<const float*>(a + k + 4 * nb)[2 * b]), acc[c]); \
  }

// The activation's integer start terms of block b (see the layout in gemm_panel.h).
inline __m256i start_term(const uint8_t* a, int64_t k, int64_t nb, int64_t b, int half) {
  return _mm256_set1_epi32(reinterpret_cast<const int32_t*>(a + k + 4 * nb)[2 * b + half]);
}

template <int C>
void store(const __m256* acc, float* out, size_t os, int nr, const float* bias) {
  const __m256i m = rows_mask(nr);
  const __m256 bv = bias ? _mm256_maskload_ps(bias, m) : _mm256_setzero_ps();
  for (int c = 0; c < C; c++) {
    const __m256 v = _mm256_add_ps(acc[c], bv);
    if (nr == kRows)
      _mm256_storeu_ps(out + os * c, v);
    else
      _mm256_maskstore_ps(out + os * c, m, v);
  }
}

// C activation rows x 8 panel rows, maddubs.
template <int C, Kind K>
void kernel_avx2(int64_t k, const uint8_t* panel, const uint8_t* act, size_t as, float* out, size_t os, int nr,
                 const float* bias) {
  const int64_t nb = k / 32;
  const float* scales = reinterpret_cast<const float*>(panel + weights_bytes(k));
  const float* mins = scales + 8 * nb;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[C];
  for (int c = 0; c < C; c++) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const __m256i* wp = reinterpret_cast<const __m256i*>(panel + b * 256);
    const __m256 dw = _mm256_loadu_ps(scales + (K == kQ6_K ? 16 : 8) * b);
    const __m256 dw_hi = K == kQ6_K ? _mm256_loadu_ps(scales + 16 * b + 8) : dw;
    __m256i sum[C], sum_hi[C];
    if constexpr (K == kQ8_0) {
      for (int c = 0; c < C; c++) sum[c] = _mm256_setzero_si256();
      for (int g = 0; g < 8; g++) {
        const __m256i w = _mm256_loadu_si256(wp + g), aw = _mm256_sign_epi8(w, w);
        for (int c = 0; c < C; c++) {
          const __m256i a4 = bcast4(act + as * c + 32 * b + 4 * g);
          sum[c] = _mm256_add_epi32(sum[c], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(a4, w)), ones));
        }
      }
    } else if constexpr (K == kQ5_K || K == kQ5_0) {
      // Four groups at a time in int16, then madd.
      for (int c = 0; c < C; c++) sum[c] = K == kQ5_0 ? start_term(act + as * c, k, nb, b, 0) : _mm256_setzero_si256();
      for (int g0 = 0; g0 < 8; g0 += 4) {
        __m256i s16[C];
        for (int c = 0; c < C; c++) s16[c] = _mm256_setzero_si256();
        for (int g = g0; g < g0 + 4; g++) {
          const __m256i w = _mm256_loadu_si256(wp + g);
          for (int c = 0; c < C; c++) {
            const __m256i a4 = bcast4(act + as * c + 32 * b + 4 * g);
            s16[c] = _mm256_add_epi16(s16[c], _mm256_maddubs_epi16(w, a4));
          }
        }
        for (int c = 0; c < C; c++) sum[c] = _mm256_add_epi32(sum[c], _mm256_madd_epi16(s16[c], ones));
      }
    } else if constexpr (K == kQ6_K) {
      // Groups in pairs in int16, then madd; halves of 16 values kept apart.
      for (int c = 0; c < C; c++)
        sum[c] = start_term(act + as * c, k, nb, b, 0), sum_hi[c] = start_term(act + as * c, k, nb, b, 1);
      for (int g = 0; g < 8; g += 2) {
        const __m256i w0 = _mm256_loadu_si256(wp + g), w1 = _mm256_loadu_si256(wp + g + 1);
        for (int c = 0; c < C; c++) {
          const int8_t* q = reinterpret_cast<const int8_t*>(act + as * c) + 32 * b + 4 * g;
          const __m256i p =
              _mm256_add_epi16(_mm256_maddubs_epi16(w0, bcast4(q)), _mm256_maddubs_epi16(w1, bcast4(q + 4)));
          if (g < 4)
            sum[c] = _mm256_add_epi32(sum[c], _mm256_madd_epi16(p, ones));
          else
            sum_hi[c] = _mm256_add_epi32(sum_hi[c], _mm256_madd_epi16(p, ones));
        }
      }
    } else {
      for (int c = 0; c < C; c++) sum[c] = _mm256_setzero_si256();  // int16 pair sums
      for (int g = 0; g < 8; g++) {
        const __m256i w = _mm256_loadu_si256(wp + g);
        for (int c = 0; c < C; c++) {
          const __m256i a4 = bcast4(act + as * c + 32 * b + 4 * g);
          sum[c] = _mm256_add_epi16(sum[c], _mm256_maddubs_epi16(w, a4));
        }
      }
      for (int c = 0; c < C; c++) {
        sum[c] = _mm256_madd_epi16(sum[c], ones);
        if constexpr (K == kQ4_0) sum[c] = _mm256_add_epi32(sum[c], start_term(act + as * c, k, nb, b, 0));
      }
    }
    MM_PANEL_ACCUMULATE(sum[c], sum_hi[c])
  }
  store<C>(acc, out, os, nr, bias);
}

// Makes the compiler hold these values in registers here (an empty asm that reads and writes them).
inline void pin(__m256i& a, __m256i& b) { __asm__("" : "+x"(a), "+x"(b)); }

// q4_0, C (<= 2) activation rows x 16 rows of two panels, maddubs: each broadcast activation group
// feeds two maddubs (one per panel), where kernel_avx2 spends one broadcast per maddubs; without VNNI
// the broadcasts, not the multiplies, bound the 8-row kernel (hoisting them out made it ~25% faster).
// Two activation rows, not three: 8 running sums + 2 weight vectors + the broadcast + a product stay in
// 16 ymm; with three GCC spilled sums inside the loop (measured: llama1b prefill 85 tok/s against
// 120-135 with two).
template <int C>
void kernel_q4_0_pair(int64_t k, const uint8_t* p0, const uint8_t* p1, const uint8_t* act, size_t as, float* out,
                      size_t os, int nr0, int nr1, const float* bias) {
  const int64_t nb = k / 32;
  const float* scales0 = reinterpret_cast<const float*>(p0 + weights_bytes(k));
  const float* scales1 = reinterpret_cast<const float*>(p1 + weights_bytes(k));
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc0[C], acc1[C];
  for (int c = 0; c < C; c++) acc0[c] = acc1[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const __m256i* w0p = reinterpret_cast<const __m256i*>(p0 + b * 256);
    const __m256i* w1p = reinterpret_cast<const __m256i*>(p1 + b * 256);
    __m256i s0[C], s1[C];  // int16 pair sums (see kernel_avx2)
    for (int c = 0; c < C; c++) s0[c] = s1[c] = _mm256_setzero_si256();
    for (int g = 0; g < 8; g++) {
      const __m256i w0 = _mm256_loadu_si256(w0p + g), w1 = _mm256_loadu_si256(w1p + g);
      for (int c = 0; c < C; c++) {
        const __m256i a4 = bcast4(act + as * c + 32 * b + 4 * g);
        s0[c] = _mm256_add_epi16(s0[c], _mm256_maddubs_epi16(w0, a4));
        s1[c] = _mm256_add_epi16(s1[c], _mm256_maddubs_epi16(w1, a4));
        // Kept in registers as running sums: left free, GCC reassociates the adds into a tree whose
        // products go to the stack and back (105-113 tok/s against 122-135 pinned, llama1b prefill).
        pin(s0[c], s1[c]);
      }
    }
    const __m256 dw0 = _mm256_loadu_ps(scales0 + 8 * b), dw1 = _mm256_loadu_ps(scales1 + 8 * b);
    for (int c = 0; c < C; c++) {
      const uint8_t* a = act + as * c;
      const __m256i start = start_term(a, k, nb, b, 0);
      const __m256 da = _mm256_set1_ps(reinterpret_cast<const float*>(a + k)[b]);
      const __m256i i0 = _mm256_add_epi32(_mm256_madd_epi16(s0[c], ones), start);
      const __m256i i1 = _mm256_add_epi32(_mm256_madd_epi16(s1[c], ones), start);
      acc0[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i0), _mm256_mul_ps(dw0, da), acc0[c]);
      acc1[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i1), _mm256_mul_ps(dw1, da), acc1[c]);
    }
  }
  store<C>(acc0, out, os, nr0, bias);
  store<C>(acc1, out + kRows, os, nr1, bias ? bias + kRows : nullptr);
}

#if MM_HAVE_VNNI
// C activation rows x 8 panel rows, vpdpbusd (weights unsigned: nibbles, 6-bit or q + 128).
template <int C, Kind K>
MM_TARGET_VNNI void kernel_vnni(int64_t k, const uint8_t* panel, const uint8_t* act, size_t as, float* out, size_t os,
                                int nr, const float* bias) {
  const int64_t nb = k / 32;
  const float* scales = reinterpret_cast<const float*>(panel + weights_bytes(k));
  const float* mins = scales + 8 * nb;
  __m256 acc[C];
  for (int c = 0; c < C; c++) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const __m256i* wp = reinterpret_cast<const __m256i*>(panel + b * 256);
    const __m256 dw = _mm256_loadu_ps(scales + (K == kQ6_K ? 16 : 8) * b);
    const __m256 dw_hi = K == kQ6_K ? _mm256_loadu_ps(scales + 16 * b + 8) : dw;
    __m256i sum[C], sum_hi[C];
    for (int c = 0; c < C; c++) {
      sum[c] = K == kQ4_K || K == kQ5_K ? _mm256_setzero_si256() : start_term(act + as * c, k, nb, b, 0);
      sum_hi[c] = K == kQ6_K ? start_term(act + as * c, k, nb, b, 1) : _mm256_setzero_si256();
    }
    for (int g = 0; g < 8; g++) {
      const __m256i w = _mm256_loadu_si256(wp + g);
      for (int c = 0; c < C; c++) {
        const __m256i a4 = bcast4(act + as * c + 32 * b + 4 * g);
        if (K == kQ6_K && g >= 4)
          sum_hi[c] = _mm256_dpbusd_avx_epi32(sum_hi[c], w, a4);
        else
          sum[c] = _mm256_dpbusd_avx_epi32(sum[c], w, a4);
      }
    }
    MM_PANEL_ACCUMULATE(sum[c], sum_hi[c])
  }
  store<C>(acc, out, os, nr, bias);
}
#endif
#undef MM_PANEL_ACCUMULATE

// q2_K / q3_K (scales baked into the weights, see gemm_panel.h): a whole
// super-block sums in int32, then one FMA with d * da; q2_K subtracts
// dmin * da * (mins x sums of 16). The float part, shared by both variants:
template <int C, bool kQ2>
inline void super_accumulate(int64_t k, int64_t s, const uint8_t* panel, const uint8_t* act, size_t as,
                             const __m256i* sum, __m256* acc) {
  const int64_t nb = k / 32, nsb = k / QK_K;
  const float* dsb = reinterpret_cast<const float*>(panel + weights_bytes(k));
  const float* dmin = dsb + 8 * nsb;
  const int32_t* mins = reinterpret_cast<const int32_t*>(dmin + 8 * nsb);
  const __m256 dw = _mm256_loadu_ps(dsb + 8 * s);
  for (int c = 0; c < C; c++) {
    const uint8_t* a = act + as * c;
    const __m256 da = _mm256_set1_ps(reinterpret_cast<const float*>(a + k)[8 * s]);
    acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[c]), _mm256_mul_ps(dw, da), acc[c]);
    if constexpr (kQ2) {
      const int32_t* si = reinterpret_cast<const int32_t*>(a + k + 4 * nb) + 16 * s;
      __m256i ms = _mm256_setzero_si256();
      for (int j = 0; j < 8; j++)
        ms = _mm256_add_epi32(ms,
                              _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(mins) + 8 * s + j),
                                                _mm256_set1_epi32(si[2 * j + 1])));
      acc[c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(ms), _mm256_mul_ps(_mm256_loadu_ps(dmin + 8 * s), da), acc[c]);
    }
  }
}

// maddubs: q2_K's unsigned products (<= 45) add two groups in int16 before
// madd; q3_K's signed ones go through the sign trick, one madd per group.
template <int C, bool kQ2>
void kernel_super_avx2(int64_t k, const uint8_t* panel, const uint8_t* act, size_t as, float* out, size_t os, int nr,
                       const float* bias) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[C];
  for (int c = 0; c < C; c++) acc[c] = _mm256_setzero_ps();
  for (int64_t s = 0; s < k / QK_K; s++) {
    __m256i sum[C];
    for (int c = 0; c < C; c++) sum[c] = _mm256_setzero_si256();
    for (int64_t b = 8 * s; b < 8 * s + 8; b++) {
      const __m256i* wp = reinterpret_cast<const __m256i*>(panel + b * 256);
      for (int g = 0; g < 8; g += 2) {
        const __m256i w0 = _mm256_loadu_si256(wp + g), w1 = _mm256_loadu_si256(wp + g + 1);
        for (int c = 0; c < C; c++) {
          const int8_t* q = reinterpret_cast<const int8_t*>(act + as * c) + 32 * b + 4 * g;
          const __m256i a0 = bcast4(q), a1 = bcast4(q + 4);
          __m256i p;
          if constexpr (kQ2) {
            p = _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(w0, a0), _mm256_maddubs_epi16(w1, a1)), ones);
          } else {
            p = _mm256_add_epi32(
                _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w0, w0), _mm256_sign_epi8(a0, w0)), ones),
                _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w1, w1), _mm256_sign_epi8(a1, w1)), ones));
          }
          sum[c] = _mm256_add_epi32(sum[c], p);
        }
      }
    }
    super_accumulate<C, kQ2>(k, s, panel, act, as, sum, acc);
  }
  store<C>(acc, out, os, nr, bias);
}

#if MM_HAVE_VNNI
// vpdpbusd: q2_K's weights are unsigned as they are, q3_K's + 128 with the
// activation's -128 * sum as the starting value.
template <int C, bool kQ2>
MM_TARGET_VNNI void kernel_super_vnni(int64_t k, const uint8_t* panel, const uint8_t* act, size_t as, float* out,
                                      size_t os, int nr, const float* bias) {
  const int64_t nb = k / 32;
  __m256 acc[C];
  for (int c = 0; c < C; c++) acc[c] = _mm256_setzero_ps();
  for (int64_t s = 0; s < k / QK_K; s++) {
    __m256i sum[C];
    for (int c = 0; c < C; c++) sum[c] = kQ2 ? _mm256_setzero_si256() : start_term(act + as * c, k, nb, 8 * s, 0);
    for (int64_t b = 8 * s; b < 8 * s + 8; b++) {
      const __m256i* wp = reinterpret_cast<const __m256i*>(panel + b * 256);
      for (int g = 0; g < 8; g++) {
        const __m256i w = _mm256_loadu_si256(wp + g);
        for (int c = 0; c < C; c++) {
          const int8_t* q = reinterpret_cast<const int8_t*>(act + as * c) + 32 * b + 4 * g;
          sum[c] = _mm256_dpbusd_avx_epi32(sum[c], w, bcast4(q));
        }
      }
    }
    super_accumulate<C, kQ2>(k, s, panel, act, as, sum, acc);
  }
  store<C>(acc, out, os, nr, bias);
}
#endif

template <bool kQ2, bool kVnni>
void run_cols_super(int64_t k, const uint8_t* panel, const uint8_t* act, size_t as, int64_t n, float* out, size_t os,
                    int nr, const float* bias) {
  for_blocks<kCols>(n, [&](auto c, int64_t c0) {
    constexpr int C = decltype(c)::value;
#if MM_HAVE_VNNI
    if constexpr (kVnni) return kernel_super_vnni<C, kQ2>(k, panel, act + as * c0, as, out + os * c0, os, nr, bias);
#endif
    kernel_super_avx2<C, kQ2>(k, panel, act + as * c0, as, out + os * c0, os, nr, bias);
  });
}

// Float weights: C f32 activation rows x 8 panel rows, one FMA per value.
template <int C>
void kernel_float(int64_t k, const float* panel, const uint8_t* act, size_t as, float* out, size_t os, int nr,
                  const float* bias) {
  __m256 acc[C];
  for (int c = 0; c < C; c++) acc[c] = _mm256_setzero_ps();
  const float* x[C];
  for (int c = 0; c < C; c++) x[c] = reinterpret_cast<const float*>(act + as * c);
  for (int64_t i = 0; i < k; i++) {
    const __m256 w = _mm256_loadu_ps(panel + 8 * i);
    for (int c = 0; c < C; c++) acc[c] = _mm256_fmadd_ps(_mm256_broadcast_ss(x[c] + i), w, acc[c]);
  }
  store<C>(acc, out, os, nr, bias);
}

void run_cols_float(int64_t k, const float* panel, const uint8_t* act, size_t as, int64_t n, float* out, size_t os,
                    int nr, const float* bias) {
  // 12 accumulators + weights + broadcast of 16 ymm
  for_blocks<12>(n, [&](auto c, int64_t c0) {
    kernel_float<decltype(c)::value>(k, panel, act + as * c0, as, out + os * c0, os, nr, bias);
  });
}

template <Kind K, bool kVnni>
void run_cols(int64_t k, const uint8_t* panel, const uint8_t* act, size_t as, int64_t n, float* out, size_t os, int nr,
              const float* bias) {
  for_blocks<kCols>(n, [&](auto c, int64_t c0) {
    constexpr int C = decltype(c)::value;
#if MM_HAVE_VNNI
    if constexpr (kVnni) return kernel_vnni<C, K>(k, panel, act + as * c0, as, out + os * c0, os, nr, bias);
#endif
    kernel_avx2<C, K>(k, panel, act + as * c0, as, out + os * c0, os, nr, bias);
  });
}

size_t panel_bytes(DType w, int64_t k) { return panel_bytes_for(kRows, w, k); }

template <bool kVnni>
void pack_panel(DType w, int64_t k, const uint8_t* rows, size_t row_stride, int nr, uint8_t* panel) {
  if (panel_float_weights(w))
    return pack_float_panel(w, k, rows, row_stride, nr, kRows, reinterpret_cast<float*>(panel));
  switch (w) {
    case DType::Q4_0: return pack_legacy<block_q4_0, false, false>(k, rows, row_stride, nr, panel);
    case DType::Q4_1: return pack_legacy<block_q4_1, true, false>(k, rows, row_stride, nr, panel);
    case DType::Q5_0: return pack_legacy<block_q5_0, false, true>(k, rows, row_stride, nr, panel);
    case DType::Q5_1: return pack_legacy<block_q5_1, true, true>(k, rows, row_stride, nr, panel);
    case DType::Q8_0: return pack_q8_0<kVnni>(k, rows, row_stride, nr, panel);
    case DType::Q4_K: return pack_k_mins<block_q4_K, false>(k, rows, row_stride, nr, panel);
    case DType::Q5_K: return pack_k_mins<block_q5_K, true>(k, rows, row_stride, nr, panel);
    case DType::Q6_K: return pack_q6_K(k, rows, row_stride, nr, panel);
    case DType::Q2_K: return pack_q2_K(k, rows, row_stride, nr, panel);
    case DType::Q3_K: return pack_q3_K<kVnni>(k, rows, row_stride, nr, panel);
    case DType::IQ4_NL: return pack_iq4_nl<kVnni>(k, rows, row_stride, nr, panel);
    case DType::IQ4_XS: return pack_iq4_xs<kVnni>(k, rows, row_stride, nr, panel);
    default: return;
  }
}

template <bool kVnni>
void gemm_panel(DType w, int64_t k, const uint8_t* panel, int nr, const uint8_t* act, size_t act_stride, int64_t n,
                float* out, size_t out_stride, const float* bias) {
  if (panel_float_weights(w))
    return run_cols_float(k, reinterpret_cast<const float*>(panel), act, act_stride, n, out, out_stride, nr, bias);
  switch (w) {
    case DType::Q4_0: return run_cols<kQ4_0, kVnni>(k, panel, act, act_stride, n, out, out_stride, nr, bias);
    case DType::Q5_0: return run_cols<kQ5_0, kVnni>(k, panel, act, act_stride, n, out, out_stride, nr, bias);
    case DType::Q4_1: return run_cols<kQ4_K, kVnni>(k, panel, act, act_stride, n, out, out_stride, nr, bias);
    case DType::Q5_1: return run_cols<kQ5_K, kVnni>(k, panel, act, act_stride, n, out, out_stride, nr, bias);
    case DType::Q8_0: return run_cols<kQ8_0, kVnni>(k, panel, act, act_stride, n, out, out_stride, nr, bias);
    case DType::Q4_K: return run_cols<kQ4_K, kVnni>(k, panel, act, act_stride, n, out, out_stride, nr, bias);
    case DType::Q5_K: return run_cols<kQ5_K, kVnni>(k, panel, act, act_stride, n, out, out_stride, nr, bias);
    case DType::Q6_K: return run_cols<kQ6_K, kVnni>(k, panel, act, act_stride, n, out, out_stride, nr, bias);
    case DType::IQ4_NL:
    case DType::IQ4_XS: return run_cols<kQ8_0, kVnni>(k, panel, act, act_stride, n, out, out_stride, nr, bias);
    case DType::Q2_K: return run_cols_super<true, kVnni>(k, panel, act, act_stride, n, out, out_stride, nr, bias);
    case DType::Q3_K: return run_cols_super<false, kVnni>(k, panel, act, act_stride, n, out, out_stride, nr, bias);
    default: return;
  }
}

// Two panels: q4_0 through kernel_q4_0_pair (2 activation rows x 16 weight rows), other types one panel
// after the other.
void gemm_panel_pair(DType w, int64_t k, const uint8_t* p0, int nr0, const uint8_t* p1, int nr1, const uint8_t* act,
                     size_t as, int64_t n, float* out, size_t os, const float* bias) {
  if (w != DType::Q4_0) {
    gemm_panel<false>(w, k, p0, nr0, act, as, n, out, os, bias);
    return gemm_panel<false>(w, k, p1, nr1, act, as, n, out + kRows, os, bias ? bias + kRows : nullptr);
  }
  for_blocks<2>(n, [&](auto c, int64_t c0) {
    kernel_q4_0_pair<decltype(c)::value>(k, p0, p1, act + as * c0, as, out + os * c0, os, nr0, nr1, bias);
  });
}

}  // namespace

// A panel from q4_K / q5_K / q6_K rows interleaved 4 at a time (regroup_x4.h): its first group at `groups`,
// nr real rows (4 or 8), the next group after it. (The same panel at both levels.)
void x4_pack_panel(DType w, int64_t k, const uint8_t* groups, int nr, uint8_t* panel) {
  const size_t gb = x4_group_bytes(w, k);
  if (w == DType::Q4_K) return pack_k_mins<block_q4_K, false, true>(k, groups, gb, nr, panel);
  if (w == DType::Q5_K) return pack_k_mins<block_q5_K, true, true>(k, groups, gb, nr, panel);
  if (w == DType::Q6_K) return pack_q6_K<true>(k, groups, gb, nr, panel);
}

const PanelKernels& panel_kernels() {
  static const PanelKernels plain = [] {
    PanelKernels p{kRows,           panel_supports, panel_bytes, pack_panel<false>, gemm_panel<false>,
                   gemm_panel_pair, x8_pack_panel};
    p.pack_x4 = x4_pack_panel;
    return p;
  }();
#if MM_HAVE_VNNI
  static const PanelKernels vnni = [] {
    PanelKernels p{kRows, panel_supports, panel_bytes, pack_panel<true>, gemm_panel<true>, nullptr, x8_pack_panel_vnni};
    p.pack_x4 = x4_pack_panel;
    return p;
  }();
  if (cpu_use_avx_vnni()) return vnni;
#endif
  return plain;
}

}  // namespace avx2
}  // namespace mm
