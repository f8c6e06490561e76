// AVX2 row kernels and register-blocked tiles (see DotTileFn) for the low-bit
// types: q2_K, q3_K and iq4_xs against q8_K activations, iq4_nl against q8_0.
// Compiled with -mavx2 -mfma -mf16c in the cpu_avx2 library (the iq4_nl
// AVX-VNNI tile carries its own target attribute); used only after
// cpu_use_avx2().
//
// Every integer sum is exact, so the results equal the scalar kernels' up to
// float summation order:
//   q2_K: values 0..3 x activations in maddubs int16 pairs (<= 762), times the
//     4-bit sub-block scale in madd; the mins term is madd(mins, bsums);
//   q3_K: values (q2 | hbit << 2) = q + 4 in 0..7 the same way with the signed
//     6-bit scales; the -4 is -4 * madd(scales, bsums);
//   iq4_nl, iq4_xs: the 16 levels looked up with pshufb, signed x signed
//     through the sign trick (|w| <= 127, pairs <= 32258), iq4_xs times its
//     signed 6-bit sub-block scale in madd.
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "../../kernels/quant_blocks.h"
#include "avx2_common.h"
#include "vec_dot.h"
#include "x86_vnni.h"

namespace mm {
namespace avx2 {

namespace {

// The same block of the row one tile below (tile_bytes = R * ws on), into L2,
// as the other decode tiles (vec_dot_avx2.cc).
inline void prefetch_next_tile(const void* x, size_t tile_bytes) {
  _mm_prefetch(static_cast<const char*>(x) + tile_bytes, _MM_HINT_T1);
}
template <typename Block>
inline void prefetch_block(const Block* x, size_t tile_bytes) {
  for (size_t o = 0; o < sizeof(Block); o += 64) prefetch_next_tile(reinterpret_cast<const char*>(x) + o, tile_bytes);
}

inline __m256i load32(const void* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// ---- iq4: the 16 levels -----------------------------------------------------

inline __m256i iq4_table() {
  return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
}
// The 32 values of 16 nibble bytes (low nibbles first), looked up in `table`.
inline __m256i iq4_values(__m256i table, const uint8_t* qs) { return _mm256_shuffle_epi8(table, unpack_nibbles(qs)); }
// 16 int16 sums of adjacent products w * a of signed bytes (|w| <= 127).
inline __m256i dot_pairs(__m256i w, __m256i a) {
  return _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

// The 8 signed 6-bit sub-block scales of an iq4_xs block as int16, in both
// 128-bit lanes: the low nibbles interleaved out of scales_l, the 2-bit high
// parts of scales_h moved to the top of each int16 by a multiply and back down.
inline __m256i iq4_xs_scales(const block_iq4_xs& x) {
  uint32_t l;
  std::memcpy(&l, x.scales_l, 4);
  const __m128i lv = _mm_cvtsi32_si128(static_cast<int>(l));
  const __m128i lo = _mm_unpacklo_epi8(_mm_and_si128(lv, _mm_set1_epi8(0x0F)),
                                       _mm_and_si128(_mm_srli_epi16(lv, 4), _mm_set1_epi8(0x0F)));
  const __m128i hi =
      _mm_srli_epi16(_mm_mullo_epi16(_mm_set1_epi16(static_cast<int16_t>(x.scales_h)),
                                     _mm_setr_epi16(1 << 14, 1 << 12, 1 << 10, 1 << 8, 1 << 6, 1 << 4, 1 << 2, 1)),
                     14);
  const __m128i ls = _mm_or_si128(_mm_cvtepu8_epi16(lo), _mm_slli_epi16(hi, 4));
  return _mm256_broadcastsi128_si256(_mm_sub_epi16(ls, _mm_set1_epi16(32)));
}

// ---- q2_K / q3_K: 16 sub-blocks of 16 -----------------------------------------

// The 32 values of bit plane j (0..3) of 32 packed bytes: (q >> 2j) & 3.
inline __m256i plane(__m256i q, int j) {
  return _mm256_and_si256(_mm256_srl_epi16(q, _mm_cvtsi32_si128(2 * j)), _mm256_set1_epi8(3));
}
// Scales of plane j of one half (8 int16 scales broadcast to both lanes): the
// low lane gets scale 2j (values 0-15), the high lane 2j+1 (values 16-31).
inline __m256i plane_scales(__m256i scales8, int j) {
  const __m256i ctrl = _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(0x0100 * (4 * j + 3) + 4 * j + 2)),
                                        _mm_set1_epi16(static_cast<int16_t>(0x0100 * (4 * j + 1) + 4 * j)));
  return _mm256_shuffle_epi8(scales8, ctrl);
}
// Bit 4h+j of each hmask byte, as 4 (the q3_K third bit of plane j of half h).
inline __m256i third_bit(__m256i hm, int p) {
  const __m256i v =
      p >= 2 ? _mm256_srl_epi16(hm, _mm_cvtsi32_si128(p - 2)) : _mm256_sll_epi16(hm, _mm_cvtsi32_si128(2 - p));
  return _mm256_and_si256(v, _mm256_set1_epi8(4));
}

// q2_K / q3_K, R weight rows x C activation rows. Per super-block and row:
// sumi[c] = sum over planes of madd(maddubs(plane, a), scales) minus the
// offset term (q3_K: 4 * madd(scales, bsums)); q2_K's mins go to accm.
template <bool kThree, int R, int C>
void tile_k16(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* out, size_t os) {
  using Block = typename std::conditional<kThree, block_q3_K, block_q2_K>::type;
  const int64_t nb = k / QK_K;
  __m256 acc[R][C];
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const block_q8_K* y[C];
    for (int c = 0; c < C; c++) y[c] = reinterpret_cast<const block_q8_K*>(a + as * c) + b;
    for (int r = 0; r < R; r++) {
      const Block& x = reinterpret_cast<const Block*>(w + ws * r)[b];
      if (C == 1) prefetch_block(&x, R * ws);
      __m128i sc8;  // the 16 sub-block scales as bytes
      if constexpr (kThree) {
        sc8 = q3_K_scales(x.scales);
      } else {
        sc8 = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales)), _mm_set1_epi8(0x0F));
      }
      const __m256i sc16 = kThree ? _mm256_cvtepi8_epi16(sc8) : _mm256_cvtepu8_epi16(sc8);
      __m256i sumi[C];
      for (int c = 0; c < C; c++) {
        const __m256i off = _mm256_madd_epi16(sc16, load32(y[c]->bsums));
        sumi[c] = kThree ? _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 2)) : _mm256_setzero_si256();
      }
      __m256i hm = _mm256_setzero_si256();
      if constexpr (kThree) hm = load32(x.hmask);
      for (int h = 0; h < 2; h++) {
        const __m256i q = load32(x.qs + 32 * h);
        const __m128i half = h ? _mm_unpackhi_epi64(sc8, sc8) : sc8;  // scales 8h..8h+7 in the low 8 bytes
        const __m256i s8 = _mm256_broadcastsi128_si256(kThree ? _mm_cvtepi8_epi16(half) : _mm_cvtepu8_epi16(half));
        for (int j = 0; j < 4; j++) {
          __m256i v = plane(q, j);
          if constexpr (kThree) v = _mm256_or_si256(v, third_bit(hm, 4 * h + j));
          const __m256i s = plane_scales(s8, j);
          for (int c = 0; c < C; c++) {
            const __m256i p = _mm256_maddubs_epi16(v, load32(y[c]->qs + 128 * h + 32 * j));
            sumi[c] = _mm256_add_epi32(sumi[c], _mm256_madd_epi16(p, s));
          }
        }
      }
      const float dw = _cvtsh_ss(x.d);
      for (int c = 0; c < C; c++) {
        acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * y[c]->d), _mm256_cvtepi32_ps(sumi[c]), acc[r][c]);
        if constexpr (!kThree) {
          const block_q2_K& x2 = reinterpret_cast<const block_q2_K&>(x);
          const __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(
              _mm_srli_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x2.scales)), 4), _mm_set1_epi8(0x0F)));
          const __m256i mins = _mm256_madd_epi16(m16, load32(y[c]->bsums));
          acc[r][c] =
              _mm256_fnmadd_ps(_mm256_set1_ps(_cvtsh_ss(x2.dmin) * y[c]->d), _mm256_cvtepi32_ps(mins), acc[r][c]);
        }
      }
    }
  }
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) out[os * c + r] = hsum(acc[r][c]);
}

