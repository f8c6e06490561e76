// x86-64 AVX2/FMA/F16C kernels. This file alone is compiled with -mavx2 -mfma
// -mf16c (binding.gyp's cpu_avx2 target); nothing here runs unless
// cpu_use_avx2() said the CPU has those extensions.
#include <immintrin.h>

#include <cmath>
#include <limits>
#include <cstdlib>
#include <type_traits>
#include <utility>

#include "vec_dot.h"
#include "attention_rows.h"
#include "avx2_common.h"
#include "cpu_features.h"
#include "x86_vnni.h"

#include <cstring>

#include "../../kernels/quant_blocks.h"

namespace mm {
namespace avx2 {

#define MM_FP16_TO_FP32(h) _cvtsh_ss(h)
#include "vec_dot_generic.inc"
#undef MM_FP16_TO_FP32

namespace {

// Sum of products of signed bytes x*y, as 8 int32 lanes (maddubs needs an
// unsigned operand: move x's sign onto y).
inline __m256i dot_i8_i32(__m256i x, __m256i y) {
  const __m256i ax = _mm256_sign_epi8(x, x);
  const __m256i sy = _mm256_sign_epi8(y, x);
  const __m256i p16 = _mm256_maddubs_epi16(ax, sy);
  return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

float dot_f32(int64_t n, const void* w, const void* a) {
  const float* x = static_cast<const float*>(w);
  const float* y = static_cast<const float*>(a);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
  float t = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; i++) t += x[i] * y[i];
  return t;
}

float dot_f16(int64_t n, const void* w, const void* a) {
  const uint16_t* x = static_cast<const uint16_t*>(w);
  const float* y = static_cast<const float*>(a);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  int64_t i = 0;
  auto ld = [&](int64_t k) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + k))); };
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(ld(i), _mm256_loadu_ps(y + i), s0);
    s1 = _mm256_fmadd_ps(ld(i + 8), _mm256_loadu_ps(y + i + 8), s1);
    s2 = _mm256_fmadd_ps(ld(i + 16), _mm256_loadu_ps(y + i + 16), s2);
    s3 = _mm256_fmadd_ps(ld(i + 24), _mm256_loadu_ps(y + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(ld(i), _mm256_loadu_ps(y + i), s0);
  float t = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; i++) t += _cvtsh_ss(x[i]) * y[i];
  return t;
}

float dot_bf16(int64_t n, const void* w, const void* a) {
  const uint16_t* x = static_cast<const uint16_t*>(w);
  const float* y = static_cast<const float*>(a);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  auto ld = [&](int64_t k) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + k));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  };
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(ld(i), _mm256_loadu_ps(y + i), s0);
    s1 = _mm256_fmadd_ps(ld(i + 8), _mm256_loadu_ps(y + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(ld(i), _mm256_loadu_ps(y + i), s0);
  float t = hsum(_mm256_add_ps(s0, s1));
  for (; i < n; i++) t += bf16_to_fp32(x[i]) * y[i];
  return t;
}

float dot_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const block_q8_0*>(w);
  const auto* y = static_cast<const block_q8_0*>(a);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / QK8_0; i++) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d));
    const __m256i bx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qs));
    const __m256i by = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_i8_i32(bx, by)), acc);
  }
  return hsum(acc);
}

float dot_q4_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const block_q4_0*>(w);
  const auto* y = static_cast<const block_q8_0*>(a);
  __m256 acc = _mm256_setzero_ps();
  const __m256i eight = _mm256_set1_epi8(8);
  for (int64_t i = 0; i < n / QK4_0; i++) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d));
    const __m256i bx = _mm256_sub_epi8(unpack_nibbles(x[i].qs), eight);
    const __m256i by = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_i8_i32(bx, by)), acc);
  }
  return hsum(acc);
}

float dot_q4_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const block_q4_1*>(w);
  const auto* y = static_cast<const block_q8_1*>(a);
  __m256 acc = _mm256_setzero_ps();
  float summ = 0;
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t i = 0; i < n / QK4_1; i++) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d));
    summ += _cvtsh_ss(x[i].m) * _cvtsh_ss(y[i].s);
    const __m256i bx = unpack_nibbles(x[i].qs);  // unsigned 0..15
    const __m256i by = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs));
    const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(bx, by), ones);
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
  }
  return hsum(acc) + summ;
}

// 32 fifth bits of a q5 block -> 0x10 in each byte whose bit is set.
inline __m256i expand_bits(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
  __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), shuf);
  const __m256i mask = _mm256_set1_epi64x(static_cast<long long>(0x7fbfdfeff7fbfdfe));
  v = _mm256_or_si256(v, mask);
  v = _mm256_cmpeq_epi8(v, _mm256_set1_epi64x(-1));  // 0xFF where the bit is set
  return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

float dot_q5_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const block_q5_0*>(w);
  const auto* y = static_cast<const block_q8_0*>(a);
  __m256 acc = _mm256_setzero_ps();
  const __m256i sixteen = _mm256_set1_epi8(16);
  for (int64_t i = 0; i < n / QK5_0; i++) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d));
    __m256i bx = _mm256_or_si256(unpack_nibbles(x[i].qs), expand_bits(x[i].qh));
    bx = _mm256_sub_epi8(bx, sixteen);
    const __m256i by = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_i8_i32(bx, by)), acc);
  }
  return hsum(acc);
}

float dot_q5_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const block_q5_1*>(w);
  const auto* y = static_cast<const block_q8_1*>(a);
  __m256 acc = _mm256_setzero_ps();
  float summ = 0;
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t i = 0; i < n / QK5_1; i++) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d));
    summ += _cvtsh_ss(x[i].m) * _cvtsh_ss(y[i].s);
    const __m256i bx = _mm256_or_si256(unpack_nibbles(x[i].qs), expand_bits(x[i].qh));  // 0..31
    const __m256i by = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].qs));
    const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(bx, by), ones);
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
  }
  return hsum(acc) + summ;
}

