// AVX-512 VNNI panel GEMM (see gemm_panel.h). The only file compiled with
// AVX-512 enabled; matmul.cc calls it only after cpu_use_avx512().
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own AVX-512 headers trip this warning (_mm512_undefined_* idioms).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstring>

#include "../../kernels/quant_blocks.h"
#include "count_blocks.h"
#include "gemm_panel.h"
#include "regroup_x4.h"
#include "regroup_x8.h"

namespace mm {
namespace avx512 {

namespace {

constexpr int kRows = 16;  // weight rows per panel: one int32 lane each
constexpr int kCols = 8;   // activation rows per kernel call: 8 accumulators + 8 weight registers

inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

// Panel layout for k values (nb = k / 32 blocks of 32):
//   [nb][8 groups][16 rows][4 bytes]  unsigned weight bytes (one 64-byte vector per group)
//   [nb][16] f32                      scale per row and block
//   [nb][16] f32                      q4_K, q5_K only: min per row and block (dmin * m)
// q6_K instead: [nb][2][16] f32, the scales of each block's two halves of 16.
inline size_t weights_bytes(int64_t k) { return static_cast<size_t>(k / 32) * 512; }

// Byte offsets of rows 0..15 from the first, masked to the rows that exist.
// The 16 rows' offsets (x4_row_offset) for gathering a super-block type's panel.
template <bool kX4>
inline __m512i block_row_offsets(size_t rs, size_t block_bytes) {
  alignas(64) int32_t lanes[16];
  for (int r = 0; r < 16; r++) lanes[r] = static_cast<int32_t>(x4_row_offset<kX4>(r, rs, block_bytes));
  return _mm512_load_si512(lanes);
}
inline __m512i row_offsets(size_t row_stride) {
  return _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                            _mm512_set1_epi32(static_cast<int>(row_stride)));
}

inline __m512i gather(__mmask16 m, __m512i off, const uint8_t* base) {
  return _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, off, base, 1);
}

// The low 16 bits of each lane as half -> f32.
inline __m512 halves_to_f32(__m512i v) { return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v)); }

// q4_0, q4_1 (kMin), q5_0 (kFive), q5_1 (both): qs bytes 4g..4g+3 hold values
// 4g..4g+3 (low nibbles) and 16+4g.. (high); q5 adds bit v of qh as bit 4 of
// value v. q4_1/q5_1 store -m as the row's "min" (x = d*q + m).
template <typename Block, bool kMin, bool kFive>
void pack_legacy(int64_t k, const uint8_t* rows, size_t rs, __mmask16 m, uint8_t* panel) {
  const int64_t nb = k / 32;
  const __m512i off = row_offsets(rs), lo4 = _mm512_set1_epi8(0x0F);
  float* scales = reinterpret_cast<float*>(panel + weights_bytes(k));
  float* mins = scales + 16 * nb;
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* base = rows + b * sizeof(Block);
    __m512i* dst = reinterpret_cast<__m512i*>(panel + b * 512);
    for (int g = 0; g < 4; g++) {
      const __m512i v = gather(m, off, base + offsetof(Block, qs) + 4 * g);
      _mm512_storeu_si512(dst + g, _mm512_and_si512(v, lo4));
      _mm512_storeu_si512(dst + g + 4, _mm512_and_si512(_mm512_srli_epi16(v, 4), lo4));
    }
    if constexpr (kFive) {
      const __m512i qh = gather(m, off, base + offsetof(Block, qh));
      for (int g = 0; g < 8; g++) {
        // bits 4g..4g+3 -> bit 4 of bytes 0..3 (x * 0x204081 spreads 4 bits 7 apart)
        const __m512i t = _mm512_and_si512(_mm512_srli_epi32(qh, 4 * g), _mm512_set1_epi32(0xF));
        const __m512i bits =
            _mm512_and_si512(_mm512_mullo_epi32(t, _mm512_set1_epi32(0x204081)), _mm512_set1_epi32(0x01010101));
        _mm512_storeu_si512(dst + g, _mm512_or_si512(_mm512_loadu_si512(dst + g), _mm512_slli_epi32(bits, 4)));
      }
    }
    const __m512i dm = gather(m, off, base);  // d (and m) in the first 4 bytes
    _mm512_storeu_ps(scales + 16 * b, halves_to_f32(dm));
    if constexpr (kMin)
      _mm512_storeu_ps(mins + 16 * b, _mm512_sub_ps(_mm512_setzero_ps(), halves_to_f32(_mm512_srli_epi32(dm, 16))));
  }
}

