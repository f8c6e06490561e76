// AVX-512 VNNI decode tiles for q4_0, q5_0, iq4_nl, the K-quants (q2_K to q6_K)
// and iq4_xs weights (see DotTileFn in vec_dot.h): one activation row (q8_K
// activations: up to 3) against up to 4 weight rows read in place. q4_0 /
// iq4_nl: groups of four blocks against an activation row prepared once per
// matmul (act_extra); q5_0: two blocks per 512-bit vpdpbusd; K-quants and
// iq4_xs: 64 values per vector against their activation bytes as they lie
// (q4_K / q5_K: reordered once per matmul to meet two runs per load), AVX2's
// bits (a thread from L2 on the Zen 5: q4_K 18.7 -> 41.7 GB/s, iq4_xs
// 16.4 -> 22.4, q2_K 15.7 -> 21.0, q3_K 14.2 -> 20.8 against AVX2's tiles;
// q5_K 19.7 -> 40.3 and q6_K 23.7 -> 47.6 against AVX2's row kernels, which
// had no tile then; q5_K has one since, with the same bits). (q8_0 read in
// place takes the AVX2 / AVX-VNNI tile at this level too: the regrouped q8_0
// tile, regroup_x8.h, has its float order, so the same weights give the same
// bits both ways, with or without hugePages.) Compiled
// in the cpu_avx512 library; chosen only after cpu_use_avx512(). Tiles of q4_0,
// q5_0 and iq4_nl with more than one activation row go to the AVX2 / AVX-VNNI tiles.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own AVX-512 headers trip this warning (_mm512_undefined_* idioms).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "../../kernels/quant_blocks.h"
#include "avx2_common.h"
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
// Every line of a weight block, prefetch_ahead's distance on (the same block of the next tile's row).
template <typename Block>
inline void prefetch_block(const Block& x, size_t ahead) {
  for (size_t o = 0; o < sizeof(Block); o += 64) prefetch_next_tile(reinterpret_cast<const uint8_t*>(&x) + o, ahead);
}
// lo in every 16-bit / 8-bit lane of the low 256 bits, hi in those of the high 256 bits.
inline __m512i halves_epi16(int lo, int hi) {
  return _mm512_inserti64x4(_mm512_set1_epi16(static_cast<int16_t>(lo)), _mm256_set1_epi16(static_cast<int16_t>(hi)),
                            1);
}
inline __m512i halves_epi8(int lo, int hi) {
  return _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(lo)), _mm256_set1_epi8(static_cast<char>(hi)), 1);
}

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

// The q4_0 / iq4_nl decode tile over groups of four blocks (128 weights, 72 bytes of a row), the activation row
// prepared once per matmul (fill_act_groups) instead of once per 4-row tile. Per row and group: two overlapping 64-byte
// loads, one vpermt2w gathering the four blocks' 64 nibble bytes, two vpdpbusd (low nibbles against values 0-15 of
// each block, high ones against 16-31) on top of the group's -z * (activation sums), and the four scales gathered by
// one vpermw, multiplied with the activations' as four floats, spread to the 16 lanes (lane l: block l / 4). About
// half the pair loop's vector work per weight; one thread, weights in L2: 18.4 -> 26.5 GB/s (see notes/tile).
constexpr size_t kGroupBytes = 4 * sizeof(block_q4_0);  // 72
static_assert(sizeof(block_iq4_nl) == sizeof(block_q4_0), "iq4_nl and q4_0 blocks share the group layout");

// One group of four blocks of the prepared activation row, 256 bytes:
struct ActGroup {
  int8_t lo[64], hi[64];  // byte 16 j + i: value i (lo) / 16 + i (hi) of block j
  int32_t zs[16];         // lane l: -8 * (lo and hi bytes 4 l .. 4 l + 3 summed): q4_0's zero point times them
  float da[4];            // block j's scale
  float pad[12];          // (64-byte groups)
};
static_assert(sizeof(ActGroup) == 256, "ActGroup: four 64-byte lines");

// Where the groups start after a q8_0 row (see ActExtra in vec_dot.h: the row rounded up to 64 bytes).
inline size_t act_groups_offset(int64_t k) {
  return (static_cast<size_t>(k / QK8_0) * sizeof(block_q8_0) + 63) / 64 * 64;
}
size_t act_groups_bytes(int64_t k) { return static_cast<size_t>(k / QK8_0 / 4) * sizeof(ActGroup); }