float dot_q4_K(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const block_q4_K*>(w);
  const auto* y = static_cast<const block_q8_K*>(a);
  __m256 acc = _mm256_setzero_ps();
  float acc_m = 0;
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  for (int64_t i = 0; i < n / QK_K; i++) {
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; j++) get_scale_min_k4(j, x[i].scales, &sc[j], &mn[j]);
    int summ = 0;
    for (int j = 0; j < 8; j++) summ += mn[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
    const uint8_t* q4 = x[i].qs;
    const int8_t* q8 = y[i].qs;
    __m256i sumi = _mm256_setzero_si256();
    for (int j = 0; j < 4; j++, q4 += 32, q8 += 64) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q4));
      const __m256i lo = _mm256_and_si256(q, m4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      const __m256i y0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8));
      const __m256i y1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 32));
      const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, y0), _mm256_set1_epi16(sc[2 * j]));
      const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y1), _mm256_set1_epi16(sc[2 * j + 1]));
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
    }
    const float d = y[i].d * _cvtsh_ss(x[i].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    acc_m += y[i].d * _cvtsh_ss(x[i].dmin) * summ;
  }
  return hsum(acc) - acc_m;
}

// q5_K: q4_K plus a fifth bit per element from qh (bit 2j / 2j+1 of qh[l] for
// the low / high nibbles of sub-block pair j), so values are 0..31.
float dot_q5_K(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const block_q5_K*>(w);
  const auto* y = static_cast<const block_q8_K*>(a);
  __m256 acc = _mm256_setzero_ps();
  float acc_m = 0;
  const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
  for (int64_t i = 0; i < n / QK_K; i++) {
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; j++) get_scale_min_k4(j, x[i].scales, &sc[j], &mn[j]);
    int summ = 0;
    for (int j = 0; j < 8; j++) summ += mn[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
    const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qh));
    const uint8_t* q4 = x[i].qs;
    const int8_t* q8 = y[i].qs;
    __m256i sumi = _mm256_setzero_si256();
    for (int j = 0; j < 4; j++, q4 += 32, q8 += 64) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q4));
      // (hb >> k) & 1 per byte: 16-bit shifts are fine once masked to bit 0.
      const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * j), one), 4);
      const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * j + 1), one), 4);
      const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4), h0);
      const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), h1);
      const __m256i y0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8));
      const __m256i y1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 32));
      const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, y0), _mm256_set1_epi16(sc[2 * j]));
      const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y1), _mm256_set1_epi16(sc[2 * j + 1]));
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
    }
    const float d = y[i].d * _cvtsh_ss(x[i].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    acc_m += y[i].d * _cvtsh_ss(x[i].dmin) * summ;
  }
  return hsum(acc) - acc_m;
}

// Decode streams each weight byte once from memory: prefetch ahead in every row
// (several interleaved rows defeat part of the hardware prefetcher's run-up).
// A tile's R rows are consecutive, so each row prefetches the same block of the
// row one tile below (R * ws bytes on) into L2: a fixed distance into L1 falls
// inside the current tile on short rows and too close on long ones.
inline void prefetch_next_tile(const void* x, size_t tile_bytes) {
  _mm_prefetch(static_cast<const char*>(x) + tile_bytes, _MM_HINT_T1);
}

// q6_K: per block 16 signed 8-bit scales of 16 values; (q - 32) . y = q . y - 32 * y, the second term from the
// block's bsums (one vpmaddwd of the scales and bsums, summed: the same integer as a scalar loop).
// R rows at once (out[r]), each row's arithmetic that of the row alone: row r's block b at w + row_step * r +
// block_step * b (in place: R = 1; interleaved 4 rows at a time, regroup_x4.h: R = 4, one block apart, blocks
// 4 apart), the next tile's same bytes (tile_bytes on) prefetched where tile_bytes > 0.
template <int R>
void dot_q6_K_rows(int64_t n, const uint8_t* w, size_t row_step, size_t block_step, size_t tile_bytes, const void* a,
                   float* out) {
  const auto* y = static_cast<const block_q8_K*>(a);
  __m256 acc[R];
  for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
  const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
  // vpshufb indices: int16 element 2k of a 128-bit lane in the low lane's words, 2k + 1 in the high lane's
  __m256i pick[4];
  for (int k = 0; k < 4; k++)
    pick[k] = _mm256_setr_m128i(_mm_set1_epi16(static_cast<int16_t>(0x0100 * (4 * k + 1) + 4 * k)),
                                _mm_set1_epi16(static_cast<int16_t>(0x0100 * (4 * k + 3) + 4 * k + 2)));
  for (int64_t i = 0; i < n / QK_K; i++) {
    for (int r = 0; r < R; r++) {
      const block_q6_K& x =
          *reinterpret_cast<const block_q6_K*>(w + row_step * r + block_step * static_cast<size_t>(i));
      if (tile_bytes > 0)
        for (size_t o = 0; o < sizeof(block_q6_K); o += 64)
          prefetch_next_tile(reinterpret_cast<const uint8_t*>(&x) + o, tile_bytes);
      const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales)));
      const int bias =
          hsum_i32(_mm256_madd_epi16(sc16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].bsums))));
      const uint8_t* ql = x.ql;
      const uint8_t* qh = x.qh;
      const int8_t* q8 = y[i].qs;
      __m256i sumi = _mm256_setzero_si256();
      for (int h = 0; h < 2; h++, ql += 64, qh += 32, q8 += 128) {
        // this half's 8 scales (int16) in both 128-bit lanes
        const __m256i sch =
            h == 0 ? _mm256_permute2x128_si256(sc16, sc16, 0x00) : _mm256_permute2x128_si256(sc16, sc16, 0x11);
        const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
        const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
        const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh));
        const __m256i q1 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4));
        const __m256i q2 = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4));
        const __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m2), 4));
        const __m256i q4 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                           _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m2), 4));
        const __m256i qs[4] = {q1, q2, q3, q4};
        for (int k = 0; k < 4; k++) {
          const __m256i yv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 32 * k));
          const __m256i p = _mm256_maddubs_epi16(qs[k], yv);  // 16 x i16: lanes 0-7 sub-block 2k, 8-15 2k+1
          // scales of sub-blocks 8h + 2k (low 128 bits) and 8h + 2k + 1 (high)
          sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_shuffle_epi8(sch, pick[k])));
        }
      }
      const float d = _cvtsh_ss(x.d) * y[i].d;
      acc[r] = _mm256_fmadd_ps(
          _mm256_set1_ps(d),
          _mm256_cvtepi32_ps(_mm256_sub_epi32(sumi, _mm256_set_epi32(0, 0, 0, 0, 0, 0, 0, 32 * bias))), acc[r]);
    }
  }
  for (int r = 0; r < R; r++) out[r] = hsum(acc[r]);
}
float dot_q6_K(int64_t n, const void* w, const void* a) {
  float out;
  dot_q6_K_rows<1>(n, static_cast<const uint8_t*>(w), 0, sizeof(block_q6_K), 0, a, &out);
  return out;
}