void pack_q8_0(int64_t k, const uint8_t* rows, size_t rs, __mmask16 m, uint8_t* panel) {
  const int64_t nb = k / QK8_0;
  const __m512i off = row_offsets(rs), flip = _mm512_set1_epi8(static_cast<char>(0x80));
  float* scales = reinterpret_cast<float*>(panel + weights_bytes(k));
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* base = rows + b * sizeof(block_q8_0);
    __m512i* dst = reinterpret_cast<__m512i*>(panel + b * 512);
    // q + 128 as unsigned (the activation side subtracts 128 * sum).
    for (int g = 0; g < 8; g++) _mm512_storeu_si512(dst + g, _mm512_xor_si512(gather(m, off, base + 2 + 4 * g), flip));
    _mm512_storeu_ps(scales + 16 * b, halves_to_f32(gather(m, off, base)));
  }
}

// q4_K and q5_K (kFive): 8 sub-blocks of 32 with 6-bit scales and mins; q5_K
// adds bit 2j (sub-block 2j) / 2j+1 (sub-block 2j+1) of qh[l] as value bit 4.
// kX4: the rows interleaved 4 at a time (regroup_x4.h), `rows` the first
// group and rs a group's bytes: row r's super-block s at (r / 4) * rs +
// (4 s + r % 4) * sizeof(Block). The same panel bytes as from the rows in place.
template <typename Block, bool kFive, bool kX4 = false>
void pack_k_mins(int64_t k, const uint8_t* rows, size_t rs, int nr, __mmask16 m, uint8_t* panel) {
  const int64_t nsb = k / QK_K, nb = k / 32;
  const size_t block_step = x4_block_step<kX4>(sizeof(Block));
  const __m512i off = block_row_offsets<kX4>(rs, sizeof(Block)), lo4 = _mm512_set1_epi8(0x0F),
                one = _mm512_set1_epi8(1);
  float* scales = reinterpret_cast<float*>(panel + weights_bytes(k));
  float* mins = scales + 16 * nb;
  std::memset(scales, 0, sizeof(float) * 32 * static_cast<size_t>(nb));
  for (int64_t s = 0; s < nsb; s++) {
    const uint8_t* base = rows + s * block_step;
    for (int g = 0; g < 8; g++) {
      __m512i qh = _mm512_setzero_si512();
      if constexpr (kFive) qh = gather(m, off, base + offsetof(block_q5_K, qh) + 4 * g);
      // qs[32j + i]: value i of sub-block 2j (low nibble) and of 2j+1 (high).
      for (int j = 0; j < 4; j++) {
        const __m512i v = gather(m, off, base + offsetof(Block, qs) + 32 * j + 4 * g);
        __m512i lo = _mm512_and_si512(v, lo4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), lo4);
        if constexpr (kFive) {
          const __m512i b0 = _mm512_and_si512(_mm512_srl_epi16(qh, _mm_cvtsi32_si128(2 * j)), one);
          const __m512i b1 = _mm512_and_si512(_mm512_srl_epi16(qh, _mm_cvtsi32_si128(2 * j + 1)), one);
          lo = _mm512_or_si512(lo, _mm512_slli_epi16(b0, 4));
          hi = _mm512_or_si512(hi, _mm512_slli_epi16(b1, 4));
        }
        _mm512_storeu_si512(panel + (8 * s + 2 * j) * 512 + 64 * g, lo);
        _mm512_storeu_si512(panel + (8 * s + 2 * j + 1) * 512 + 64 * g, hi);
      }
    }
    for (int r = 0; r < nr; r++) {
      const Block& x = *reinterpret_cast<const Block*>(base + x4_row_offset<kX4>(r, rs, sizeof(Block)));
      const float d = half_to_float(x.d), dmin = half_to_float(x.dmin);
      for (int j = 0; j < 8; j++) {
        uint8_t sc, mn;
        get_scale_min_k4(j, x.scales, &sc, &mn);
        scales[16 * (8 * s + j) + r] = d * sc;
        mins[16 * (8 * s + j) + r] = dmin * mn;
      }
    }
  }
}