// The groups of a q8_0 row (the blocks past the last whole group are read from the row itself). One layout for q4_0
// and iq4_nl (whose tile scales zs by 16: zero point 128), so their matmuls still share one activation pass.
void fill_act_groups(int64_t k, const void* row, void* extra) {
  const block_q8_0* y = static_cast<const block_q8_0*>(row);
  ActGroup* g = static_cast<ActGroup*>(extra);
  const __m512i z = _mm512_set1_epi8(8);
  for (int64_t i = 0; i + 4 <= k / QK8_0; i += 4, g++, y += 4) {
    for (int j = 0; j < 4; j++) {
      std::memcpy(g->lo + 16 * j, y[j].qs, 16);
      std::memcpy(g->hi + 16 * j, y[j].qs + 16, 16);
      g->da[j] = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(y[j].d)));
    }
    std::memset(g->pad, 0, sizeof(g->pad));
    const __m512i s = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), z, _mm512_loadu_si512(g->lo)), z,
                                          _mm512_loadu_si512(g->hi));
    _mm512_storeu_si512(g->zs, _mm512_sub_epi32(_mm512_setzero_si512(), s));
  }
}

template <int R, bool kIq4>
void tile_q4_0_groups(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, float* out) {
  const ActGroup* ag = reinterpret_cast<const ActGroup*>(a + act_groups_offset(k));
  const int64_t ng = k / QK8_0 / 4;
  const __m512i levels = iq4_levels_u();
  const __m512i lo4 = _mm512_set1_epi8(0x0F);
  // Word i of the gathered nibbles: block i / 8's qs word i % 8, group word 1 + 9 (i / 8) + i % 8; from word 32 on
  // out of the second load, 8 bytes on (index 32 + word - 4).
  alignas(64) static const uint16_t kQIdx[32] = {1,  2,  3,  4,  5,  6,  7,  8,  10, 11, 12, 13, 14, 15, 16, 17,
                                                 19, 20, 21, 22, 23, 24, 25, 26, 28, 29, 30, 31, 60, 61, 62, 63};
  alignas(64) static const uint16_t kDIdx[32] = {0, 9, 18, 27};  // the four scales: group words 9 j
  const __m512i qidx = _mm512_load_si512(kQIdx), didx = _mm512_load_si512(kDIdx);
  const __m512i spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  __m512 acc[R];
  for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
  const size_t ahead = prefetch_ahead(R * ws);
  for (int64_t g = 0; g < ng; g++, ag++) {
    const __m512i alo = _mm512_load_si512(ag->lo), ahi = _mm512_load_si512(ag->hi);
    const __m512i zs = kIq4 ? _mm512_slli_epi32(_mm512_load_si512(ag->zs), 4) : _mm512_load_si512(ag->zs);
    const __m128 da = _mm_load_ps(ag->da);
    for (int r = 0; r < R; r++) {
      const uint8_t* x = w + ws * r + kGroupBytes * g;
      prefetch_next_tile(x, ahead);  // (two per 72 bytes: every line of the next tile)
      prefetch_next_tile(x, ahead + 64);
      const __m512i v0 = _mm512_loadu_si512(x), v1 = _mm512_loadu_si512(x + 8);
      const __m512i q = _mm512_permutex2var_epi16(v0, qidx, v1);
      __m512i lo = _mm512_and_si512(q, lo4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), lo4);
      if constexpr (kIq4) {
        lo = _mm512_shuffle_epi8(levels, lo);
        hi = _mm512_shuffle_epi8(levels, hi);
      }
      const __m512i sum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zs, lo, alo), hi, ahi);
      // (each lane's scale the same product of two floats as the pair loop's)
      const __m128 dw = _mm_cvtph_ps(_mm512_castsi512_si128(_mm512_permutexvar_epi16(didx, v0)));
      const __m512 sc = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(_mm_mul_ps(dw, da)));
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), sc, acc[r]);
    }
  }
  float tail[R] = {};
  if (4 * ng < k / QK8_0) {  // the last one to three blocks: the pair loop
    const int64_t done = 4 * ng;
    tile_q4_0<R, false, kIq4>(k - QK8_0 * done, w + sizeof(block_q4_0) * done, ws, a + sizeof(block_q8_0) * done, tail);
  }
  for (int r = 0; r < R; r++) out[r] = _mm512_reduce_add_ps(acc[r]) + tail[r];
}

// ---- q4_K x q8_K -------------------------------------------------------------

