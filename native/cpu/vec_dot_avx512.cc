// AVX-512 VNNI decode tiles for q4_0, q5_0, q8_0 and iq4_nl weights (see DotTileFn in
// vec_dot.h): one activation row against up to 4 weight rows read in place,
// two 32-value blocks per 512-bit vpdpbusd. Compiled in the cpu_avx512
// library; chosen only after cpu_use_avx512(). Tiles with more than one
// activation row go to the AVX2 / AVX-VNNI tiles.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own AVX-512 headers trip this warning (_mm512_undefined_* idioms).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "../../kernels/quant_blocks.h"
#include "vec_dot.h"

namespace mm {
namespace avx512 {

namespace {

// Decode streams each weight byte once from memory. A tile's R rows are
// consecutive, so the next tile starts R * ws bytes on: each row prefetches the
// same block of the row one tile below into L2 (one tile ahead: 4.6 KB at
// k = 2048, 18 KB at k = 8192; two tiles for tiles under 4 KB, see prefetch_ahead). A fixed distance into L1 falls
// inside the current tile on short rows and too close on long ones; measured on the 2-vCPU EPYC, this doubled one
// thread's streaming rate (see notes/decode).
inline void prefetch_next_tile(const void* x, size_t tile_bytes) {
  _mm_prefetch(static_cast<const char*>(x) + tile_bytes, _MM_HINT_T1);
}
// How far ahead a tile prefetches: the next tile, or for short rows (a tile under 4 KB, e.g. the
// 1152-wide rows of Gemma-3-1B) the tile after it, so the prefetch leads by at least ~4 KB. One-row
// Q4_0 matmul at k = 1152, 2 threads: 26.7-26.8 -> 29.6-33.8 GB/s; Gemma-3-1B decode +16-20%.
inline size_t prefetch_ahead(size_t tile_bytes) { return tile_bytes < 4096 ? 2 * tile_bytes : tile_bytes; }

// A block pair's two f16 scales as floats (lanes 0 and 1).
inline __m128 pair_halves(uint16_t d0, uint16_t d1) {
  return _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(d0 | (static_cast<uint32_t>(d1) << 16))));
}
// Weight scales times activation scales -> 16 lanes by pattern: q4_0 lanes 0-3,
// 8-11 hold block b, 4-7, 12-15 block b+1; q8_0 lanes 0-7 block b, 8-15 block
// b+1. Multiplied while they are two floats of an xmm (the same products as
// lane by lane, one 128-bit multiply per row instead of a 512-bit one), then spread.
inline __m512 pair_scales(__m128 dw, __m128 da, __m512i pattern) {
  return _mm512_permutexvar_ps(pattern, _mm512_castps128_ps512(_mm_mul_ps(dw, da)));
}

// The 16 iq4 levels + 128 (unsigned) in every 128-bit lane, for vpshufb.
inline __m512i iq4_levels_u() {
  const __m512i t = _mm512_zextsi128_si512(_mm_xor_si128(
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)), _mm_set1_epi8(static_cast<char>(0x80))));
  return _mm512_maskz_shuffle_i32x4(0xFFFF, t, t, 0);  // (maskz: no undefined source for GCC 12 to warn about)
}

// q4_0, q5_0 (kFive: bit v of qh is bit 4 of value v, zero point 16) and
// iq4_nl (kIq4: the nibbles index the 16 levels, looked up + 128 with vpshufb,
// zero point 128).
template <int R, bool kFive, bool kIq4 = false>
void tile_q4_0(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, float* out) {
  using Block = typename std::conditional<kIq4, block_iq4_nl,
                                          typename std::conditional<kFive, block_q5_0, block_q4_0>::type>::type;
  const __m512i levels = iq4_levels_u();
  const int64_t nb = k / QK8_0;
  const block_q8_0* y = reinterpret_cast<const block_q8_0*>(a);
  const __m512i pattern = _mm512_set_epi32(1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0);
  const __m256i lo4 = _mm256_set1_epi8(0x0F);
  __m512 acc[R];
  for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
  const size_t ahead = prefetch_ahead(R * ws);
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    // Activations as [b: 0-15 | b+1: 0-15 | b: 16-31 | b+1: 16-31], the order
    // the two blocks' low and high nibbles come out in.
    const __m512i y01 =
        _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].qs))),
                           _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b + 1].qs)), 1);
    const __m512i av = _mm512_shuffle_i64x2(y01, y01, _MM_SHUFFLE(3, 1, 2, 0));
    // (q - z) . a = q . a - z * a: each lane starts at -z * (its 4 activations).
    const __m512i m8 =
        _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(),
                                                                     _mm512_set1_epi8(static_cast<char>(kIq4    ? 128
                                                                                                        : kFive ? 16
                                                                                                                : 8)),
                                                                     av));
    const __m128 da = pair_halves(y[b].d, y[b + 1].d);
    for (int r = 0; r < R; r++) {
      const Block* x = reinterpret_cast<const Block*>(w + ws * r) + b;
      prefetch_next_tile(x, ahead);
      const __m256i q = _mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[1].qs)),
                                         _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[0].qs)));
      __m512i wv = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(q, lo4)),
                                      _mm256_and_si256(_mm256_srli_epi16(q, 4), lo4), 1);
      if constexpr (kFive) {
        // The high bits in the byte order above: [b 0-15 | b+1 0-15 | b 16-31 | b+1 16-31].
        uint32_t h0, h1;
        std::memcpy(&h0, x[0].qh, 4);
        std::memcpy(&h1, x[1].qh, 4);
        const uint64_t bits = (h0 & 0xFFFFull) | (static_cast<uint64_t>(h1 & 0xFFFF) << 16) |
                              (static_cast<uint64_t>(h0 >> 16) << 32) | (static_cast<uint64_t>(h1 >> 16) << 48);
        wv = _mm512_or_si512(wv, _mm512_maskz_mov_epi8(bits, _mm512_set1_epi8(16)));
      }
      if constexpr (kIq4) wv = _mm512_shuffle_epi8(levels, wv);
      const __m512i sum = _mm512_dpbusd_epi32(m8, wv, av);
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), pair_scales(pair_halves(x[0].d, x[1].d), da, pattern), acc[r]);
    }
  }
  for (int r = 0; r < R; r++) {
    out[r] = _mm512_reduce_add_ps(acc[r]);
    if (b < nb) {
      const auto& rk = avx2::kernels();
      out[r] += (kIq4    ? rk.iq4_nl
                 : kFive ? rk.q5_0
                         : rk.q4_0)(QK8_0, reinterpret_cast<const Block*>(w + ws * r) + b, y + b);
    }
  }
}