// q6_K: value l of the 32 in quarter kk of half h is the low (kk < 2) or high
// nibble of ql[64h + 32(kk & 1) + l] with bits 2kk, 2kk+1 of qh[32h + l] above
// it (0..63; the -32 is the activation side's). Two scales per 32 values. kX4: as pack_k_mins'.
template <bool kX4 = false>
void pack_q6_K(int64_t k, const uint8_t* rows, size_t rs, int nr, __mmask16 m, uint8_t* panel) {
  const int64_t nsb = k / QK_K, nb = k / 32;
  const size_t block_step = x4_block_step<kX4>(sizeof(block_q6_K));
  const __m512i off = block_row_offsets<kX4>(rs, sizeof(block_q6_K)), lo4 = _mm512_set1_epi8(0x0F),
                three = _mm512_set1_epi8(3);
  float* scales = reinterpret_cast<float*>(panel + weights_bytes(k));  // [nb][2][16]
  std::memset(scales, 0, sizeof(float) * 32 * static_cast<size_t>(nb));
  for (int64_t s = 0; s < nsb; s++) {
    const uint8_t* base = rows + s * block_step;
    for (int h = 0; h < 2; h++)
      for (int g = 0; g < 8; g++) {
        const __m512i l0 = gather(m, off, base + offsetof(block_q6_K, ql) + 64 * h + 4 * g);
        const __m512i l1 = gather(m, off, base + offsetof(block_q6_K, ql) + 64 * h + 32 + 4 * g);
        const __m512i qh = gather(m, off, base + offsetof(block_q6_K, qh) + 32 * h + 4 * g);
        for (int kk = 0; kk < 4; kk++) {
          const __m512i l = (kk & 1) ? l1 : l0;
          const __m512i nib = _mm512_and_si512(kk < 2 ? l : _mm512_srli_epi16(l, 4), lo4);
          const __m512i hi = _mm512_and_si512(_mm512_srl_epi16(qh, _mm_cvtsi32_si128(2 * kk)), three);
          _mm512_storeu_si512(panel + (8 * s + 4 * h + kk) * 512 + 64 * g,
                              _mm512_or_si512(nib, _mm512_slli_epi16(hi, 4)));
        }
      }
    for (int r = 0; r < nr; r++) {
      const block_q6_K& x = *reinterpret_cast<const block_q6_K*>(base + x4_row_offset<kX4>(r, rs, sizeof(block_q6_K)));
      const float d = half_to_float(x.d);
      for (int h = 0; h < 2; h++)
        for (int kk = 0; kk < 4; kk++) {
          const int64_t b = 8 * s + 4 * h + kk;
          scales[32 * b + r] = d * x.scales[8 * h + 2 * kk];
          scales[32 * b + 16 + r] = d * x.scales[8 * h + 2 * kk + 1];
        }
    }
  }
}

// ---- the low-bit types -----------------------------------------------------

// The 16 iq4 levels + 128 (unsigned) in every 128-bit lane, for vpshufb.
inline __m512i iq4_table_u() {
  const __m128i t = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)),
                                  _mm_set1_epi8(static_cast<char>(0x80)));
  const __m512i z = _mm512_zextsi128_si512(t);
  return _mm512_maskz_shuffle_i32x4(0xFFFF, z, z, 0);
}

// Values 4g..4g+3 (low nibbles) and 16+4g.. (high) of 32 at `qs`, as levels + 128.
inline void pack_iq4_group(__mmask16 m, __m512i off, const uint8_t* qs, int g, __m512i table, __m512i* dst) {
  const __m512i lo4 = _mm512_set1_epi8(0x0F);
  const __m512i v = gather(m, off, qs + 4 * g);
  _mm512_storeu_si512(dst + g, _mm512_shuffle_epi8(table, _mm512_and_si512(v, lo4)));
  _mm512_storeu_si512(dst + g + 4, _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(v, 4), lo4)));
}

// iq4_nl: one f16 scale per 32 values (the q8_0 kind: zero point 128).
void pack_iq4_nl(int64_t k, const uint8_t* rows, size_t rs, __mmask16 m, uint8_t* panel) {
  const int64_t nb = k / QK4_NL;
  const __m512i off = row_offsets(rs), table = iq4_table_u();
  float* scales = reinterpret_cast<float*>(panel + weights_bytes(k));
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* base = rows + b * sizeof(block_iq4_nl);
    __m512i* dst = reinterpret_cast<__m512i*>(panel + b * 512);
    for (int g = 0; g < 4; g++) pack_iq4_group(m, off, base + offsetof(block_iq4_nl, qs), g, table, dst);
    _mm512_storeu_ps(scales + 16 * b, halves_to_f32(gather(m, off, base)));
  }
}

// iq4_xs: each sub-block of 32 as an iq4_nl block with scale d * (ls - 32).
void pack_iq4_xs(int64_t k, const uint8_t* rows, size_t rs, __mmask16 m, uint8_t* panel) {
  const int64_t nsb = k / QK_K;
  const __m512i off = row_offsets(rs), table = iq4_table_u();
  float* scales = reinterpret_cast<float*>(panel + weights_bytes(k));
  for (int64_t s = 0; s < nsb; s++) {
    const uint8_t* base = rows + s * sizeof(block_iq4_xs);
    const __m512i dh = gather(m, off, base);  // d | scales_h << 16
    const __m512i sl = gather(m, off, base + offsetof(block_iq4_xs, scales_l));
    const __m512 d = halves_to_f32(dh);
    for (int t = 0; t < 8; t++) {
      const int64_t b = 8 * s + t;
      __m512i* dst = reinterpret_cast<__m512i*>(panel + b * 512);
      for (int g = 0; g < 4; g++) pack_iq4_group(m, off, base + offsetof(block_iq4_xs, qs) + 16 * t, g, table, dst);
      const __m512i lo = _mm512_and_si512(_mm512_srli_epi32(sl, 4 * t), _mm512_set1_epi32(0xF));
      const __m512i hi = _mm512_and_si512(_mm512_srli_epi32(dh, 16 + 2 * t), _mm512_set1_epi32(3));
      const __m512i ls = _mm512_sub_epi32(_mm512_or_si512(lo, _mm512_slli_epi32(hi, 4)), _mm512_set1_epi32(32));
      _mm512_storeu_ps(scales + 16 * b, _mm512_mul_ps(d, _mm512_cvtepi32_ps(ls)));
    }
  }
}