// ---- register-blocked tiles (see DotTileFn) ----------------------------------
// Weight blocks unpacked to signed bytes; both q4_0 and q8_0 pair with q8_0
// activations, so one tile template serves both.
inline __m256i load_signed(const block_q8_0& b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)); }
inline __m256i load_signed(const block_q4_0& b) { return _mm256_sub_epi8(unpack_nibbles(b.qs), _mm256_set1_epi8(8)); }

// R weight rows x C activation rows; acc[r][c] lives in registers (R*C <= 12).
// AVX-VNNI variants where the CPU has it (x86_vnni.h).

template <typename WB, int R, int C>
void tile_q8_act(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* out, size_t os) {
  const int64_t nb = k / QK8_0;
  __m256 acc[R][C];
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; b++) {
    __m256i ay[C];
    float da[C];
    for (int c = 0; c < C; c++) {
      const block_q8_0& y = reinterpret_cast<const block_q8_0*>(a + as * c)[b];
      ay[c] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.qs));
      da[c] = _cvtsh_ss(y.d);
    }
    if constexpr (std::is_same<WB, block_q4_0>::value) {
      // q4_0: (q - 8) . a = q . a - 8 * a pairwise in int16 (exact, no
      // saturation): the unsigned nibbles feed maddubs directly, and 8 * a is
      // computed once per activation block for all R weight rows.
      __m256i a8[C];
      for (int c = 0; c < C; c++) a8[c] = _mm256_maddubs_epi16(_mm256_set1_epi8(8), ay[c]);
      for (int r = 0; r < R; r++) {
        const WB& x = reinterpret_cast<const WB*>(w + ws * r)[b];
        if (C == 1) prefetch_next_tile(&x, R * ws);
        const __m256i q = unpack_nibbles(x.qs);
        const float dw = _cvtsh_ss(x.d);
        for (int c = 0; c < C; c++) {
          const __m256i p = _mm256_madd_epi16(_mm256_sub_epi16(_mm256_maddubs_epi16(q, ay[c]), a8[c]), ones);
          acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * da[c]), _mm256_cvtepi32_ps(p), acc[r][c]);
        }
      }
      continue;
    }
    for (int r = 0; r < R; r++) {
      const WB& x = reinterpret_cast<const WB*>(w + ws * r)[b];
      if (C == 1) prefetch_next_tile(&x, R * ws);
      const __m256i q = load_signed(x);
      const __m256i aq = _mm256_sign_epi8(q, q);
      const float dw = _cvtsh_ss(x.d);
      for (int c = 0; c < C; c++) {
        const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aq, _mm256_sign_epi8(ay[c], q)), ones);
        acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * da[c]), _mm256_cvtepi32_ps(p), acc[r][c]);
      }
    }
  }
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) out[os * c + r] = hsum(acc[r][c]);
}

#if MM_HAVE_VNNI
template <typename WB, int R, int C>
MM_TARGET_VNNI void tile_q8_act_vnni(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* out,
                                     size_t os) {
  const int64_t nb = k / QK8_0;
  __m256 acc[R][C];
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    __m256i ay[C];
    float da[C];
    for (int c = 0; c < C; c++) {
      const block_q8_0& y = reinterpret_cast<const block_q8_0*>(a + as * c)[b];
      ay[c] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.qs));
      da[c] = _cvtsh_ss(y.d);
    }
    if constexpr (std::is_same<WB, block_q4_0>::value) {
      // (q - 8) . a = q . a - 8 * a: start each sum at -(8 * a) (one dpbusd per pair).
      __m256i m8[C];
      for (int c = 0; c < C; c++)
        m8[c] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                 _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(8), ay[c]));
      for (int r = 0; r < R; r++) {
        const WB& x = reinterpret_cast<const WB*>(w + ws * r)[b];
        if (C == 1) prefetch_next_tile(&x, R * ws);
        const __m256i q = unpack_nibbles(x.qs);
        const float dw = _cvtsh_ss(x.d);
        for (int c = 0; c < C; c++) {
          const __m256i p = _mm256_dpbusd_avx_epi32(m8[c], q, ay[c]);
          acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * da[c]), _mm256_cvtepi32_ps(p), acc[r][c]);
        }
      }
    } else {
      // q8_0: (a + 128) . q - 128 * sum(q) = a . q, with a + 128 unsigned: the
      // activation is flipped once per block, -128 * sum(q) once per weight
      // block, and each pair is one dpbusd (no per-pair sign fix-up).
      __m256i au[C];
      for (int c = 0; c < C; c++) au[c] = _mm256_xor_si256(ay[c], _mm256_set1_epi8(static_cast<char>(0x80)));
      for (int r = 0; r < R; r++) {
        const WB& x = reinterpret_cast<const WB*>(w + ws * r)[b];
        if (C == 1) prefetch_next_tile(&x, R * ws);
        const __m256i q = load_signed(x);
        const __m256i m128 = _mm256_sub_epi32(
            _mm256_setzero_si256(),
            _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(static_cast<char>(0x80)), q));
        const float dw = _cvtsh_ss(x.d);
        for (int c = 0; c < C; c++) {
          const __m256i p = _mm256_dpbusd_avx_epi32(m128, au[c], q);
          acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dw * da[c]), _mm256_cvtepi32_ps(p), acc[r][c]);
        }
      }
    }
  }
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) out[os * c + r] = hsum(acc[r][c]);
}
#endif

