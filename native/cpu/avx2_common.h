// Helpers shared by the AVX2 kernel files (vec_dot_avx2.cc, vec_dot_lowbit_avx2.cc,
// gemm_avx2.cc, regroup_x8_avx2.cc) and the AVX-512 K-quant tiles (vec_dot_avx512.cc):
// horizontal sums, 4-byte and int16 broadcasts, nibble unpacking, q4_K's and q3_K's scale unpacking
// and the tile-size dispatch of the register-blocked tiles. Header-only, in an anonymous
// namespace, and included only by files compiled with -mavx2 -mfma -mf16c (or more).
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "vec_dot.h"

namespace mm {
namespace avx2 {
namespace {

inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

inline int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// The 4 bytes at p in every 32-bit lane: one broadcast load (copying a block's
// 32 bytes into an int32[8] first went through the stack, a store-forwarding
// stall per broadcast).
inline __m256i bcast4(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// 32 nibbles of 16 bytes -> 32 bytes: low nibbles first, then high nibbles.
inline __m256i unpack_nibbles(const uint8_t* p) {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
  return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

// A q4_K block's 12 scale bytes (6-bit sub-block scales and mins) as bytes: sc[0..7] in the low 8 bytes,
// m[0..7] in the high 8. Sub-blocks 0-3 keep their 6 bits in bytes 0-3 (scales) and 4-7 (mins); 4-7 take
// the low (scales) or high (mins) nibble of bytes 8-11 plus the spare top 2 bits of bytes 0-3 / 4-7. As
// 32-bit words w0..w2: [w0 & 0x3f.., (w2 & 0x0f..) | (w0 >> 2 & 0x30..), w1 & 0x3f.., (w2 >> 4 & 0x0f..) |
// (w1 >> 2 & 0x30..)], computed in one vector (`q`: the scales and the 4 bytes after them).
inline __m128i q4_K_scales_mins(const uint8_t* q) {
  const __m128i w = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
  const __m128i low =
      _mm_and_si128(_mm_srlv_epi32(_mm_shuffle_epi32(w, 0x98), _mm_set_epi32(4, 0, 0, 0)),  // w0 w2 w1 w2
                    _mm_set_epi32(0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f));
  const __m128i top = _mm_and_si128(_mm_srli_epi32(_mm_shuffle_epi32(w, 0x50), 2),  // w0 w0 w1 w1
                                    _mm_set_epi32(0x30303030, 0, 0x30303030, 0));
  return _mm_or_si128(low, top);
}

// The first 4 bytes (f16 d, dmin) of the blocks at w, w + ws, ... of R rows: row r's in dword r, the rest zero.
template <int R>
inline __m128i scale_pairs(const uint8_t* w, size_t ws) {
  auto at = [&](int r) {
    uint32_t v;
    std::memcpy(&v, w + ws * r, 4);
    return static_cast<int>(v);
  };
  __m128i dd = _mm_cvtsi32_si128(at(0));
  if constexpr (R > 1) dd = _mm_insert_epi32(dd, at(1), 1);
  if constexpr (R > 2) dd = _mm_insert_epi32(dd, at(2), 2);
  if constexpr (R > 3) dd = _mm_insert_epi32(dd, at(3), 3);
  return dd;
}

// Int16 element s (0..7) of both lanes of v, in every int16 position.
inline __m256i broadcast_i16(__m256i v, int s) {
  return _mm256_shuffle_epi8(v, _mm256_set1_epi16(static_cast<int16_t>(0x0100 * (2 * s + 1) + 2 * s)));
}

// The 16 signed 6-bit scales of a q3_K block as bytes.
inline __m128i q3_K_scales(const uint8_t* sc) {
  uint32_t a[3];
  std::memcpy(a, sc, 12);
  const uint32_t lo = 0x0f0f0f0f, hi = 0x30303030;
  const __m128i u = _mm_set_epi32(
      static_cast<int>(((a[1] >> 4) & lo) | ((a[2] >> 2) & hi)), static_cast<int>(((a[0] >> 4) & lo) | (a[2] & hi)),
      static_cast<int>((a[1] & lo) | ((a[2] << 2) & hi)), static_cast<int>((a[0] & lo) | ((a[2] << 4) & hi)));
  return _mm_sub_epi8(u, _mm_set1_epi8(32));
}

// One q4_K block's mins terms for one activation row, a tile's rows side by side: lane r the sum of
// mins[r]'s four int32 (row r's sum(min x bsums), exact; rows from `rows` on count 0), then accm + y.d *
// dmin_r * that, the scalar steps lane by lane (so their bits). Shared by the AVX2 and AVX-512 q4_K tiles.
inline __m128 add_mins_terms(__m128 accm, const __m128i* mins, int rows, __m128 dmins, float yd) {
  __m128i m[4];
  for (int r = 0; r < 4; r++) m[r] = r < rows ? mins[r] : _mm_setzero_si128();
  const __m128i summ = _mm_hadd_epi32(_mm_hadd_epi32(m[0], m[1]), _mm_hadd_epi32(m[2], m[3]));
  return _mm_add_ps(accm, _mm_mul_ps(_mm_mul_ps(_mm_set1_ps(yd), dmins), _mm_cvtepi32_ps(summ)));
}

// Picks the instantiation for the tile's actual size (edges of the matrix).
using TileFn = void (*)(int64_t, const uint8_t*, size_t, const uint8_t*, size_t, float*, size_t);
template <template <int, int> class K, int I>
constexpr TileFn tile_entry() {
  return K<I / kTileA + 1, I % kTileA + 1>::run;
}
template <template <int, int> class K, size_t... I>
void tile_table(TileFn* t, std::index_sequence<I...>) {
  ((t[I] = tile_entry<K, static_cast<int>(I)>()), ...);
}
template <template <int, int> class K>
void tile_dispatch(int64_t k, const void* w, size_t ws, int nr, const void* a, size_t as, int nc, float* out,
                   size_t os) {
  static const struct Table {
    TileFn f[kTileW * kTileA];
    Table() { tile_table<K>(f, std::make_index_sequence<kTileW * kTileA>()); }
  } table;
  table.f[(nr - 1) * kTileA + (nc - 1)](k, static_cast<const uint8_t*>(w), ws, static_cast<const uint8_t*>(a), as, out,
                                        os);
}
}  // namespace
}  // namespace avx2
}  // namespace mm