// Bytes (as signed int8) times a per-lane int16 scale (the same in both halves
// of each 32-bit lane); the products must fit in a byte.
inline __m512i mul_bytes(__m512i v, __m512i scale) {
  const __m512i lo = _mm512_mullo_epi16(_mm512_srai_epi16(_mm512_slli_epi16(v, 8), 8), scale);
  const __m512i hi = _mm512_mullo_epi16(_mm512_srai_epi16(v, 8), scale);
  return _mm512_or_si512(_mm512_and_si512(lo, _mm512_set1_epi16(0xFF)), _mm512_slli_epi16(hi, 8));
}
// A per-lane value (low 16 bits used) in both int16 halves.
inline __m512i int16_pair(__m512i v) {
  return _mm512_or_si512(_mm512_and_si512(v, _mm512_set1_epi32(0xFFFF)), _mm512_slli_epi32(v, 16));
}

// q2_K: value q (0..3) times its sub-block's 4-bit scale; value i of block t
// of a super-block (half t / 4, plane t % 4) is bits 2(t % 4) of qs[32(t / 4) + i].
void pack_q2_K(int64_t k, const uint8_t* rows, size_t rs, __mmask16 m, uint8_t* panel) {
  const int64_t nsb = k / QK_K;
  const __m512i off = row_offsets(rs), three = _mm512_set1_epi8(3), nib = _mm512_set1_epi32(0xF);
  float* dsb = reinterpret_cast<float*>(panel + weights_bytes(k));  // [nsb][16]
  float* dmin = dsb + 16 * nsb;                                     // [nsb][16]
  int32_t* mins = reinterpret_cast<int32_t*>(dmin + 16 * nsb);      // [nsb][8][16]
  for (int64_t s = 0; s < nsb; s++) {
    const uint8_t* base = rows + s * sizeof(block_q2_K);
    __m512i sc[4];  // scale/min bytes 4i..4i+3 of each row
    for (int i = 0; i < 4; i++) sc[i] = gather(m, off, base + offsetof(block_q2_K, scales) + 4 * i);
    for (int h = 0; h < 2; h++)
      for (int g = 0; g < 8; g++) {
        const __m512i q = gather(m, off, base + offsetof(block_q2_K, qs) + 32 * h + 4 * g);
        for (int j = 0; j < 4; j++) {
          const int t = 4 * h + j, sub = 2 * t + (g >= 4);
          const __m512i scale = int16_pair(_mm512_and_si512(_mm512_srli_epi32(sc[sub / 4], 8 * (sub % 4)), nib));
          const __m512i v = _mm512_and_si512(_mm512_srl_epi16(q, _mm_cvtsi32_si128(2 * j)), three);
          // (q <= 3, scale <= 15: each product fits its byte, so one 16-bit multiply does two)
          _mm512_storeu_si512(panel + (8 * s + t) * 512 + 64 * g, _mm512_mullo_epi16(v, scale));
        }
      }
    const __m512i dm = gather(m, off, base + offsetof(block_q2_K, d));  // d | dmin << 16
    _mm512_storeu_ps(dsb + 16 * s, halves_to_f32(dm));
    _mm512_storeu_ps(dmin + 16 * s, halves_to_f32(_mm512_srli_epi32(dm, 16)));
    for (int j = 0; j < 8; j++) {  // mins of sub-blocks 2j, 2j+1: high nibbles of bytes 2j, 2j+1
      const __m512i v = _mm512_srli_epi32(sc[j / 2], 16 * (j % 2));
      const __m512i pair = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(v, 4), nib),
                                           _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(v, 12), nib), 16));
      _mm512_storeu_si512(mins + 16 * (8 * s + j), pair);
    }
  }
}