// q4_K x q8_K: per super-block, the 8 sub-block scales multiply int32 sums; the
// mins term comes from the activation's bsums (exact integers, as dot_q4_K).
// kFive: q5_K (dot_q5_K's lane sums and float steps), q4_K plus a fifth bit per
// value: bit 2j (low nibbles) or 2j + 1 (high nibbles) of qh[l] for value l of
// run j. The R rows' f16 d and dmin are widened by one vcvtph2ps per block.
// One thread from L2 on the Zen 5: q5_K 18.2 GB/s (dot_q5_K row by row, its
// scales unpacked a byte at a time) -> 23.8, q4_K's rate (22.5).
// kX4: the rows interleaved 4 at a time (regroup_x4.h; R is 4, w the group, ws unused): block b of
// row r at w + (4 b + r) * sizeof(Block). The same arithmetic, so the same bits.
template <int R, int C, bool kFive, bool kX4 = false>
void tile_q4_K_impl(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* out, size_t os) {
  using Block = std::conditional_t<kFive, block_q5_K, block_q4_K>;
  static_assert(!kX4 || R == kTileW, "an interleaved group is a whole tile");
  const int64_t nb = k / QK_K;
  const size_t row_step = kX4 ? sizeof(Block) : ws;                        // row r's blocks from w + row_step * r
  const size_t block_step = kX4 ? kTileW * sizeof(Block) : sizeof(Block);  // block b at + block_step * b
  const size_t tile_bytes = kX4 ? kTileW * sizeof(Block) * static_cast<size_t>(nb) : R * ws;  // the next tile's
  __m256 acc[R][C];
  __m128 accm[C];  // [4] the rows' mins terms
  for (int c = 0; c < C; c++) {
    accm[c] = _mm_setzero_ps();
    for (int r = 0; r < R; r++) acc[r][c] = _mm256_setzero_ps();
  }
  const __m256i m4 = _mm256_set1_epi8(0x0F), sixteen = _mm256_set1_epi8(16);
  // lanes 2r and 2r + 1 (row r's d and dmin) of the rows' scale pairs
  const __m256i dmin_lanes = _mm256_setr_epi32(1, 3, 5, 7, 1, 3, 5, 7);
  for (int64_t b = 0; b < nb; b++) {
    __m128i bs[C];  // [8] int16: the activation's sums of each sub-block of 32
    float yd[C];
    for (int c = 0; c < C; c++) {
      const block_q8_K& y = reinterpret_cast<const block_q8_K*>(a + as * c)[b];
      const __m256i g = _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.bsums)),
                                          _mm256_set1_epi16(1));  // (|sum| <= 32 * 128)
      bs[c] = _mm_packs_epi32(_mm256_castsi256_si128(g), _mm256_extracti128_si256(g, 1));
      yd[c] = y.d;
    }
    // [d0, dmin0, d1, dmin1, ...] of the R rows (zero past R)
    alignas(32) float dd[8];
    _mm256_store_ps(dd, _mm256_cvtph_ps(scale_pairs<R>(w + block_step * b, row_step)));
    __m128i mins[C][4];  // [4] int32 per row, summed to the row's sum of min x bsums below
    for (int r = 0; r < R; r++) {
      const Block& x = *reinterpret_cast<const Block*>(w + row_step * r + block_step * b);
      if (C == 1) {
        for (size_t o = 0; o < sizeof(Block); o += 64)
          prefetch_next_tile(reinterpret_cast<const uint8_t*>(&x) + o, tile_bytes);
      }
      const __m128i sm = q4_K_scales_mins(x.scales);
      const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));  // [8] int16 scales, both lanes
      const __m128i mn16 = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(sm, sm));       // [8] int16 mins
      __m256i high = _mm256_setzero_si256();  // q5_K: qh, shifted right 2 bits per run
      if constexpr (kFive) high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qh));
      __m256i sumi[C];
      for (int c = 0; c < C; c++) sumi[c] = _mm256_setzero_si256();
      for (int j = 0; j < 4; j++) {
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 32 * j));
        __m256i lo = _mm256_and_si256(q, m4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if constexpr (kFive) {
          // bit 0 (1) of each byte to bit 4: a 16-bit shift left by 4 (3), masked (what crosses a byte is masked away)
          lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(high, 4), sixteen));
          hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(high, 3), sixteen));
          high = _mm256_srli_epi16(high, 2);  // (bits 6-7 take the next byte's: never read, 2j + 1 < 8)
        }
        const __m256i s0 = broadcast_i16(sc16, 2 * j), s1 = broadcast_i16(sc16, 2 * j + 1);
        for (int c = 0; c < C; c++) {
          const int8_t* q8 = reinterpret_cast<const block_q8_K*>(a + as * c)[b].qs + 64 * j;
          const __m256i y0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8));
          const __m256i y1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 32));
          // nibble (q5_K: 0..31) x activation pairs <= 2 * 31 * 128 in int16
          const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, y0), s0);
          const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y1), s1);
          sumi[c] = _mm256_add_epi32(sumi[c], _mm256_add_epi32(p0, p1));
        }
      }
      for (int c = 0; c < C; c++) {
        acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(yd[c] * dd[2 * r]), _mm256_cvtepi32_ps(sumi[c]), acc[r][c]);
        mins[c][r] = _mm_madd_epi16(mn16, bs[c]);
      }
    }
    const __m128 dmins = _mm256_castps256_ps128(_mm256_permutevar8x32_ps(_mm256_load_ps(dd), dmin_lanes));
    for (int c = 0; c < C; c++) accm[c] = add_mins_terms(accm[c], mins[c], R, dmins, yd[c]);
  }
  for (int c = 0; c < C; c++) {
    float m[4];
    _mm_storeu_ps(m, accm[c]);
    for (int r = 0; r < R; r++) out[os * c + r] = hsum(acc[r][c]) - m[r];
  }
}

