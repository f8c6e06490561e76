// arm64 prefill panels (gemm_panel.h): what the sdot level
// (gemm_neon_dotprod.cc, built with +dotprod) and the i8mm level
// (gemm_neon_i8mm.cc, +i8mm) share. Packing and the float-weight kernel are
// plain Armv8 (gemm_neon.cc), so only the two kernel files need extensions and
// the rest of the addon runs on any arm64 CPU.
//
// 8 weight rows per panel. Every quantized block of 32 values is unpacked to
// int8 (q2_K, q3_K and q6_K's sub-blocks of 16 as the block's two halves),
// one Kind per way the integer sums turn into floats:
//   kZero    q4_0, q5_0: unsigned values; the activation's -zero_point * sum
//            (gemm_panel.h's activation layout) is the integer starting value
//   kSigned  q8_0, iq4_nl, iq4_xs: signed values as they are
//   kMins    q4_1, q5_1, q4_K, q5_K: unsigned values, minus the block's min
//            times the activation block's d * sum, in float
//   kQ6_K    0..63, per half a scale and the start term -32 * sum of 16
//   kQ3_K    q - 4 (signed), a scale per half
//   kQ2_K    0..3, a scale and a min per half (the min times the sum of 16)
// Panel of one matmul's 8 rows: [nb][256] weight bytes, then R float regions
// of [nb][8 rows]: region 0 the block's scale (the first half's for the
// halves kinds); region 1 kMins: the min (q4_1, q5_1: -m), halves kinds: the
// second half's scale; q2_K regions 2, 3: dmin * m of each half.
// The 256 weight bytes of block b, value v of row r:
//   sdot:  [8 groups of 4][8 rows][4]            at 32 (v/4) + 4 r + v%4
//          (one int32 lane per row: vdotq_laneq against 4 activation bytes)
//   smmla: [4 groups of 8][4 row pairs][2][8]    at 64 (v/8) + 8 r + v%8
//          (one 2x8 matrix per row pair: vmmlaq against 2 activation rows)
// Float weights: pack_float_panel's [k][8] f32 (gemm_float, both levels).
#pragma once
#if defined(MM_HAVE_NEON_PANELS)
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "gemm_panel.h"

namespace mm {
namespace neon {

constexpr int kPanelRows = 8;

enum Kind { kZero, kSigned, kMins, kQ6_K, kQ3_K, kQ2_K };
Kind panel_kind(DType w);  // quantized types only
size_t panel_bytes(DType w, int64_t k);
void pack_panel_sdot(DType w, int64_t k, const uint8_t* rows, size_t row_stride, int nr, uint8_t* panel);
void pack_panel_smmla(DType w, int64_t k, const uint8_t* rows, size_t row_stride, int nr, uint8_t* panel);
// Float weights: f32 activation rows `as` bytes apart, 6 at a time.
void gemm_float(int64_t k, const float* panel, const uint8_t* act, size_t as, int64_t n, float* out, size_t os, int nr,
                const float* bias);

// Header-only helpers in an anonymous namespace: each kernel file compiles its
// own copy with its own instruction set (see count_blocks.h).
namespace {

constexpr bool halves_kind(Kind k) { return k == kQ6_K || k == kQ3_K || k == kQ2_K; }

// One activation row in gemm_panel.h's layout, k values.
struct ActRow {
  const uint8_t* p;
  int64_t k;
  const int8_t* qs() const { return reinterpret_cast<const int8_t*>(p); }
  float d(int64_t b) const { return load<float>(k + 4 * b); }
  int32_t slot(int64_t b, int i) const { return load<int32_t>(k + 4 * (k / 32) + 4 * (2 * b + i)); }
  float slot_f(int64_t b) const { return load<float>(k + 4 * (k / 32) + 8 * b); }
  // q2_K: the sum of 16 activation values of half h of block b.
  int32_t sum16(int64_t b, int h) const { return static_cast<int16_t>(static_cast<uint32_t>(slot(b, 1)) >> (16 * h)); }
  template <typename T>
  T load(int64_t off) const {
    T v;
    std::memcpy(&v, p + off, sizeof(T));
    return v;
  }
};

// out[c * os + r] = acc[c][r / 4][r % 4] (+ bias[r]) for r < nr, c < C.
template <int C>
inline void store_rows8(const float32x4_t (*acc)[2], float* out, size_t os, int nr, const float* bias) {
  float b[kPanelRows] = {};
  if (bias) std::memcpy(b, bias, sizeof(float) * static_cast<size_t>(nr));
  const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4);
  for (int c = 0; c < C; c++) {
    float* o = out + os * c;
    if (nr == kPanelRows) {
      vst1q_f32(o, vaddq_f32(acc[c][0], b0));
      vst1q_f32(o + 4, vaddq_f32(acc[c][1], b1));
    } else {
      float t[kPanelRows];
      vst1q_f32(t, vaddq_f32(acc[c][0], b0));
      vst1q_f32(t + 4, vaddq_f32(acc[c][1], b1));
      std::memcpy(o, t, sizeof(float) * static_cast<size_t>(nr));
    }
  }
}

}  // namespace
}  // namespace neon
}  // namespace mm
#endif