// iq4_xs, R x C: per sub-block of 32, madd(dot_pairs(values, a), scale).
template <int R, int C>
void tile_iq4_xs_impl(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* out, size_t os) {
  const int64_t nb = k / QK_K;
  const __m256i table = iq4_table();
  __m256 acc[R][C];
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const block_q8_K* y[C];
    for (int c = 0; c < C; c++) y[c] = reinterpret_cast<const block_q8_K*>(a + as * c) + b;
    for (int r = 0; r < R; r++) {
      const block_iq4_xs& x = reinterpret_cast<const block_iq4_xs*>(w + ws * r)[b];
      if (C == 1) prefetch_block(&x, R * ws);
      __m256i sumi[C];
      for (int c = 0; c < C; c++) sumi[c] = _mm256_setzero_si256();
      const __m256i scales = iq4_xs_scales(x);
      for (int s = 0; s < QK_K / 32; s++) {
        const __m256i v = iq4_values(table, x.qs + 16 * s);
        const __m256i sc = broadcast_i16(scales, s);
        for (int c = 0; c < C; c++)
          sumi[c] = _mm256_add_epi32(sumi[c], _mm256_madd_epi16(dot_pairs(v, load32(y[c]->qs + 32 * s)), sc));
      }
      const float dw = _cvtsh_ss(x.d);
      for (int c = 0; c < C; c++)
        acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * y[c]->d), _mm256_cvtepi32_ps(sumi[c]), acc[r][c]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) out[os * c + r] = hsum(acc[r][c]);
}