// R weight rows x C activation rows, in avx2's tile_q4_K_impl's arithmetic (so its bits): per block and
// row the same 8 int32 lane sums (lane l: the sub-block-scaled products of bytes 4l..4l+3 of each 32-byte
// run of nibbles), the same float FMA and the same mins term. Integer sums are exact, so the lanes may be
// gathered in any order: here one 64-byte load holds two runs (2p, 2p + 1), their low nibbles (lanes 0-7 /
// 8-15) in one vector and their high nibbles in another, against activation bytes reordered to match once
// per matmul (ActQ8KPairs), with the scales applied by vpdpwssd. Per 128 values and row: one load, three
// mask / shift steps, two scale spreads and two product + scale steps (the earlier in-place tile: two
// broadcasts, four mask / shift steps, two spreads and two maddubs + madd + add each).
//
// kFive: q5_K (avx2's q5_K tile and dot_q5_K), q4_K plus a fifth bit per value: bit 2j (low nibbles) or 2j + 1
// (high nibbles) of byte l of qh for value l of run j; here one byte test per vector picks both runs' bits.

// A q8_K block of the activation row as the q4_K / q5_K tiles read it (see ActExtra in vec_dot.h):
struct ActQ8KPairs {
  // Run pair p (0, 1) at 128 p: the values the runs' low nibbles meet (128 p + 0..31, then 128 p + 64..95),
  // then those their high nibbles meet (128 p + 32..63, 128 p + 96..127).
  int8_t qs[256];
  int16_t bs[16];  // 0..7: zero; 8 + i: sub-block i's sum (words 8-15 meet the mins in [scales | mins] words)
  float d;
  float pad[7];  // (64-byte blocks)
};
static_assert(sizeof(ActQ8KPairs) == 320, "ActQ8KPairs: five 64-byte lines");

// Where the reordered blocks start after a q8_K row (the row rounded up to 64 bytes).
inline size_t act_pairs_offset(int64_t k) {
  return (static_cast<size_t>(k / QK_K) * sizeof(block_q8_K) + 63) / 64 * 64;
}
size_t act_pairs_bytes(int64_t k) { return static_cast<size_t>(k / QK_K) * sizeof(ActQ8KPairs); }

void fill_act_pairs(int64_t k, const void* row, void* extra) {
  const block_q8_K* y = static_cast<const block_q8_K*>(row);
  ActQ8KPairs* g = static_cast<ActQ8KPairs*>(extra);
  for (int64_t b = 0; b < k / QK_K; b++, y++, g++) {
    for (int p = 0; p < 2; p++) {
      const int8_t* s = y->qs + 128 * p;
      int8_t* o = g->qs + 128 * p;
      std::memcpy(o, s, 32);
      std::memcpy(o + 32, s + 64, 32);
      std::memcpy(o + 64, s + 32, 32);
      std::memcpy(o + 96, s + 96, 32);
    }
    for (int i = 0; i < 8; i++) {
      g->bs[i] = 0;
      g->bs[8 + i] = static_cast<int16_t>(y->bsums[2 * i] + y->bsums[2 * i + 1]);  // (|sum| <= 32 * 128)
    }
    g->d = y->d;
    std::memset(g->pad, 0, sizeof(g->pad));
  }
}