// q3_K: (4 - q3) times its sub-block's signed 6-bit scale, + 128 (the scale
// region holds -d). q3 = the q2_K-style 2 bits | bit t of hmask[i] << 2.
void pack_q3_K(int64_t k, const uint8_t* rows, size_t rs, __mmask16 m, uint8_t* panel) {
  const int64_t nsb = k / QK_K;
  const __m512i off = row_offsets(rs), three = _mm512_set1_epi8(3), one = _mm512_set1_epi8(1);
  const __m512i lo4 = _mm512_set1_epi32(0x0f0f0f0f), hi2 = _mm512_set1_epi32(0x30303030);
  float* dsb = reinterpret_cast<float*>(panel + weights_bytes(k));  // [nsb][16]
  for (int64_t s = 0; s < nsb; s++) {
    const uint8_t* base = rows + s * sizeof(block_q3_K);
    const __m512i a0 = gather(m, off, base + offsetof(block_q3_K, scales));
    const __m512i a1 = gather(m, off, base + offsetof(block_q3_K, scales) + 4);
    const __m512i a2 = gather(m, off, base + offsetof(block_q3_K, scales) + 8);
    // Scale bytes (0..63) of sub-blocks 4i..4i+3 (the bit layout of block_q3_K).
    const __m512i sc[4] = {
        _mm512_or_si512(_mm512_and_si512(a0, lo4), _mm512_and_si512(_mm512_slli_epi32(a2, 4), hi2)),
        _mm512_or_si512(_mm512_and_si512(a1, lo4), _mm512_and_si512(_mm512_slli_epi32(a2, 2), hi2)),
        _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(a0, 4), lo4), _mm512_and_si512(a2, hi2)),
        _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(a1, 4), lo4),
                        _mm512_and_si512(_mm512_srli_epi32(a2, 2), hi2)),
    };
    for (int g = 0; g < 8; g++) {
      const __m512i hm = gather(m, off, base + offsetof(block_q3_K, hmask) + 4 * g);
      for (int h = 0; h < 2; h++) {
        const __m512i q = gather(m, off, base + offsetof(block_q3_K, qs) + 32 * h + 4 * g);
        for (int j = 0; j < 4; j++) {
          const int t = 4 * h + j, sub = 2 * t + (g >= 4);
          const __m512i sb = _mm512_and_si512(_mm512_srli_epi32(sc[sub / 4], 8 * (sub % 4)), _mm512_set1_epi32(63));
          const __m512i scale = int16_pair(_mm512_sub_epi32(sb, _mm512_set1_epi32(32)));
          const __m512i q2 = _mm512_and_si512(_mm512_srl_epi16(q, _mm_cvtsi32_si128(2 * j)), three);
          const __m512i h3 = _mm512_and_si512(_mm512_srl_epi16(hm, _mm_cvtsi32_si128(t)), one);
          const __m512i v = _mm512_sub_epi8(_mm512_set1_epi8(4), _mm512_or_si512(q2, _mm512_slli_epi16(h3, 2)));
          _mm512_storeu_si512(panel + (8 * s + t) * 512 + 64 * g,
                              _mm512_xor_si512(mul_bytes(v, scale), _mm512_set1_epi8(static_cast<char>(0x80))));
        }
      }
    }
    // d sits in the block's last 2 bytes: read the 4 ending there.
    const __m512i d = _mm512_srli_epi32(gather(m, off, base + offsetof(block_q3_K, d) - 2), 16);
    _mm512_storeu_ps(dsb + 16 * s, _mm512_sub_ps(_mm512_setzero_ps(), halves_to_f32(d)));
  }
}

// How a block's integer sum becomes float (see the activation layout):
//   kZeroPoint (q4_0, q5_0, q8_0): starts at the activation's -zero_point * sum;
//   kMins (q4_K, q5_K; q4_1, q5_1 with min = -m): starts at 0, minus
//     mins * (activation scale * sum) after;
//   kSplit16 (q6_K): two sums of 16 values, each with its own scale, each
//     starting at the activation's -32 * sum of its 16 values.
enum Kind { kZeroPoint, kMins, kSplit16 };