template <int R, int C>
struct TileQ80 {
  static void run(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* o, size_t os) {
    tile_q8_act<block_q8_0, R, C>(k, w, ws, a, as, o, os);
  }
};
template <int R, int C>
struct TileQ40 {
  static void run(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* o, size_t os) {
    tile_q8_act<block_q4_0, R, C>(k, w, ws, a, as, o, os);
  }
};
#if MM_HAVE_VNNI
template <int R, int C>
struct TileQ80Vnni {
  static void run(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* o, size_t os) {
    tile_q8_act_vnni<block_q8_0, R, C>(k, w, ws, a, as, o, os);
  }
};
template <int R, int C>
struct TileQ40Vnni {
  static void run(int64_t k, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* o, size_t os) {
    tile_q8_act_vnni<block_q4_0, R, C>(k, w, ws, a, as, o, os);
  }
};

#endif

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
// q6_K's row kernel over a group's 4 interleaved rows at once (one run of bytes, the next group's prefetched),
// each activation row in turn: every row's arithmetic that of the row read in place alone, so the same bits.
template <int R, int C>
struct TileQ6KX4 {
  static void run(int64_t k, const uint8_t* w, size_t, const uint8_t* a, size_t as, float* o, size_t os) {
    if constexpr (R == kTileW) {
      const size_t group = kTileW * sizeof(block_q6_K) * static_cast<size_t>(k / QK_K);
      for (int c = 0; c < C; c++)
        dot_q6_K_rows<R>(k, w, sizeof(block_q6_K), kTileW * sizeof(block_q6_K), c == 0 ? group : 0, a + as * c,
                         o + os * c);
    }
  }
};

// ---- vector helpers (VecOps) -------------------------------------------------

// exp(x) for 8 floats, |error| ~1.5 ulp (ggml's ggml_v_expf); exact 0 / inf
// at the extremes.
inline __m256 v_expf(__m256 x) {
  const __m256 r = _mm256_set1_ps(0x1.8p23f);
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
  const __m256 n = _mm256_sub_ps(z, r);
  const __m256 b =
      _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f), _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
  const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
  const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1))));
  const __m256i c =
      _mm256_castps_si256(_mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.f), n), _mm256_set1_ps(126), _CMP_GT_OQ));
  const __m256 u = _mm256_mul_ps(b, b);
  const __m256 j = _mm256_fmadd_ps(
      _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                      _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
      u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
  if (!_mm256_movemask_ps(_mm256_castsi256_ps(c))) return _mm256_fmadd_ps(j, k, k);
  const __m256i g = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                     _mm256_set1_epi32(static_cast<int>(0x82000000u)));
  const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
  const __m256i d =
      _mm256_castps_si256(_mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.f), n), _mm256_set1_ps(192), _CMP_GT_OQ));
  // Lanes past +-126 (c) scale in two steps (s1 * s2 = 2^n) so the exponent never
  // overflows; past +-192 (d) the result is 0 or inf; other lanes keep k + k*j.
  const __m256 wide = _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1);
  const __m256 normal = _mm256_fmadd_ps(k, j, k);
  const __m256 mid =
      _mm256_or_ps(_mm256_and_ps(_mm256_castsi256_ps(c), wide), _mm256_andnot_ps(_mm256_castsi256_ps(c), normal));
  return _mm256_or_ps(_mm256_and_ps(_mm256_castsi256_ps(d), _mm256_mul_ps(s1, s1)),
                      _mm256_andnot_ps(_mm256_castsi256_ps(d), mid));
}