// kX4: the rows interleaved 4 at a time (regroup_x4.h; R is 4, w the group, ws unused), as avx2's.
template <int R, int C, bool kFive, bool kX4 = false>
void tile_q4_K_impl(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* out, size_t os) {
  static_assert(!kX4 || R == kTileW, "an interleaved group is a whole tile");
  const int64_t nb = k / QK_K;
  const uint8_t* ex = a + act_pairs_offset(k);  // activation row c's blocks: ex + as * c
  __m256 acc[R][C];
  __m128 accm[C];  // [4] the rows' mins terms
  for (int c = 0; c < C; c++) {
    accm[c] = _mm_setzero_ps();
    for (int r = 0; r < R; r++) acc[r][c] = _mm256_setzero_ps();
  }
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  // int16 scale indices of pair p's low-nibble vector (sub-blocks 4p, 4p + 2) and high-nibble one (4p + 1, 4p + 3)
  __m512i scale_lo[2], scale_hi[2];
  // q5_K: the byte masks of the same vectors' fifth bits (bit s of qh for sub-block s)
  __m512i fifth_lo[2], fifth_hi[2];
  for (int p = 0; p < 2; p++) {
    scale_lo[p] = halves_epi16(4 * p, 4 * p + 2);
    scale_hi[p] = halves_epi16(4 * p + 1, 4 * p + 3);
    fifth_lo[p] = halves_epi8(1 << (4 * p), 1 << (4 * p + 2));
    fifth_hi[p] = halves_epi8(1 << (4 * p + 1), 1 << (4 * p + 3));
  }
  const __m512i sixteen = _mm512_set1_epi8(16);
  // lanes 2r and 2r + 1 (row r's d and dmin) of a row pair of scales
  __m256i d_lane[4];
  for (int r = 0; r < 4; r++) d_lane[r] = _mm256_set1_epi32(2 * r);
  const __m256i dmin_lanes = _mm256_setr_epi32(1, 3, 5, 7, 1, 3, 5, 7);
  using Block = std::conditional_t<kFive, block_q5_K, block_q4_K>;
  const size_t row_step = kX4 ? sizeof(Block) : ws;                        // row r's blocks from w + row_step * r
  const size_t block_step = kX4 ? kTileW * sizeof(Block) : sizeof(Block);  // block b at + block_step * b
  const size_t ahead = prefetch_ahead(kX4 ? kTileW * sizeof(Block) * static_cast<size_t>(nb) : R * ws);
  for (int64_t b = 0; b < nb; b++) {
    const ActQ8KPairs* y[C];
    for (int c = 0; c < C; c++) y[c] = reinterpret_cast<const ActQ8KPairs*>(ex + as * c) + b;
    // [R] (d, dmin) f16 pairs -> floats [d0, dmin0, d1, dmin1, ...], times each activation row's scale
    const __m256 ddf = _mm256_cvtph_ps(avx2::scale_pairs<R>(w + block_step * b, row_step));
    __m256 dy[C];  // [d0 yd, dmin0 yd, ...] (y.d * dw: the same product as avx2's)
    for (int c = 0; c < C; c++) dy[c] = _mm256_mul_ps(ddf, _mm256_set1_ps(y[c]->d));
    __m256i mins[C][4];  // [R] of [8] int32: lanes 4-7 a row's min x sub-block sum products
    for (int r = 0; r < R; r++) {
      const Block& x = *reinterpret_cast<const Block*>(w + row_step * r + block_step * b);
      if (C == 1) prefetch_block(x, ahead);
      const __m256i s16 = _mm256_cvtepu8_epi16(avx2::q4_K_scales_mins(x.scales));  // [16] int16: scales, mins
      const __m512i sc = _mm512_zextsi256_si512(s16);
      __m512i sumi[C];
      for (int c = 0; c < C; c++) sumi[c] = _mm512_setzero_si512();
      __m512i high = _mm512_setzero_si512();  // q5_K: qh's 32 bytes in both halves
      if constexpr (kFive) high = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qh)));
      for (int p = 0; p < 2; p++) {
        const __m512i q = _mm512_loadu_si512(x.qs + 64 * p);
        __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
        if constexpr (kFive) {
          lo = _mm512_mask_add_epi8(lo, _mm512_test_epi8_mask(high, fifth_lo[p]), lo, sixteen);
          hi = _mm512_mask_add_epi8(hi, _mm512_test_epi8_mask(high, fifth_hi[p]), hi, sixteen);
        }
        const __m512i slo = _mm512_permutexvar_epi16(scale_lo[p], sc);
        const __m512i shi = _mm512_permutexvar_epi16(scale_hi[p], sc);
        for (int c = 0; c < C; c++) {
          const int8_t* yq = y[c]->qs + 128 * p;
          // nibble (q5_K: 0..31) x activation pairs <= 2 * 31 * 128 in int16; times a 6-bit scale, pairs, in int32
          sumi[c] = _mm512_dpwssd_epi32(sumi[c], _mm512_maddubs_epi16(lo, _mm512_load_si512(yq)), slo);
          sumi[c] = _mm512_dpwssd_epi32(sumi[c], _mm512_maddubs_epi16(hi, _mm512_load_si512(yq + 64)), shi);
        }
      }
      for (int c = 0; c < C; c++) {
        const __m256i si = _mm256_add_epi32(_mm512_castsi512_si256(sumi[c]), _mm512_extracti64x4_epi64(sumi[c], 1));
        acc[r][c] = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(dy[c], d_lane[r]), _mm256_cvtepi32_ps(si), acc[r][c]);
        mins[c][r] = _mm256_madd_epi16(s16, _mm256_load_si256(reinterpret_cast<const __m256i*>(y[c]->bs)));
      }
    }
    for (int c = 0; c < C; c++) {
      // lane r: row r's mins sum (lanes 4-7 of its products; hadd keeps 128-bit halves apart, lanes 0-3 are zero)
      __m256i m[4];
      for (int r = 0; r < 4; r++) m[r] = r < R ? mins[c][r] : _mm256_setzero_si256();
      const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(m[0], m[1]), _mm256_hadd_epi32(m[2], m[3]));
      const __m128 dmy = _mm256_castps256_ps128(_mm256_permutevar8x32_ps(dy[c], dmin_lanes));  // [4] yd dmin_r
      accm[c] = _mm_add_ps(accm[c], _mm_mul_ps(dmy, _mm_cvtepi32_ps(_mm256_extracti128_si256(h, 1))));
    }
  }
  for (int c = 0; c < C; c++) {
    float m[4];
    _mm_storeu_ps(m, accm[c]);
    for (int r = 0; r < R; r++) out[os * c + r] = avx2::hsum(acc[r][c]) - m[r];
  }
}