// C activation rows x P panels of 16 rows (P = 2: gemm_pair). With two panels each activation
// broadcast feeds two vpdpbusd instead of one: the one-panel loop issues a broadcast load per vpdpbusd,
// and the load ports, not vpdpbusd, set its pace (Llama-3.2-1B shape Q4_0, 256-token prompt, 2 threads on
// a Zen 5, A/B in one session: 772-838 ms -> 547-629). Per (row, activation row) the integer chain and the
// FMAs do not depend on P: the same bits.
template <int P, int C, Kind K>
void kernel(int64_t k, const uint8_t* p0, const uint8_t* p1, const uint8_t* act, size_t as, float* out, size_t os,
            __mmask16 m0, __mmask16 m1, const float* bias) {
  const int64_t nb = k / 32;
  const uint8_t* const pp[2] = {p0, p1};
  const float* scales[P];
  const float* mins[P];
  for (int p = 0; p < P; p++) {
    scales[p] = reinterpret_cast<const float*>(pp[p] + weights_bytes(k));
    mins[p] = scales[p] + 16 * nb;
  }
  __m512 acc[P][C];
  for (int p = 0; p < P; p++)
    for (int c = 0; c < C; c++) acc[p][c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    __m512i w[P][8];
    __m512 dw[P], dw_hi[P];
    for (int p = 0; p < P; p++) {
      const __m512i* wp = reinterpret_cast<const __m512i*>(pp[p] + b * 512);
      for (int g = 0; g < 8; g++) w[p][g] = _mm512_loadu_si512(wp + g);
      dw[p] = _mm512_loadu_ps(scales[p] + (K == kSplit16 ? 32 : 16) * b);
      dw_hi[p] = K == kSplit16 ? _mm512_loadu_ps(scales[p] + 32 * b + 16) : dw[p];
    }
    for (int c = 0; c < C; c++) {
      const uint8_t* a = act + as * c;
      const int8_t* q = reinterpret_cast<const int8_t*>(a) + 32 * b;
      const __m512 da = _mm512_set1_ps(reinterpret_cast<const float*>(a + k)[b]);
      const int32_t* si = reinterpret_cast<const int32_t*>(a + k + 4 * nb) + 2 * b;
      const __m512i start = K == kMins ? _mm512_setzero_si512() : _mm512_set1_epi32(si[0]);
      const __m512i start_hi = K == kSplit16 ? _mm512_set1_epi32(si[1]) : start;
      __m512i sum[P], sum_hi[P];
      for (int p = 0; p < P; p++) sum[p] = start, sum_hi[p] = start_hi;
      for (int g = 0; g < 8; g++) {
        int32_t q4;
        std::memcpy(&q4, q + 4 * g, 4);
        const __m512i a4 = _mm512_set1_epi32(q4);
        for (int p = 0; p < P; p++) {
          if (K == kSplit16 && g >= 4)
            sum_hi[p] = _mm512_dpbusd_epi32(sum_hi[p], w[p][g], a4);
          else
            sum[p] = _mm512_dpbusd_epi32(sum[p], w[p][g], a4);
        }
      }
      for (int p = 0; p < P; p++) {
        acc[p][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[p]), _mm512_mul_ps(dw[p], da), acc[p][c]);
        if constexpr (K == kSplit16)
          acc[p][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum_hi[p]), _mm512_mul_ps(dw_hi[p], da), acc[p][c]);
        if constexpr (K == kMins) {
          const float sa = reinterpret_cast<const float*>(si)[0];
          acc[p][c] = _mm512_fnmadd_ps(_mm512_loadu_ps(mins[p] + 16 * b), _mm512_set1_ps(sa), acc[p][c]);
        }
      }
    }
  }
  const __mmask16 m[2] = {m0, m1};
  for (int p = 0; p < P; p++) {
    const __m512 bv = bias ? _mm512_maskz_loadu_ps(m[p], bias + kRows * p) : _mm512_setzero_ps();
    for (int c = 0; c < C; c++) _mm512_mask_storeu_ps(out + os * c + kRows * p, m[p], _mm512_add_ps(acc[p][c], bv));
  }
}

// One panel, kCols activation rows per call (8 weight and 8 sum registers).
template <Kind K>
void run_cols(int64_t k, const uint8_t* panel, const uint8_t* act, size_t as, int64_t n, float* out, size_t os,
              __mmask16 m, const float* bias) {
  for_blocks<kCols>(n, [&](auto c, int64_t c0) {
    kernel<1, decltype(c)::value, K>(k, panel, panel, act + as * c0, as, out + os * c0, os, m, m, bias);
  });
}

// Two panels, 4 activation rows per call (16 weight and 8 sum registers).
template <Kind K>
void run_cols_pair(int64_t k, const uint8_t* p0, const uint8_t* p1, const uint8_t* act, size_t as, int64_t n,
                   float* out, size_t os, __mmask16 m0, __mmask16 m1, const float* bias) {
  for_blocks<4>(n, [&](auto c, int64_t c0) {
    kernel<2, decltype(c)::value, K>(k, p0, p1, act + as * c0, as, out + os * c0, os, m0, m1, bias);
  });
}

