// Helpers shared by the AVX2 kernel files (vec_dot_avx2.cc, vec_dot_lowbit_avx2.cc,
// gemm_avx2.cc, regroup_x8_avx2.cc):
// horizontal sums, 4-byte broadcasts, nibble unpacking and the tile-size dispatch of the
// register-blocked tiles. Header-only, in an anonymous namespace, and included
// only by files compiled with -mavx2 -mfma -mf16c.
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