// iq4_nl x q8_0, R x C: one 32-value block per step, scale dw * da.
template <int R, int C>
void tile_iq4_nl_impl(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* out, size_t os) {
  const int64_t nb = k / QK4_NL;
  const __m256i table = iq4_table(), ones = _mm256_set1_epi16(1);
  __m256 acc[R][C];
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    __m256i ay[C];
    float da[C];
    for (int c = 0; c < C; c++) {
      const block_q8_0& y = reinterpret_cast<const block_q8_0*>(a + as * c)[b];
      ay[c] = load32(y.qs);
      da[c] = _cvtsh_ss(y.d);
    }
    for (int r = 0; r < R; r++) {
      const block_iq4_nl& x = reinterpret_cast<const block_iq4_nl*>(w + ws * r)[b];
      if (C == 1) prefetch_next_tile(&x, R * ws);
      const __m256i v = iq4_values(table, x.qs);
      const float dw = _cvtsh_ss(x.d);
      for (int c = 0; c < C; c++) {
        const __m256i p = _mm256_madd_epi16(dot_pairs(v, ay[c]), ones);
        acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * da[c]), _mm256_cvtepi32_ps(p), acc[r][c]);
      }
    }
  }
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) out[os * c + r] = hsum(acc[r][c]);
}

#if MM_HAVE_VNNI
// iq4_nl with vpdpbusd: the levels + 128 are unsigned (1..241), so each pair is
// one dpbusd starting from -128 * sum(a) (computed once per activation block).
template <int R, int C>
MM_TARGET_VNNI void tile_iq4_nl_vnni(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* out,
                                     size_t os) {
  const int64_t nb = k / QK4_NL;
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  const __m256i table = _mm256_xor_si256(iq4_table(), flip);
  __m256 acc[R][C];
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    __m256i ay[C], m128[C];
    float da[C];
    for (int c = 0; c < C; c++) {
      const block_q8_0& y = reinterpret_cast<const block_q8_0*>(a + as * c)[b];
      ay[c] = load32(y.qs);
      da[c] = _cvtsh_ss(y.d);
      m128[c] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), flip, ay[c]));
    }
    for (int r = 0; r < R; r++) {
      const block_iq4_nl& x = reinterpret_cast<const block_iq4_nl*>(w + ws * r)[b];
      if (C == 1) prefetch_next_tile(&x, R * ws);
      const __m256i u = iq4_values(table, x.qs);
      const float dw = _cvtsh_ss(x.d);
      for (int c = 0; c < C; c++) {
        const __m256i p = _mm256_dpbusd_avx_epi32(m128[c], u, ay[c]);
        acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * da[c]), _mm256_cvtepi32_ps(p), acc[r][c]);
      }
    }
  }
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) out[os * c + r] = hsum(acc[r][c]);
}
template <int R, int C>
struct TileIq4NlVnni {
  static void run(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* o, size_t os) {
    tile_iq4_nl_vnni<R, C>(k, w, ws, a, as, o, os);
  }
};
#endif

template <int R, int C>
struct TileQ2K {
  static void run(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* o, size_t os) {
    tile_k16<false, R, C>(k, w, ws, a, as, o, os);
  }
};
template <int R, int C>
struct TileQ3K {
  static void run(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* o, size_t os) {
    tile_k16<true, R, C>(k, w, ws, a, as, o, os);
  }
};
template <int R, int C>
struct TileIq4Xs {
  static void run(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* o, size_t os) {
    tile_iq4_xs_impl<R, C>(k, w, ws, a, as, o, os);
  }
};
template <int R, int C>
struct TileIq4Nl {
  static void run(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* o, size_t os) {
    tile_iq4_nl_impl<R, C>(k, w, ws, a, as, o, os);
  }
};

// Row kernels: the 1 x 1 tiles.
template <template <int, int> class K>
float row_dot(int64_t n, const void* w, const void* a) {
  float out;
  K<1, 1>::run(n, static_cast<const uint8_t*>(w), 0, static_cast<const uint8_t*>(a), 0, &out, 0);
  return out;
}

}  // namespace

void add_lowbit_kernels(DotKernels& k) {
  k.q2_K = row_dot<TileQ2K>;
  k.q3_K = row_dot<TileQ3K>;
  k.iq4_nl = row_dot<TileIq4Nl>;
  k.iq4_xs = row_dot<TileIq4Xs>;
}

void add_lowbit_tiles(TileKernels& t, bool vnni) {
  t.q2_K = tile_dispatch<TileQ2K>;
  t.q3_K = tile_dispatch<TileQ3K>;
  t.iq4_xs = tile_dispatch<TileIq4Xs>;
  t.iq4_nl = tile_dispatch<TileIq4Nl>;
#if MM_HAVE_VNNI
  if (vnni) t.iq4_nl = tile_dispatch<TileIq4NlVnni>;
#else
  (void)vnni;
#endif
}

}  // namespace avx2
}  // namespace mm