template <int R, int C>
struct TileQ4K {
  static void run(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* o, size_t os) {
    tile_q4_K_impl<R, C, false>(k, w, ws, a, as, o, os);
  }
};
template <int R, int C>
struct TileQ5K {
  static void run(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* o, size_t os) {
    tile_q4_K_impl<R, C, true>(k, w, ws, a, as, o, os);
  }
};
// Over interleaved groups (regroup_x4.h): whole tiles only (tile_dispatch is asked for nr = 4).
template <int R, int C>
struct TileQ4KX4 {
  static void run(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* o, size_t os) {
    if constexpr (R == kTileW) tile_q4_K_impl<R, C, false, true>(k, w, ws, a, as, o, os);
  }
};
template <int R, int C>
struct TileQ5KX4 {
  static void run(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* o, size_t os) {
    if constexpr (R == kTileW) tile_q4_K_impl<R, C, true, true>(k, w, ws, a, as, o, os);
  }
};

// ---- q6_K x q8_K -------------------------------------------------------------

// int16 indices: i + q in every lane of 128-bit quarter q (a vpermw spreading 4 consecutive int16 values).
inline __m512i quarter_index(int i) {
  const __m256i lo =
      _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(i + 1)), _mm_set1_epi16(static_cast<int16_t>(i)));
  const __m256i hi =
      _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(i + 3)), _mm_set1_epi16(static_cast<int16_t>(i + 2)));
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// R weight rows x C activation rows, in avx2's dot_q6_K arithmetic (so its bits, row by row): the same 8
// int32 lane sums per block (lane l: the sub-block-scaled products of bytes 4l..4l+3 of each 32 values),
// minus 32 x sum(scale x bsums) in lane 0, and the same float steps. A half block's 64 low-nibble bytes are
// one load whose low nibbles are values 0-63 and high nibbles 64-127 (two 32-value runs per vector,
// against their 64 activation bytes as they lie); its 32 high-bit bytes are broadcast to both halves and
// shifted by 0 / 2 there, so one vector's 2-bit fields give both runs' fifth and sixth bits.
// kX4: the rows interleaved 4 at a time (regroup_x4.h; R is 4, w the group, ws unused), as tile_q4_K_impl's.
template <int R, int C, bool kX4 = false>
void tile_q6_K_impl(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* out, size_t os) {
  static_assert(!kX4 || R == kTileW, "an interleaved group is a whole tile");
  const int64_t nb = k / QK_K;
  __m256 acc[R][C];
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
  const __m512i hi_shift = halves_epi16(0, 2);
  // the scales of pair p (runs 2p, 2p + 1 of 32 values: 4 sub-blocks of 16) as int16, one per 128-bit lane
  __m512i scale_index[4];
  for (int p = 0; p < 4; p++) scale_index[p] = quarter_index(4 * p);
  const size_t row_step = kX4 ? sizeof(block_q6_K) : ws;  // row r's blocks from w + row_step * r
  const size_t block_step = kX4 ? kTileW * sizeof(block_q6_K) : sizeof(block_q6_K);  // block b at + block_step * b
  const size_t ahead = prefetch_ahead(kX4 ? kTileW * sizeof(block_q6_K) * static_cast<size_t>(nb) : R * ws);
  for (int64_t b = 0; b < nb; b++) {
    for (int r = 0; r < R; r++) {
      const block_q6_K& x = *reinterpret_cast<const block_q6_K*>(w + row_step * r + block_step * b);
      if (C == 1) prefetch_block(x, ahead);
      const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales)));
      const __m512i sc = _mm512_castsi256_si512(sc16);
      __m512i v[4];  // pairs of 32-value runs: values 0-63, 64-127, 128-191, 192-255, as unsigned 0..63
      for (int h = 0; h < 2; h++) {
        const __m512i l = _mm512_loadu_si512(x.ql + 64 * h);
        const __m512i hb = _mm512_srlv_epi16(
            _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qh + 32 * h))), hi_shift);
        // (l & 0x0F) | ((hb & 3) << 4); (l >> 4 & 0x0F) | ((hb >> 4 & 3) << 4): 0xF8 is a | (b & c)
        v[2 * h] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_slli_epi16(hb, 4), m30), l, m4, 0xF8);
        v[2 * h + 1] = _mm512_ternarylogic_epi32(_mm512_and_si512(hb, m30), _mm512_srli_epi16(l, 4), m4, 0xF8);
      }
      __m512i s[4];
      for (int p = 0; p < 4; p++) s[p] = _mm512_permutexvar_epi16(scale_index[p], sc);
      const float dw = _cvtsh_ss(x.d);
      for (int c = 0; c < C; c++) {
        const block_q8_K& y = reinterpret_cast<const block_q8_K*>(a + as * c)[b];
        // (q - 32) * y = q * y - 32 * y: the second term from the block's bsums
        __m256i bias = _mm256_madd_epi16(sc16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.bsums)));
        __m512i sumi = _mm512_setzero_si512();
        for (int p = 0; p < 4; p++) {
          const __m512i yv = _mm512_loadu_si512(y.qs + 64 * p);
          // values 0..63 x activations: pairs <= 2 * 63 * 128 in int16; times an 8-bit scale, pairs, in int32
          sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(v[p], yv), s[p]);
        }
        const int bsum = avx2::hsum_i32(bias);
        const __m256i si =
            _mm256_sub_epi32(_mm256_add_epi32(_mm512_castsi512_si256(sumi), _mm512_extracti64x4_epi64(sumi, 1)),
                             _mm256_set_epi32(0, 0, 0, 0, 0, 0, 0, 32 * bsum));
        const float d = dw * y.d;
        acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(si), acc[r][c]);
      }
    }
  }
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) out[os * c + r] = avx2::hsum(acc[r][c]);
}