void axpy_f32(int64_t n, float a, const float* x, float* y) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; i++) y[i] += a * x[i];
}
void axpy_f16(int64_t n, float a, const uint16_t* x, float* y) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 xv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, xv, _mm256_loadu_ps(y + i)));
  }
  for (; i < n; i++) y[i] += a * _cvtsh_ss(x[i]);
}
void scale_f32(int64_t n, float a, float* y) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(va, _mm256_loadu_ps(y + i)));
  for (; i < n; i++) y[i] *= a;
}
// max_ps(v, m) is m where v is NaN: NaN never wins. Two chains of maxima.
float scale_max(int64_t n, float a, float* y) {
  const __m256 va = _mm256_set1_ps(a);
  __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 v0 = _mm256_mul_ps(va, _mm256_loadu_ps(y + i)), v1 = _mm256_mul_ps(va, _mm256_loadu_ps(y + i + 8));
    _mm256_storeu_ps(y + i, v0);
    _mm256_storeu_ps(y + i + 8, v1);
    m0 = _mm256_max_ps(v0, m0);
    m1 = _mm256_max_ps(v1, m1);
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_mul_ps(va, _mm256_loadu_ps(y + i));
    _mm256_storeu_ps(y + i, v);
    m0 = _mm256_max_ps(v, m0);
  }
  m0 = _mm256_max_ps(m1, m0);
  __m128 h = _mm_max_ps(_mm256_extractf128_ps(m0, 1), _mm256_castps256_ps128(m0));
  h = _mm_max_ps(_mm_movehl_ps(h, h), h);
  float m = _mm_cvtss_f32(_mm_max_ss(_mm_movehdup_ps(h), h));
  for (; i < n; i++) {
    y[i] *= a;
    m = m < y[i] ? y[i] : m;
  }
  return m;
}
float exp_sub_sum(int64_t n, float* x, float mx) {
  const __m256 vm = _mm256_set1_ps(mx);
  __m256 s = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = v_expf(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    _mm256_storeu_ps(x + i, e);
    s = _mm256_add_ps(s, e);
  }
  float t = hsum(s);
  for (; i < n; i++) t += (x[i] = std::exp(x[i] - mx));
  return t;
}
// w = exp(v * inv - sub) for 8 floats, the product rounded first.
inline __m256 exp_weight8(__m256 v, __m256 inv, __m256 sub) {
  __m256 p = _mm256_mul_ps(v, inv);
  opaque(p);  // no fused multiply-subtract: the product rounds first
  return v_expf(_mm256_sub_ps(p, sub));
}
// x[0, n) for n < 8 in 8 lanes, the rest -inf.
inline __m256 load_tail(const float* x, int64_t n) {
  alignas(32) float t[8];
  for (int j = 0; j < 8; j++) t[j] = j < n ? x[j] : -INFINITY;
  return _mm256_load_ps(t);
}
void exp_weights(int64_t n, const float* v, float inv, float sub, float* w) {
  const __m256 vi = _mm256_set1_ps(inv), vs = _mm256_set1_ps(sub);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(w + i, exp_weight8(_mm256_loadu_ps(v + i), vi, vs));
  if (i < n) {
    alignas(32) float t[8];
    _mm256_store_ps(t, exp_weight8(load_tail(v + i, n - i), vi, vs));
    for (int64_t j = i; j < n; j++) w[j] = t[j - i];
  }
}
// NW weights per element, CNT: a count too. A chunk at a time: its buckets,
// weights and counts in vectors into small arrays, then the adds from them
// (loads of stores long done). An element that adds nothing (weight 0, and in
// counts a -inf or NaN, which are counted at the end, all in the last bucket)
// adds its zeros to bucket `lane` instead (at most nb - 1), so a run of them (a
// grammar's mask) never chains adds through one bucket.
template <int NW, bool CNT>
void bucket_mass_t(int64_t n, const float* v, float vmax, float scale, int nb, const float* inv, const float* sub,
                   double* mass) {
  constexpr int S = NW + (CNT ? 1 : 0);
  constexpr int kChunk = 256;
  const __m256 vm = _mm256_set1_ps(vmax), sc = _mm256_set1_ps(scale), top = _mm256_set1_ps(static_cast<float>(nb - 1));
  const __m256 ninf = _mm256_set1_ps(-INFINITY), zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
  const __m256 i0 = _mm256_set1_ps(inv[0]), s0 = _mm256_set1_ps(sub[0]);
  const __m256 i1 = _mm256_set1_ps(inv[NW - 1]), s1 = _mm256_set1_ps(sub[NW - 1]);
  // bucket `lane` for an element that adds nothing (a bucket that exists)
  const __m256i lane = _mm256_min_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(nb - 1));
  alignas(32) int32_t bk[kChunk];
  alignas(32) float w0[kChunk], w1[kChunk], cn[kChunk];
  alignas(32) float pr[2 * kChunk];  // S == 2: (first, second) per element
  int64_t weightless = 0;            // -inf and NaN elements (CNT)
  for (int64_t c0 = 0; c0 < n; c0 += kChunk) {
    const int m = static_cast<int>(n - c0 < kChunk ? n - c0 : kChunk);
    for (int j = 0; j < m; j += 8) {
      const int left = m - j;
      __m256 x = left >= 8 ? _mm256_loadu_ps(v + c0 + j) : load_tail(v + c0 + j, left);
      x = _mm256_max_ps(x, ninf);  // NaN: -inf (max_ps returns its second operand)
      const __m256i b = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_mul_ps(_mm256_sub_ps(vm, x), sc), top));
      const __m256 e0 = exp_weight8(x, i0, s0);
      _mm256_store_ps(w0 + j, e0);
      __m256 e1 = e0;
      if (NW == 2) {
        e1 = exp_weight8(x, i1, s1);
        _mm256_store_ps(w1 + j, e1);
      }
      __m256 live;
      if (CNT) {
        live = _mm256_cmp_ps(x, ninf, _CMP_GT_OQ);
        _mm256_store_ps(cn + j, _mm256_and_ps(live, one));
        const unsigned valid = left >= 8 ? 0xffu : (1u << left) - 1;
        weightless += __builtin_popcount(valid & ~static_cast<unsigned>(_mm256_movemask_ps(live)));
      } else {
        live = _mm256_or_ps(_mm256_cmp_ps(e0, zero, _CMP_GT_OQ), _mm256_cmp_ps(e1, zero, _CMP_GT_OQ));
      }
      _mm256_store_si256(reinterpret_cast<__m256i*>(bk + j), _mm256_blendv_epi8(lane, b, _mm256_castps_si256(live)));
      if (S == 2) {  // the element's two values side by side: one add of a pair
        const __m256 second = _mm256_load_ps((NW == 2 ? w1 : cn) + j);
        const __m256 lo = _mm256_unpacklo_ps(e0, second), hi = _mm256_unpackhi_ps(e0, second);
        _mm256_store_ps(pr + 2 * j, _mm256_permute2f128_ps(lo, hi, 0x20));
        _mm256_store_ps(pr + 2 * j + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
      }
    }
    if (S == 2) {
      for (int j = 0; j < m; j++) {
        double* p = mass + static_cast<int64_t>(bk[j]) * 2;
        const __m128 two = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(pr + 2 * j)));
        _mm_storeu_pd(p, _mm_add_pd(_mm_loadu_pd(p), _mm_cvtps_pd(two)));
      }
    } else {
      for (int j = 0; j < m; j++) {
        double* p = mass + static_cast<int64_t>(bk[j]) * S;
        p[0] += w0[j];
        if (NW == 2) p[1] += w1[j];
        if (CNT) p[NW] += cn[j];
      }
    }
  }
  if (CNT) mass[static_cast<int64_t>(nb - 1) * S + NW] += static_cast<double>(weightless);
}
int64_t bucket_members(int64_t n, const float* v, float vmax, float scale, int nb, int b, int32_t* pos) {
  const __m256 vm = _mm256_set1_ps(vmax), sc = _mm256_set1_ps(scale), top = _mm256_set1_ps(static_cast<float>(nb - 1));
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  const __m256i want = _mm256_set1_epi32(b);
  auto hits = [&](__m256 x) {
    x = _mm256_max_ps(x, ninf);  // NaN: -inf
    const __m256i bi = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_mul_ps(_mm256_sub_ps(vm, x), sc), top));
    return static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(bi, want))));
  };
  int64_t m = 0, i = 0;
  for (; i + 8 <= n; i += 8)
    for (unsigned h = hits(_mm256_loadu_ps(v + i)); h; h &= h - 1)
      pos[m++] = static_cast<int32_t>(i + __builtin_ctz(h));
  if (i < n)
    for (unsigned h = hits(load_tail(v + i, n - i)) & ((1u << (n - i)) - 1); h; h &= h - 1)
      pos[m++] = static_cast<int32_t>(i + __builtin_ctz(h));
  return m;
}
void bucket_mass(int64_t n, const float* v, float vmax, float scale, int nb, int nw, const float* inv, const float* sub,
                 bool count, double* mass) {
  if (nw == 2)
    (count ? bucket_mass_t<2, true> : bucket_mass_t<2, false>)(n, v, vmax, scale, nb, inv, sub, mass);
  else
    (count ? bucket_mass_t<1, true> : bucket_mass_t<1, false>)(n, v, vmax, scale, nb, inv, sub, mass);
}
void finite_min_max(int64_t n, const float* x, float* mn, float* mx) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const __m256 vninf = _mm256_set1_ps(ninf), big = _mm256_set1_ps(std::numeric_limits<float>::max());
  __m256 hi0 = vninf, hi1 = vninf, lo0 = big, lo1 = big;
  auto step = [&](int64_t i, __m256& hi, __m256& lo) {
    const __m256 v = _mm256_loadu_ps(x + i);
    hi = _mm256_max_ps(v, hi);                                                              // NaN v: keeps hi
    lo = _mm256_min_ps(_mm256_blendv_ps(big, v, _mm256_cmp_ps(v, vninf, _CMP_GT_OQ)), lo);  // NaN, -inf: big
  };
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    step(i, hi0, lo0);
    step(i + 8, hi1, lo1);
  }
  alignas(32) float h[8], l[8];
  _mm256_store_ps(h, _mm256_max_ps(hi0, hi1));
  _mm256_store_ps(l, _mm256_min_ps(lo0, lo1));
  float hi = ninf, lo = std::numeric_limits<float>::max();
  for (int j = 0; j < 8; j++) {
    hi = h[j] > hi ? h[j] : hi;
    lo = l[j] < lo ? l[j] : lo;
  }
  for (; i < n; i++) {
    const float v = x[i];
    hi = v > hi ? v : hi;
    lo = v < lo && v > ninf ? v : lo;
  }
  *mn = lo;
  *mx = hi;
}
void swiglu_f32(int64_t n, const float* g, const float* u, float* y) {
  const __m256 one = _mm256_set1_ps(1.0f), neg = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 gv = _mm256_loadu_ps(g + i);
    const __m256 e = v_expf(_mm256_xor_ps(gv, neg));  // exp(-g)
    const __m256 silu = _mm256_div_ps(gv, _mm256_add_ps(one, e));
    _mm256_storeu_ps(y + i, _mm256_mul_ps(silu, _mm256_loadu_ps(u + i)));
  }
  for (; i < n; i++) y[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

// gelu(g) = g * sigmoid(2u), u = sqrt(2/pi) (g + 0.044715 g^3): tanh's form of GELU
// (0.5 (1 + tanh u) = sigmoid 2u), one vector exp per 8 values.
void geglu_f32(int64_t n, const float* g, const float* u, float* y) {
  const __m256 one = _mm256_set1_ps(1.0f), a = _mm256_set1_ps(kGeluCoefA), m2c = _mm256_set1_ps(-2.0f * kSqrt2OverPi);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 gv = _mm256_loadu_ps(g + i);
    const __m256 t = _mm256_mul_ps(_mm256_mul_ps(m2c, gv), _mm256_fmadd_ps(_mm256_mul_ps(a, gv), gv, one));  // -2u
    const __m256 gelu = _mm256_div_ps(gv, _mm256_add_ps(one, v_expf(t)));
    _mm256_storeu_ps(y + i, _mm256_mul_ps(gelu, _mm256_loadu_ps(u + i)));
  }
  for (; i < n; i++) y[i] = gelu_tanh(g[i]) * u[i];
}
// c * tanh(x / c) = c * (1 - 2 / (1 + exp(2x / c))): absolute error ~ c * 1e-7.
void softcap_f32(int64_t n, float c, float* x) {
  const __m256 one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f), vc = _mm256_set1_ps(c),
               k = _mm256_set1_ps(2.0f / c);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = v_expf(_mm256_mul_ps(k, _mm256_loadu_ps(x + i)));
    const __m256 t = _mm256_sub_ps(one, _mm256_div_ps(two, _mm256_add_ps(one, e)));
    _mm256_storeu_ps(x + i, _mm256_mul_ps(vc, t));
  }
  for (; i < n; i++) x[i] = c * std::tanh(x[i] / c);
}

