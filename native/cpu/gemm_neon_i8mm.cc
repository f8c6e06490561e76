// arm64 i8mm panel GEMM (gemm_neon.h): smmla multiplies a 2x8 block of
// weights (two rows, 8 values each) by 8 values of two activation rows into a
// 2x2 int32 tile [r0c0, r0c1, r1c0, r1c1], 32 multiply-adds per instruction
// (sdot: 16). Compiled with +i8mm in its own library and run only where the
// CPU reports it (cpu_use_neon_i8mm).
//
// Activation rows go in pairs (an odd last row is paired with itself and its
// copy dropped); per 32-value block and pair: 4 groups of 8 values x 4 row
// pairs = 16 smmla for 16 outputs. Scales are applied per tile with the row
// scales duplicated [d_r0, d_r0, d_r1, d_r1] and the activation ones
// alternated [d_c0, d_c1, d_c0, d_c1].
#if defined(MM_HAVE_NEON_PANELS)
#include <arm_neon.h>

#include "count_blocks.h"
#include "gemm_neon.h"

namespace mm {
namespace neon {

namespace {

constexpr int kPairs = 2;  // activation row pairs per call: 8 int + 8 float tiles, 4 weight and 2 activation vectors

// [x0, x1, x0, x1]
inline float32x4_t alternate(float x0, float x1) {
  const float32x2_t v = {x0, x1};
  return vcombine_f32(v, v);
}
// The scales of rows 2q, 2q + 1 of 8 at s as [s0, s0, s1, s1].
inline float32x4_t row_pair(const float* s, int q) {
  const float32x4_t v = vld1q_f32(s + 4 * (q / 2));
  return q % 2 ? vzip2q_f32(v, v) : vzip1q_f32(v, v);
}

// P pairs of activation rows (ncols of them real: 2P or 2P - 1) x 8 panel rows.
template <int P, Kind K>
void kernel(int64_t k, const uint8_t* panel, const uint8_t* act, size_t as, int ncols, float* out, size_t os, int nr,
            const float* bias) {
  const int64_t nb = k / 32;
  const float* reg = reinterpret_cast<const float*>(panel + nb * 256);  // [regions][nb][8]
  const size_t rstride = static_cast<size_t>(nb) * kPanelRows;
  ActRow a[2 * P];
  float32x4_t acc[P][4];  // pair p, row pair q: [r0c0, r0c1, r1c0, r1c1]
  for (int c = 0; c < 2 * P; c++) a[c] = ActRow{act + as * (c < ncols ? c : ncols - 1), k};
  for (int p = 0; p < P; p++)
    for (int q = 0; q < 4; q++) acc[p][q] = vdupq_n_f32(0);
  for (int64_t b = 0; b < nb; b++) {
    const int8_t* wp = reinterpret_cast<const int8_t*>(panel) + b * 256;
    // The integer sums' starting values for half h: kZero the block's start
    // term, q6_K the half's, else 0 (laid out as the tiles: [c0, c1, c0, c1]).
    int32x4_t s[P][4];
    const auto start = [&](int h) {
      for (int p = 0; p < P; p++) {
        int32x4_t st = vdupq_n_s32(0);
        if (K == kZero || K == kQ6_K) {
          const int32x2_t v = {a[2 * p].slot(b, h), a[2 * p + 1].slot(b, h)};
          st = vcombine_s32(v, v);
        }
        for (int q = 0; q < 4; q++) s[p][q] = st;
      }
    };
    start(0);
    for (int h = 0; h < 2; h++) {
      if (h == 1 && halves_kind(K)) start(1);
      for (int g = 2 * h; g < 2 * h + 2; g++) {
        int8x16_t w[4];
        for (int q = 0; q < 4; q++) w[q] = vld1q_s8(wp + 64 * g + 16 * q);
        for (int p = 0; p < P; p++) {
          const int8x16_t av =
              vcombine_s8(vld1_s8(a[2 * p].qs() + 32 * b + 8 * g), vld1_s8(a[2 * p + 1].qs() + 32 * b + 8 * g));
          for (int q = 0; q < 4; q++) s[p][q] = vmmlaq_s32(s[p][q], w[q], av);
        }
      }
      if (h == 0 && !halves_kind(K)) continue;
      // acc += sum * (d_w * d_a), the half's scale region for the halves kinds.
      const float* d = reg + (halves_kind(K) ? h : 0) * rstride + kPanelRows * b;
      float32x4_t dw[4];
      for (int q = 0; q < 4; q++) dw[q] = row_pair(d, q);
      for (int p = 0; p < P; p++) {
        const float32x4_t da = alternate(a[2 * p].d(b), a[2 * p + 1].d(b));
        for (int q = 0; q < 4; q++) acc[p][q] = vfmaq_f32(acc[p][q], vcvtq_f32_s32(s[p][q]), vmulq_f32(dw[q], da));
      }
      if constexpr (K == kMins || K == kQ2_K) {
        // kMins: acc -= min * (d_a * sum); q2_K: acc -= dmin * m * (d_a * sum of the half's 16)
        const float* m = reg + (K == kMins ? 1 : 2 + h) * rstride + kPanelRows * b;
        for (int p = 0; p < P; p++) {
          const ActRow &a0 = a[2 * p], &a1 = a[2 * p + 1];
          const float32x4_t sf = K == kMins ? alternate(a0.slot_f(b), a1.slot_f(b))
                                            : alternate(a0.d(b) * static_cast<float>(a0.sum16(b, h)),
                                                        a1.d(b) * static_cast<float>(a1.sum16(b, h)));
          for (int q = 0; q < 4; q++) acc[p][q] = vfmsq_f32(acc[p][q], row_pair(m, q), sf);
        }
      }
    }
  }
  // Tiles -> columns: lanes 0, 2 of row pairs (0, 1) are rows 0-3 of the pair's first column.
  float32x4_t cols[2 * P][2];
  for (int p = 0; p < P; p++) {
    cols[2 * p][0] = vuzp1q_f32(acc[p][0], acc[p][1]);
    cols[2 * p][1] = vuzp1q_f32(acc[p][2], acc[p][3]);
    cols[2 * p + 1][0] = vuzp2q_f32(acc[p][0], acc[p][1]);
    cols[2 * p + 1][1] = vuzp2q_f32(acc[p][2], acc[p][3]);
  }
  if (ncols == 2 * P)
    store_rows8<2 * P>(cols, out, os, nr, bias);
  else
    store_rows8<2 * P - 1>(cols, out, os, nr, bias);
}

template <Kind K>
void run_cols(int64_t k, const uint8_t* panel, const uint8_t* act, size_t as, int64_t n, float* out, size_t os, int nr,
              const float* bias) {
  for_blocks<kPairs>((n + 1) / 2, [&](auto p, int64_t p0) {
    constexpr int P = decltype(p)::value;
    const int64_t c0 = 2 * p0;
    const int ncols = static_cast<int>(std::min<int64_t>(2 * P, n - c0));
    kernel<P, K>(k, panel, act + as * c0, as, ncols, out + os * c0, os, nr, bias);
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

const PanelKernels& panel_kernels_i8mm() {
  static const PanelKernels k{kPanelRows, panel_supports, panel_bytes, pack_panel_smmla, gemm};
  return k;
}

}  // namespace neon
}  // namespace mm
#endif