template <int R, int C>
struct TileQ6K {
  static void run(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* o, size_t os) {
    tile_q6_K_impl<R, C>(k, w, ws, a, as, o, os);
  }
};
template <int R, int C>
struct TileQ6KX4 {
  static void run(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* o, size_t os) {
    if constexpr (R == kTileW) tile_q6_K_impl<R, C, true>(k, w, ws, a, as, o, os);
  }
};

// ---- q2_K / q3_K x q8_K -------------------------------------------------------

// R weight rows x C activation rows, in avx2's tile_k16 arithmetic (so its bits): per block and row the same
// 8 int32 lane sums (q3_K: from minus 4 x madd(scales, bsums)), the same float steps (q2_K: its mins term
// by fnmadd). One 512-bit vector holds two 2-bit planes of a half block (the half's 32 packed bytes in both
// halves, shifted by 2j / 2j + 2), against their 64 activation bytes as they lie; q3_K's third bits by one
// byte test of hmask and a masked or; the four 16-value sub-blocks' scales spread by one vpermw.
template <bool kThree, int R, int C>
void tile_k16(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* out, size_t os) {
  using Block = std::conditional_t<kThree, block_q3_K, block_q2_K>;
  const int64_t nb = k / QK_K;
  const __m512i m3 = _mm512_set1_epi8(3), four = _mm512_set1_epi8(4);
  // planes 2p (low half) and 2p + 1 (high half): int16 shift counts 4p and 4p + 2
  __m512i plane_shift[2];
  for (int p = 0; p < 2; p++) plane_shift[p] = halves_epi16(4 * p, 4 * p + 2);
  const size_t ahead = prefetch_ahead(R * ws);
  __m256 acc[R][C];
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    for (int r = 0; r < R; r++) {
      const Block& x = reinterpret_cast<const Block*>(w + ws * r)[b];
      if (C == 1) prefetch_block(x, ahead);
      __m128i sc8;  // the 16 sub-block scales as bytes
      if constexpr (kThree) {
        sc8 = avx2::q3_K_scales(x.scales);
      } else {
        sc8 = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales)), _mm_set1_epi8(0x0F));
      }
      const __m256i sc16 = kThree ? _mm256_cvtepi8_epi16(sc8) : _mm256_cvtepu8_epi16(sc8);
      const __m512i scz = _mm512_castsi256_si512(sc16);
      __m256i sumi[C];
      __m512i sz[C];
      for (int c = 0; c < C; c++) {
        const block_q8_K& y = reinterpret_cast<const block_q8_K*>(a + as * c)[b];
        const __m256i off = _mm256_madd_epi16(sc16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.bsums)));
        sumi[c] = kThree ? _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 2)) : _mm256_setzero_si256();
        sz[c] = _mm512_setzero_si512();
      }
      __m512i hm = _mm512_setzero_si512();  // q3_K: hmask's 32 bytes in both halves
      if constexpr (kThree) hm = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.hmask)));
      for (int h = 0; h < 2; h++) {
        const __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 32 * h)));
        for (int p = 0; p < 2; p++) {
          __m512i v = _mm512_and_si512(_mm512_srlv_epi16(q, plane_shift[p]), m3);
          if constexpr (kThree) {
            // the third bit of plane j = 2p (+1) of half h: bit 4h + j of each hmask byte, as 4
            const __m512i bit = halves_epi8(1 << (4 * h + 2 * p), 1 << (4 * h + 2 * p + 1));
            v = _mm512_mask_add_epi8(v, _mm512_test_epi8_mask(hm, bit), v, four);
          }
          const __m512i s = _mm512_permutexvar_epi16(quarter_index(8 * h + 4 * p), scz);
          for (int c = 0; c < C; c++) {
            const __m512i y =
                _mm512_loadu_si512(reinterpret_cast<const block_q8_K*>(a + as * c)[b].qs + 128 * h + 64 * p);
            // plane values 0..7 x activation pairs <= 2 * 7 * 128 in int16; times a scale, pairs, in int32
            sz[c] = _mm512_dpwssd_epi32(sz[c], _mm512_maddubs_epi16(v, y), s);
          }
        }
      }
      const float dw = _cvtsh_ss(x.d);
      for (int c = 0; c < C; c++) {
        const block_q8_K& y = reinterpret_cast<const block_q8_K*>(a + as * c)[b];
        sumi[c] = _mm256_add_epi32(
            sumi[c], _mm256_add_epi32(_mm512_castsi512_si256(sz[c]), _mm512_extracti64x4_epi64(sz[c], 1)));
        acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * y.d), _mm256_cvtepi32_ps(sumi[c]), acc[r][c]);
        if constexpr (!kThree) {
          const __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(
              _mm_srli_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales)), 4), _mm_set1_epi8(0x0F)));
          const __m256i mins = _mm256_madd_epi16(m16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.bsums)));
          acc[r][c] = _mm256_fnmadd_ps(_mm256_set1_ps(_cvtsh_ss(x.dmin) * y.d), _mm256_cvtepi32_ps(mins), acc[r][c]);
        }
      }
    }
  }
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) out[os * c + r] = avx2::hsum(acc[r][c]);
}

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