void f32_to_f16(int64_t n, const float* x, uint16_t* y) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < n; i++) y[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

}  // namespace

// Same rounding as the reference q_q8_K: the scale comes from the first element
// of largest magnitude (its sign included), round half to even, clamp at 127.
void quantize_row_q8_K(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<block_q8_K*>(vy);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
    __m256 amax = _mm256_setzero_ps();
    for (int k = 0; k < QK_K; k += 8) amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)));
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float am = _mm_cvtss_f32(m);
    if (am == 0) {
      std::memset(&y[i], 0, sizeof(block_q8_K));
      continue;
    }
    float max = am;
    const __m256 vam = _mm256_set1_ps(am);
    for (int k = 0; k < QK_K; k += 8) {
      const __m256 v = _mm256_loadu_ps(x + k);
      const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, v), vam, _CMP_EQ_OQ));
      if (hit) {
        max = x[k + __builtin_ctz(static_cast<unsigned>(hit))];
        break;
      }
    }
    const float iscale = -127.f / max;
    const __m256 vs = _mm256_set1_ps(iscale);
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int k = 0; k < QK_K; k += 32) {
      __m256i q[4];
      for (int j = 0; j < 4; j++)
        q[j] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(vs, _mm256_loadu_ps(x + k + 8 * j)),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
      p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs + k), p);
      // Sums of the two groups of 16 (maddubs wants one unsigned operand: |q| x sign(q)).
      const __m256i s4 =
          _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(p, p), _mm256_sign_epi8(ones8, p)), ones16);
      __m256i h = _mm256_hadd_epi32(s4, s4);
      h = _mm256_hadd_epi32(h, h);
      y[i].bsums[k / 16] = static_cast<int16_t>(_mm256_extract_epi32(h, 0));
      y[i].bsums[k / 16 + 1] = static_cast<int16_t>(_mm256_extract_epi32(h, 4));
    }
    y[i].d = 1 / iscale;
  }
}