// q2_K / q3_K (scales baked into the weights, see gemm_panel.h): a whole
// super-block sums in int32 (q3_K from the activation's -128 * sum; at most
// 256 * 252 * 127 in magnitude), then one FMA with d * da; q2_K subtracts
// dmin * da * sum of mins x sums of 16 (madd of int16 pairs).
template <int C, bool kQ2>
void kernel_super(int64_t k, const uint8_t* panel, const uint8_t* act, size_t as, float* out, size_t os, __mmask16 m,
                  const float* bias) {
  const int64_t nb = k / 32, nsb = k / QK_K;
  const float* dsb = reinterpret_cast<const float*>(panel + weights_bytes(k));
  const float* dmin = dsb + 16 * nsb;
  const int32_t* mins = reinterpret_cast<const int32_t*>(dmin + 16 * nsb);
  __m512 acc[C];
  for (int c = 0; c < C; c++) acc[c] = _mm512_setzero_ps();
  for (int64_t s = 0; s < nsb; s++) {
    __m512i sum[C];
    for (int c = 0; c < C; c++) {
      const int32_t* si = reinterpret_cast<const int32_t*>(act + as * c + k + 4 * nb) + 16 * s;
      sum[c] = kQ2 ? _mm512_setzero_si512() : _mm512_set1_epi32(si[0]);
    }
    for (int t = 0; t < 8; t++) {
      const int64_t b = 8 * s + t;
      const __m512i* wp = reinterpret_cast<const __m512i*>(panel + b * 512);
      __m512i w[8];
      for (int g = 0; g < 8; g++) w[g] = _mm512_loadu_si512(wp + g);
      for (int c = 0; c < C; c++) {
        const int8_t* q = reinterpret_cast<const int8_t*>(act + as * c) + 32 * b;
        for (int g = 0; g < 8; g++) {
          int32_t q4;
          std::memcpy(&q4, q + 4 * g, 4);
          sum[c] = _mm512_dpbusd_epi32(sum[c], w[g], _mm512_set1_epi32(q4));
        }
      }
    }
    const __m512 dw = _mm512_loadu_ps(dsb + 16 * s);
    for (int c = 0; c < C; c++) {
      const uint8_t* a = act + as * c;
      const __m512 da = _mm512_set1_ps(reinterpret_cast<const float*>(a + k)[8 * s]);
      acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[c]), _mm512_mul_ps(dw, da), acc[c]);
      if constexpr (kQ2) {
        const int32_t* si = reinterpret_cast<const int32_t*>(a + k + 4 * nb) + 16 * s;
        __m512i ms = _mm512_setzero_si512();
        for (int j = 0; j < 8; j++)
          ms = _mm512_add_epi32(
              ms, _mm512_madd_epi16(_mm512_loadu_si512(mins + 16 * (8 * s + j)), _mm512_set1_epi32(si[2 * j + 1])));
        acc[c] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(ms), _mm512_mul_ps(_mm512_loadu_ps(dmin + 16 * s), da), acc[c]);
      }
    }
  }
  const __m512 bv = bias ? _mm512_maskz_loadu_ps(m, bias) : _mm512_setzero_ps();
  for (int c = 0; c < C; c++) _mm512_mask_storeu_ps(out + os * c, m, _mm512_add_ps(acc[c], bv));
}

template <bool kQ2>
void run_cols_super(int64_t k, const uint8_t* panel, const uint8_t* act, size_t as, int64_t n, float* out, size_t os,
                    __mmask16 m, const float* bias) {
  for_blocks<kCols>(n, [&](auto c, int64_t c0) {
    kernel_super<decltype(c)::value, kQ2>(k, panel, act + as * c0, as, out + os * c0, os, m, bias);
  });
}

// Float weights: C f32 activation rows x 16 panel rows, one FMA per value.
template <int C>
void kernel_float(int64_t k, const float* panel, const uint8_t* act, size_t as, float* out, size_t os, __mmask16 m,
                  const float* bias) {
  __m512 acc[C];
  for (int c = 0; c < C; c++) acc[c] = _mm512_setzero_ps();
  const float* x[C];
  for (int c = 0; c < C; c++) x[c] = reinterpret_cast<const float*>(act + as * c);
  for (int64_t i = 0; i < k; i++) {
    const __m512 w = _mm512_loadu_ps(panel + 16 * i);
    for (int c = 0; c < C; c++) acc[c] = _mm512_fmadd_ps(_mm512_set1_ps(x[c][i]), w, acc[c]);
  }
  const __m512 bv = bias ? _mm512_maskz_loadu_ps(m, bias) : _mm512_setzero_ps();
  for (int c = 0; c < C; c++) _mm512_mask_storeu_ps(out + os * c, m, _mm512_add_ps(acc[c], bv));
}

void run_cols_float(int64_t k, const float* panel, const uint8_t* act, size_t as, int64_t n, float* out, size_t os,
                    __mmask16 m, const float* bias) {
  // 12 accumulators + weights + broadcast of 32 zmm
  for_blocks<12>(n, [&](auto c, int64_t c0) {
    kernel_float<decltype(c)::value>(k, panel, act + as * c0, as, out + os * c0, os, m, bias);
  });
}

inline __mmask16 rows_mask(int nr) { return static_cast<__mmask16>((1u << nr) - 1); }

size_t panel_bytes(DType w, int64_t k) { return panel_bytes_for(kRows, w, k); }