// ---- iq4_xs x q8_K -----------------------------------------------------------

// An iq4_xs block's 8 signed 6-bit sub-block scales as int16: the low nibble of scales_l[s / 2] (nibble
// s % 2) and bits 2s, 2s + 1 of scales_h on top, minus 32.
inline __m128i iq4_xs_scales(const block_iq4_xs& x) {
  uint32_t l;
  std::memcpy(&l, x.scales_l, 4);
  const __m128i lv = _mm_cvtsi32_si128(static_cast<int>(l));
  const __m128i lo = _mm_unpacklo_epi8(_mm_and_si128(lv, _mm_set1_epi8(0x0F)),
                                       _mm_and_si128(_mm_srli_epi16(lv, 4), _mm_set1_epi8(0x0F)));
  const __m128i hi = _mm_and_si128(
      _mm_srlv_epi16(_mm_set1_epi16(static_cast<int16_t>(x.scales_h)), _mm_setr_epi16(0, 2, 4, 6, 8, 10, 12, 14)),
      _mm_set1_epi16(3));
  return _mm_sub_epi16(_mm_or_si128(_mm_cvtepu8_epi16(lo), _mm_slli_epi16(hi, 4)), _mm_set1_epi16(32));
}

// R weight rows x C activation rows, in avx2's tile_iq4_xs_impl arithmetic (so its bits): per block and row
// the same 8 int32 lane sums (lane l: each sub-block's scale times the products of its values 4l..4l+3,
// |w| x sign(a, w) as there: AVX-512 has no vpsignb, so a is negated under the mask of negative w), the
// same float steps. One 512-bit vector holds two sub-blocks (64 values against their activation bytes as
// they lie): their 32 nibble bytes spread to the four 128-bit lanes (low, high, low, high nibbles) and
// looked up in the 16 levels with one vpshufb.
template <int R, int C>
void tile_iq4_xs_impl(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* out, size_t os) {
  const int64_t nb = k / QK_K;
  const __m512i table = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i spread = _mm512_set_epi64(3, 2, 3, 2, 1, 0, 1, 0);  // 128-bit lanes: bytes 0-15, 0-15, 16-31, 16-31
  const __m512i nibble_shift = _mm512_set_epi64(0x0004000400040004LL, 0x0004000400040004LL, 0, 0, 0x0004000400040004LL,
                                                0x0004000400040004LL, 0, 0);
  __m512i scale_index[4];  // pair p: sub-block 2p's scale in the low half, 2p + 1's in the high half
  for (int p = 0; p < 4; p++) scale_index[p] = halves_epi16(2 * p, 2 * p + 1);
  const size_t ahead = prefetch_ahead(R * ws);
  __m256 acc[R][C];
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    for (int r = 0; r < R; r++) {
      const block_iq4_xs& x = reinterpret_cast<const block_iq4_xs*>(w + ws * r)[b];
      if (C == 1) prefetch_block(x, ahead);
      const __m512i sc = _mm512_castsi128_si512(iq4_xs_scales(x));
      __m512i sumi[C];
      for (int c = 0; c < C; c++) sumi[c] = _mm512_setzero_si512();
      for (int p = 0; p < 4; p++) {
        const __m512i q = _mm512_permutexvar_epi64(
            spread, _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 32 * p))));
        const __m512i v = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srlv_epi16(q, nibble_shift), m4));
        const __m512i av = _mm512_abs_epi8(v);
        const __mmask64 neg = _mm512_movepi8_mask(v);
        const __m512i s = _mm512_permutexvar_epi16(scale_index[p], sc);
        for (int c = 0; c < C; c++) {
          const __m512i y = _mm512_loadu_si512(reinterpret_cast<const block_q8_K*>(a + as * c)[b].qs + 64 * p);
          const __m512i sy = _mm512_mask_sub_epi8(y, neg, _mm512_setzero_si512(), y);
          // |w| <= 127 x activation pairs <= 32512 in int16; times a 6-bit scale, pairs, in int32
          sumi[c] = _mm512_dpwssd_epi32(sumi[c], _mm512_maddubs_epi16(av, sy), s);
        }
      }
      const float dw = _cvtsh_ss(x.d);
      for (int c = 0; c < C; c++) {
        const block_q8_K& y = reinterpret_cast<const block_q8_K*>(a + as * c)[b];
        const __m256i si = _mm256_add_epi32(_mm512_castsi512_si256(sumi[c]), _mm512_extracti64x4_epi64(sumi[c], 1));
        acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * y.d), _mm256_cvtepi32_ps(si), acc[r][c]);
      }
    }
  }
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) out[os * c + r] = avx2::hsum(acc[r][c]);
}