// q8_1 (activations of q4_1/q5_1): q8_0 plus s = d * sum(q); rounds like
// quantize_row_q8_0 above (and ggml's AVX2 quantizer): nearest, ties to even.
void quantize_row_q8_1(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<block_q8_1*>(vy);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
      v[k] = _mm256_loadu_ps(x + 8 * k);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[k]));
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float d = _mm_cvtss_f32(m) / 127.f;
    y[i].d = _cvtss_sh(d, 0);
    const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    __m256i q[4];
    for (int k = 0; k < 4; k++)
      q[k] =
          _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    y[i].s = _cvtss_sh(
        d * static_cast<float>(hsum_i32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])))),
        0);
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs), p);
  }
}

const TileKernels& tile_kernels() {
  static const TileKernels plain = [] {
    TileKernels t{tile_dispatch<TileQ40>, tile_dispatch<TileQ80>, tile_dispatch<TileQ4K>, nullptr};
    t.q5_K = tile_dispatch<TileQ5K>;
    t.q4_K_x4 = tile_dispatch<TileQ4KX4>;
    t.q5_K_x4 = tile_dispatch<TileQ5KX4>;
    t.q6_K_x4 = tile_dispatch<TileQ6KX4>;
    add_lowbit_tiles(t, false);
    return t;
  }();
#if MM_HAVE_VNNI
  static const TileKernels vnni = [] {
    TileKernels t{tile_dispatch<TileQ40Vnni>, tile_dispatch<TileQ80Vnni>, tile_dispatch<TileQ4K>, nullptr};
    t.q5_K = tile_dispatch<TileQ5K>;
    t.q4_K_x4 = tile_dispatch<TileQ4KX4>;
    t.q5_K_x4 = tile_dispatch<TileQ5KX4>;
    t.q6_K_x4 = tile_dispatch<TileQ6KX4>;
    add_lowbit_tiles(t, true);
    return t;
  }();
  if (cpu_use_avx_vnni()) return vnni;
#endif
  return plain;
}

const VecOps& vec_ops() {
  static const VecOps v = MM_VEC_OPS_OF_THIS_FILE();
  return v;
}

void quantize_row_q8_0(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<block_q8_0*>(vy);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
      v[k] = _mm256_loadu_ps(x + 8 * k);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[k]));
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float d = _mm_cvtss_f32(m) / 127.f;
    y[i].d = _cvtss_sh(d, 0);
    const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    __m256i q[4];
    for (int k = 0; k < 4; k++)
      q[k] =
          _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    // int32 -> int8 with the lanes put back in order
    __m256i p01 = _mm256_packs_epi32(q[0], q[1]);
    __m256i p23 = _mm256_packs_epi32(q[2], q[3]);
    __m256i p = _mm256_packs_epi16(p01, p23);
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs), p);
  }
}

const DotKernels& kernels() {
  static const DotKernels k = [] {
    DotKernels k = {dot_f32,  dot_f16,  dot_bf16, dot_q4_0, dot_q4_1, dot_q5_0, dot_q5_1, dot_q8_0,
                    dot_q4_K, dot_q5_K, dot_q6_K, nullptr,  nullptr,  nullptr,  nullptr};
    add_lowbit_kernels(k);
    return k;
  }();
  return k;
}

}  // namespace avx2
}  // namespace mm
