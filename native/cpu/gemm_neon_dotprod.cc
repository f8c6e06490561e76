// arm64 sdot panel GEMM (gemm_neon.h): 8 weight rows per panel as two int32x4
// vectors, one lane per row. Compiled with +dotprod in its own library and run
// only where the CPU reports it (cpu_use_neon_dotprod).
//
// Per 32-value block and activation row: 16 bytes of activations are loaded
// once per half, and each group of 4 values is one vdotq_laneq_s32 per row
// quad (16 per block); the int32 sums turn into float once per block (per half
// for q2_K, q3_K, q6_K).
#if defined(MM_HAVE_NEON_PANELS)
#include <arm_neon.h>

#include "count_blocks.h"
#include "gemm_neon.h"

namespace mm {
namespace neon {

namespace {

constexpr int kCols = 4;  // activation rows per call: 8 int + 8 float accumulators, 4 activation vectors

// Group g of 4 values of a half: rows 0-3 and 4-7 against bytes 4g..4g+3 of
// each activation row's 16.
template <int C, int G>
inline void sdot_group(int32x4_t (*s)[2], const int8_t* wq, const int8x16_t* av) {
  const int8x16_t w0 = vld1q_s8(wq + 32 * G), w1 = vld1q_s8(wq + 32 * G + 16);
  for (int c = 0; c < C; c++) {
    s[c][0] = vdotq_laneq_s32(s[c][0], w0, av[c], G);
    s[c][1] = vdotq_laneq_s32(s[c][1], w1, av[c], G);
  }
}

// C activation rows x 8 panel rows.
template <int C, Kind K>
void kernel(int64_t k, const uint8_t* panel, const uint8_t* act, size_t as, float* out, size_t os, int nr,
            const float* bias) {
  const int64_t nb = k / 32;
  const float* reg = reinterpret_cast<const float*>(panel + nb * 256);  // [regions][nb][8]
  const size_t rstride = static_cast<size_t>(nb) * kPanelRows;
  ActRow a[C];
  float32x4_t acc[C][2];
  for (int c = 0; c < C; c++) {
    a[c] = ActRow{act + as * c, k};
    acc[c][0] = acc[c][1] = vdupq_n_f32(0);
  }
  for (int64_t b = 0; b < nb; b++) {
    const int8_t* wp = reinterpret_cast<const int8_t*>(panel) + b * 256;
    // The integer sums' starting values for half h: kZero the block's start
    // term, q6_K the half's, else 0.
    int32x4_t s[C][2];
    const auto start = [&](int h) {
      for (int c = 0; c < C; c++) s[c][0] = s[c][1] = vdupq_n_s32(K == kZero || K == kQ6_K ? a[c].slot(b, h) : 0);
    };
    start(0);
    for (int h = 0; h < 2; h++) {
      if (h == 1 && halves_kind(K)) start(1);
      int8x16_t av[C];
      for (int c = 0; c < C; c++) av[c] = vld1q_s8(a[c].qs() + 32 * b + 16 * h);
      const int8_t* wq = wp + 128 * h;
      sdot_group<C, 0>(s, wq, av);
      sdot_group<C, 1>(s, wq, av);
      sdot_group<C, 2>(s, wq, av);
      sdot_group<C, 3>(s, wq, av);
      if (h == 0 && !halves_kind(K)) continue;
      // acc += sum * (d_w * d_a), the half's scale region for the halves kinds.
      const float* d = reg + (halves_kind(K) ? h : 0) * rstride + kPanelRows * b;
      const float32x4_t d0 = vld1q_f32(d), d1 = vld1q_f32(d + 4);
      for (int c = 0; c < C; c++) {
        const float da = a[c].d(b);
        acc[c][0] = vfmaq_f32(acc[c][0], vcvtq_f32_s32(s[c][0]), vmulq_n_f32(d0, da));
        acc[c][1] = vfmaq_f32(acc[c][1], vcvtq_f32_s32(s[c][1]), vmulq_n_f32(d1, da));
      }
      if constexpr (K == kMins) {  // acc -= min * (d_a * sum)
        const float* m = reg + rstride + kPanelRows * b;
        const float32x4_t m0 = vld1q_f32(m), m1 = vld1q_f32(m + 4);
        for (int c = 0; c < C; c++) {
          const float32x4_t sf = vdupq_n_f32(a[c].slot_f(b));
          acc[c][0] = vfmsq_f32(acc[c][0], m0, sf);
          acc[c][1] = vfmsq_f32(acc[c][1], m1, sf);
        }
      }
      if constexpr (K == kQ2_K) {  // acc -= dmin * m * (d_a * sum of the half's 16)
        const float* m = reg + (2 + h) * rstride + kPanelRows * b;
        const float32x4_t m0 = vld1q_f32(m), m1 = vld1q_f32(m + 4);
        for (int c = 0; c < C; c++) {
          const float32x4_t sf = vdupq_n_f32(a[c].d(b) * static_cast<float>(a[c].sum16(b, h)));
          acc[c][0] = vfmsq_f32(acc[c][0], m0, sf);
          acc[c][1] = vfmsq_f32(acc[c][1], m1, sf);
        }
      }
    }
  }
  store_rows8<C>(acc, out, os, nr, bias);
}

template <Kind K>
void run_cols(int64_t k, const uint8_t* panel, const uint8_t* act, size_t as, int64_t n, float* out, size_t os, int nr,
              const float* bias) {
  for_blocks<kCols>(n, [&](auto c, int64_t c0) {
    kernel<decltype(c)::value, K>(k, panel, act + as * c0, as, out + os * c0, os, nr, bias);
  });
}

void gemm(DType w, int64_t k, const uint8_t* panel, int nr, const uint8_t* act, size_t as, int64_t n, float* out,
          size_t os, const float* bias) {
  if (panel_float_weights(w))
    return gemm_float(k, reinterpret_cast<const float*>(panel), act, as, n, out, os, nr, bias);
  switch (panel_kind(w)) {
    case kZero: return run_cols<kZero>(k, panel, act, as, n, out, os, nr, bias);
    case kSigned: return run_cols<kSigned>(k, panel, act, as, n, out, os, nr, bias);
    case kMins: return run_cols<kMins>(k, panel, act, as, n, out, os, nr, bias);
    case kQ6_K: return run_cols<kQ6_K>(k, panel, act, as, n, out, os, nr, bias);
    case kQ3_K: return run_cols<kQ3_K>(k, panel, act, as, n, out, os, nr, bias);
    case kQ2_K: return run_cols<kQ2_K>(k, panel, act, as, n, out, os, nr, bias);
  }
}

}  // namespace

const PanelKernels& panel_kernels_dotprod() {
  static const PanelKernels k{kPanelRows, panel_supports, panel_bytes, pack_panel_sdot, gemm};
  return k;
}

}  // namespace neon
}  // namespace mm
#endif