void pack_panel(DType w, int64_t k, const uint8_t* rows, size_t row_stride, int nr, uint8_t* panel) {
  const __mmask16 m = rows_mask(nr);
  if (panel_float_weights(w))
    return pack_float_panel(w, k, rows, row_stride, nr, kRows, reinterpret_cast<float*>(panel));
  switch (w) {
    case DType::Q4_0: return pack_legacy<block_q4_0, false, false>(k, rows, row_stride, m, panel);
    case DType::Q4_1: return pack_legacy<block_q4_1, true, false>(k, rows, row_stride, m, panel);
    case DType::Q5_0: return pack_legacy<block_q5_0, false, true>(k, rows, row_stride, m, panel);
    case DType::Q5_1: return pack_legacy<block_q5_1, true, true>(k, rows, row_stride, m, panel);
    case DType::Q8_0: return pack_q8_0(k, rows, row_stride, m, panel);
    case DType::Q4_K: return pack_k_mins<block_q4_K, false>(k, rows, row_stride, nr, m, panel);
    case DType::Q5_K: return pack_k_mins<block_q5_K, true>(k, rows, row_stride, nr, m, panel);
    case DType::Q6_K: return pack_q6_K(k, rows, row_stride, nr, m, panel);
    case DType::Q2_K: return pack_q2_K(k, rows, row_stride, m, panel);
    case DType::Q3_K: return pack_q3_K(k, rows, row_stride, m, panel);
    case DType::IQ4_NL: return pack_iq4_nl(k, rows, row_stride, m, panel);
    case DType::IQ4_XS: return pack_iq4_xs(k, rows, row_stride, m, panel);
    default: return;
  }
}

// A panel from q4_K / q5_K / q6_K rows interleaved 4 at a time (regroup_x4.h): its first group at `groups`,
// nr real rows (a multiple of 4), the next groups one after another.
void x4_pack_panel(DType w, int64_t k, const uint8_t* groups, int nr, uint8_t* panel) {
  const __mmask16 m = rows_mask(nr);
  const size_t gb = x4_group_bytes(w, k);
  if (w == DType::Q4_K) return pack_k_mins<block_q4_K, false, true>(k, groups, gb, nr, m, panel);
  if (w == DType::Q5_K) return pack_k_mins<block_q5_K, true, true>(k, groups, gb, nr, m, panel);
  if (w == DType::Q6_K) return pack_q6_K<true>(k, groups, gb, nr, m, panel);
}

void gemm_panel(DType w, int64_t k, const uint8_t* panel, int nr, const uint8_t* act, size_t act_stride, int64_t n,
                float* out, size_t out_stride, const float* bias) {
  const __mmask16 m = rows_mask(nr);
  if (panel_float_weights(w))
    return run_cols_float(k, reinterpret_cast<const float*>(panel), act, act_stride, n, out, out_stride, m, bias);
  switch (w) {
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q4_1:
    case DType::Q5_1: return run_cols<kMins>(k, panel, act, act_stride, n, out, out_stride, m, bias);
    case DType::Q6_K: return run_cols<kSplit16>(k, panel, act, act_stride, n, out, out_stride, m, bias);
    case DType::Q2_K: return run_cols_super<true>(k, panel, act, act_stride, n, out, out_stride, m, bias);
    case DType::Q3_K: return run_cols_super<false>(k, panel, act, act_stride, n, out, out_stride, m, bias);
    default: return run_cols<kZeroPoint>(k, panel, act, act_stride, n, out, out_stride, m, bias);
  }
}

// Two panels: the vpdpbusd kinds through kernel<2> (4 activation rows x 32 weight rows), the float and
// super-block (q2_K, q3_K) panels one after the other.
void gemm_panel_pair(DType w, int64_t k, const uint8_t* p0, int nr0, const uint8_t* p1, int nr1, const uint8_t* act,
                     size_t as, int64_t n, float* out, size_t os, const float* bias) {
  const __mmask16 m0 = rows_mask(nr0), m1 = rows_mask(nr1);
  if (!panel_float_weights(w) && !panel_superblock_weights(w)) {
    switch (w) {
      case DType::Q4_K:
      case DType::Q5_K:
      case DType::Q4_1:
      case DType::Q5_1: return run_cols_pair<kMins>(k, p0, p1, act, as, n, out, os, m0, m1, bias);
      case DType::Q6_K: return run_cols_pair<kSplit16>(k, p0, p1, act, as, n, out, os, m0, m1, bias);
      default: return run_cols_pair<kZeroPoint>(k, p0, p1, act, as, n, out, os, m0, m1, bias);
    }
  }
  gemm_panel(w, k, p0, nr0, act, as, n, out, os, bias);
  gemm_panel(w, k, p1, nr1, act, as, n, out + kRows, os, bias ? bias + kRows : nullptr);
}

}  // namespace

const PanelKernels& panel_kernels() {
  static const PanelKernels k = [] {
    PanelKernels p{kRows, panel_supports, panel_bytes, pack_panel, gemm_panel, gemm_panel_pair, x8_pack_panel};
    p.pack_x4 = x4_pack_panel;
    return p;
  }();
  return k;
}

}  // namespace avx512
}  // namespace mm