template <int R, int C>
struct TileIq4Xs {
  static void run(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* o, size_t os) {
    tile_iq4_xs_impl<R, C>(k, w, ws, a, as, o, os);
  }
};

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
    return wide.q4_0(k, w, ws, nr, a, as, nc, out, os);
  }
  const uint8_t* wb = static_cast<const uint8_t*>(w);
  const uint8_t* ab = static_cast<const uint8_t*>(a);
  auto run = [&](auto fn) { fn(k, wb, ws, ab, out); };
  if constexpr (T == DType::Q4_0 || T == DType::IQ4_NL) {
    // (rows laid out with fill_act_groups: see act_extra)
    constexpr bool iq4 = T == DType::IQ4_NL;
    switch (nr) {
      case 1: return run(tile_q4_0_groups<1, iq4>);
      case 2: return run(tile_q4_0_groups<2, iq4>);
      case 3: return run(tile_q4_0_groups<3, iq4>);
      default: return run(tile_q4_0_groups<4, iq4>);
    }
  } else {
    static_assert(T == DType::Q5_0, "q4_0, iq4_nl, q5_0");
    switch (nr) {
      case 1: return run(tile_q4_0<1, true>);
      case 2: return run(tile_q4_0<2, true>);
      case 3: return run(tile_q4_0<3, true>);
      default: return run(tile_q4_0<4, true>);
    }
  }
}

}  // namespace

const TileKernels& tile_kernels() {
  static const TileKernels k = [] {
    TileKernels t = avx2::tile_kernels();
    t.q4_0 = tile<DType::Q4_0>;
    t.q5_0 = tile<DType::Q5_0>;
    t.iq4_nl = tile<DType::IQ4_NL>;
    t.q4_K = avx2::tile_dispatch<TileQ4K>;
    t.q5_K = avx2::tile_dispatch<TileQ5K>;
    t.q4_K_x4 = avx2::tile_dispatch<TileQ4KX4>;
    t.q5_K_x4 = avx2::tile_dispatch<TileQ5KX4>;
    t.q6_K = avx2::tile_dispatch<TileQ6K>;
    t.q6_K_x4 = avx2::tile_dispatch<TileQ6KX4>;
    t.iq4_xs = avx2::tile_dispatch<TileIq4Xs>;
    t.q2_K = avx2::tile_dispatch<TileQ2K>;
    t.q3_K = avx2::tile_dispatch<TileQ3K>;
    return t;
  }();
  return k;
}

ActExtra act_extra(DType t) {
  if (t == DType::Q4_0 || t == DType::IQ4_NL) return {act_groups_bytes, fill_act_groups};
  if (t == DType::Q4_K || t == DType::Q5_K) return {act_pairs_bytes, fill_act_pairs};
  return {};
}

}  // namespace avx512
}  // namespace mm