template <int R>
void tile_q8_0(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, float* out) {
  const int64_t nb = k / QK8_0;
  const block_q8_0* y = reinterpret_cast<const block_q8_0*>(a);
  const __m512i pattern = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc[R];
  for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
  const size_t ahead = prefetch_ahead(R * ws);
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    // (a + 128) . q - 128 * sum(q) = a . q, with a + 128 unsigned.
    const __m512i au = _mm512_xor_si512(
        _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].qs))),
                           _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b + 1].qs)), 1),
        flip);
    const __m128 da = pair_halves(y[b].d, y[b + 1].d);
    for (int r = 0; r < R; r++) {
      const block_q8_0* x = reinterpret_cast<const block_q8_0*>(w + ws * r) + b;
      prefetch_next_tile(x, ahead);
      prefetch_next_tile(x, ahead + 64);
      const __m512i wq =
          _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[0].qs))),
                             _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[1].qs)), 1);
      const __m512i m128 =
          _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), flip, wq));
      const __m512i sum = _mm512_dpbusd_epi32(m128, au, wq);
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), pair_scales(pair_halves(x[0].d, x[1].d), da, pattern), acc[r]);
    }
  }
  for (int r = 0; r < R; r++) {
    out[r] = _mm512_reduce_add_ps(acc[r]);
    if (b < nb) out[r] += avx2::kernels().q8_0(QK8_0, reinterpret_cast<const block_q8_0*>(w + ws * r) + b, y + b);
  }
}

// One activation row here; more go to the AVX2 / AVX-VNNI tile.
template <DType T>
void tile(int64_t k, const void* w, size_t ws, int nr, const void* a, size_t as, int nc, float* out, size_t os) {
  if (nc != 1) {
    // (looked up only here: tile_kernels() checks the CPU's features, a cost
    // on every 4-row decode tile if done for each call)
    const TileKernels& wide = avx2::tile_kernels();
    if (T == DType::IQ4_NL) return wide.iq4_nl(k, w, ws, nr, a, as, nc, out, os);
    if (T == DType::Q5_0) {  // no multi-row tile for q5_0: row by row
      for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++)
          out[os * c + r] =
              avx2::kernels().q5_0(k, static_cast<const uint8_t*>(w) + ws * r, static_cast<const uint8_t*>(a) + as * c);
      return;
    }
    return (T == DType::Q4_0 ? wide.q4_0 : wide.q8_0)(k, w, ws, nr, a, as, nc, out, os);
  }
  const uint8_t* wb = static_cast<const uint8_t*>(w);
  const uint8_t* ab = static_cast<const uint8_t*>(a);
  auto run = [&](auto fn) { fn(k, wb, ws, ab, out); };
  if constexpr (T == DType::Q4_0 || T == DType::Q5_0 || T == DType::IQ4_NL) {
    constexpr bool five = T == DType::Q5_0, iq4 = T == DType::IQ4_NL;
    switch (nr) {
      case 1: return run(tile_q4_0<1, five, iq4>);
      case 2: return run(tile_q4_0<2, five, iq4>);
      case 3: return run(tile_q4_0<3, five, iq4>);
      default: return run(tile_q4_0<4, five, iq4>);
    }
  } else {
    switch (nr) {
      case 1: return run(tile_q8_0<1>);
      case 2: return run(tile_q8_0<2>);
      case 3: return run(tile_q8_0<3>);
      default: return run(tile_q8_0<4>);
    }
  }
}

}  // namespace

const TileKernels& tile_kernels() {
  static const TileKernels k = [] {
    // (the K-quant and iq4_xs tiles are the AVX2 ones)
    TileKernels t = avx2::tile_kernels();
    t.q4_0 = tile<DType::Q4_0>;
    t.q8_0 = tile<DType::Q8_0>;
    t.q5_0 = tile<DType::Q5_0>;
    t.iq4_nl = tile<DType::IQ4_NL>;
    return t;
  }();
  return k;
}

}  // namespace avx512
}  // namespace mm
