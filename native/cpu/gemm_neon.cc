// arm64 panel packing and the float-weight panel kernel (gemm_neon.h): plain
// Armv8 (NEON is part of the base ISA), shared by the sdot and i8mm levels.
#if defined(MM_HAVE_NEON_PANELS)
#include "gemm_neon.h"

#include <cstring>
#include <type_traits>

#include "../../kernels/quant_blocks.h"
#include "../core/quants.h"
#include "count_blocks.h"

namespace mm {
namespace neon {

namespace {

// One block of 32 values of one weight row, unpacked: the int8 values the
// kernels multiply and up to four floats (the regions of gemm_neon.h).
struct Unpacked {
  int8_t v[32];
  float f[4];
};

inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Values j and 16 + j from the low / high nibbles of qs[j] (q4_0, q4_1, q5_*, iq4_nl).
inline void nibbles(const uint8_t* qs, int8_t* v) {
  for (int j = 0; j < 16; j++) {
    v[j] = static_cast<int8_t>(qs[j] & 0xF);
    v[j + 16] = static_cast<int8_t>(qs[j] >> 4);
  }
}
// Bit j of qh as bit 4 of value j (q5_0, q5_1).
inline void fifth_bits(const uint8_t* qh, int8_t* v) {
  const uint32_t h = load_u32(qh);
  for (int j = 0; j < 32; j++) v[j] = static_cast<int8_t>(v[j] | (((h >> j) & 1) << 4));
}

template <DType T>
void unpack(const uint8_t* row, int64_t b, Unpacked& u) {
  if constexpr (T == DType::Q4_0 || T == DType::Q4_1 || T == DType::Q5_0 || T == DType::Q5_1) {
    using Block = std::conditional_t<
        T == DType::Q4_0, block_q4_0,
        std::conditional_t<T == DType::Q4_1, block_q4_1, std::conditional_t<T == DType::Q5_0, block_q5_0, block_q5_1>>>;
    const Block& x = reinterpret_cast<const Block*>(row)[b];
    nibbles(x.qs, u.v);
    if constexpr (T == DType::Q5_0 || T == DType::Q5_1) fifth_bits(x.qh, u.v);
    u.f[0] = fp16_lookup(x.d);
    if constexpr (T == DType::Q4_1 || T == DType::Q5_1) u.f[1] = -fp16_lookup(x.m);  // x = d q + m
  } else if constexpr (T == DType::Q8_0) {
    const block_q8_0& x = reinterpret_cast<const block_q8_0*>(row)[b];
    std::memcpy(u.v, x.qs, 32);
    u.f[0] = fp16_lookup(x.d);
  } else if constexpr (T == DType::IQ4_NL) {
    const block_iq4_nl& x = reinterpret_cast<const block_iq4_nl*>(row)[b];
    nibbles(x.qs, u.v);
    for (int j = 0; j < 32; j++) u.v[j] = kIq4nlValues[u.v[j]];
    u.f[0] = fp16_lookup(x.d);
  } else if constexpr (T == DType::IQ4_XS) {
    const block_iq4_xs& x = reinterpret_cast<const block_iq4_xs*>(row)[b / 8];
    const int t = static_cast<int>(b % 8);
    nibbles(x.qs + 16 * t, u.v);
    for (int j = 0; j < 32; j++) u.v[j] = kIq4nlValues[u.v[j]];
    u.f[0] = fp16_lookup(x.d) * static_cast<float>(iq4_xs_scale(x, t));
  } else if constexpr (T == DType::Q4_K || T == DType::Q5_K) {
    // Sub-block t: the low (t even) or high nibbles of qs[32 (t / 2) + i]; q5_K: bit t of qh[i] as bit 4.
    using Block = std::conditional_t<T == DType::Q4_K, block_q4_K, block_q5_K>;
    const Block& x = reinterpret_cast<const Block*>(row)[b / 8];
    const int t = static_cast<int>(b % 8);
    const uint8_t* qs = x.qs + 32 * (t / 2);
    for (int i = 0; i < 32; i++) u.v[i] = static_cast<int8_t>((qs[i] >> (4 * (t % 2))) & 0xF);
    if constexpr (T == DType::Q5_K)
      for (int i = 0; i < 32; i++) u.v[i] = static_cast<int8_t>(u.v[i] | (((x.qh[i] >> t) & 1) << 4));
    uint8_t sc, mn;
    get_scale_min_k4(t, x.scales, &sc, &mn);
    u.f[0] = fp16_lookup(x.d) * sc;
    u.f[1] = fp16_lookup(x.dmin) * mn;
  } else if constexpr (T == DType::Q6_K) {
    // t = 4 h + kk: value l is the low (kk < 2) or high nibble of ql[64 h + 32 (kk & 1) + l], bits 2kk, 2kk+1
    // of qh[32 h + l] above it; sub-blocks of 16: 2t, 2t + 1.
    const block_q6_K& x = reinterpret_cast<const block_q6_K*>(row)[b / 8];
    const int t = static_cast<int>(b % 8), h = t / 4, kk = t % 4;
    const uint8_t* ql = x.ql + 64 * h + 32 * (kk & 1);
    const uint8_t* qh = x.qh + 32 * h;
    for (int l = 0; l < 32; l++)
      u.v[l] = static_cast<int8_t>(((ql[l] >> (kk < 2 ? 0 : 4)) & 0xF) | (((qh[l] >> (2 * kk)) & 3) << 4));
    const float d = fp16_lookup(x.d);
    u.f[0] = d * x.scales[2 * t];
    u.f[1] = d * x.scales[2 * t + 1];
  } else if constexpr (T == DType::Q2_K || T == DType::Q3_K) {
    // t = 4 h + j: value l is bits 2j, 2j+1 of qs[32 h + l]; q3_K: bit t of hmask[l] as bit 2, minus 4.
    using Block = std::conditional_t<T == DType::Q2_K, block_q2_K, block_q3_K>;
    const Block& x = reinterpret_cast<const Block*>(row)[b / 8];
    const int t = static_cast<int>(b % 8), h = t / 4, j = t % 4;
    for (int l = 0; l < 32; l++) u.v[l] = static_cast<int8_t>((x.qs[32 * h + l] >> (2 * j)) & 3);
    const float d = fp16_lookup(x.d);
    if constexpr (T == DType::Q2_K) {
      const float dmin = fp16_lookup(x.dmin);
      for (int i = 0; i < 2; i++) {
        u.f[i] = d * (x.scales[2 * t + i] & 0xF);
        u.f[2 + i] = dmin * (x.scales[2 * t + i] >> 4);
      }
    } else {
      for (int l = 0; l < 32; l++) u.v[l] = static_cast<int8_t>((u.v[l] | (((x.hmask[l] >> t) & 1) << 2)) - 4);
      for (int i = 0; i < 2; i++) u.f[i] = d * static_cast<float>(q3_K_scale(x.scales, 2 * t + i));
    }
  }
}

int regions(DType w) {
  switch (panel_kind(w)) {
    case kZero:
    case kSigned: return 1;
    case kQ2_K: return 4;
    default: return 2;
  }
}

template <DType T, bool kMmla>
void pack_rows(int64_t k, const uint8_t* rows, size_t rs, int nr, uint8_t* panel) {
  const int64_t nb = k / 32;
  const int nreg = regions(T);
  float* reg = reinterpret_cast<float*>(panel + nb * 256);  // [nreg][nb][8]
  if (nr < kPanelRows) std::memset(panel, 0, panel_bytes(T, k));
  Unpacked u{};
  for (int r = 0; r < nr; r++) {
    const uint8_t* row = rows + rs * r;
    for (int64_t b = 0; b < nb; b++) {
      unpack<T>(row, b, u);
      uint8_t* dst = panel + b * 256;
      if constexpr (kMmla) {
        for (int g = 0; g < 4; g++) std::memcpy(dst + 64 * g + 8 * r, u.v + 8 * g, 8);
      } else {
        for (int g = 0; g < 8; g++) std::memcpy(dst + 32 * g + 4 * r, u.v + 4 * g, 4);
      }
      for (int i = 0; i < nreg; i++) reg[(i * nb + b) * kPanelRows + r] = u.f[i];
    }
  }
}

template <bool kMmla>
void pack_panel(DType w, int64_t k, const uint8_t* rows, size_t rs, int nr, uint8_t* panel) {
  if (panel_float_weights(w)) return pack_float_panel(w, k, rows, rs, nr, kPanelRows, reinterpret_cast<float*>(panel));
  switch (w) {
    case DType::Q4_0: return pack_rows<DType::Q4_0, kMmla>(k, rows, rs, nr, panel);
    case DType::Q4_1: return pack_rows<DType::Q4_1, kMmla>(k, rows, rs, nr, panel);
    case DType::Q5_0: return pack_rows<DType::Q5_0, kMmla>(k, rows, rs, nr, panel);
    case DType::Q5_1: return pack_rows<DType::Q5_1, kMmla>(k, rows, rs, nr, panel);
    case DType::Q8_0: return pack_rows<DType::Q8_0, kMmla>(k, rows, rs, nr, panel);
    case DType::IQ4_NL: return pack_rows<DType::IQ4_NL, kMmla>(k, rows, rs, nr, panel);
    case DType::IQ4_XS: return pack_rows<DType::IQ4_XS, kMmla>(k, rows, rs, nr, panel);
    case DType::Q4_K: return pack_rows<DType::Q4_K, kMmla>(k, rows, rs, nr, panel);
    case DType::Q5_K: return pack_rows<DType::Q5_K, kMmla>(k, rows, rs, nr, panel);
    case DType::Q6_K: return pack_rows<DType::Q6_K, kMmla>(k, rows, rs, nr, panel);
    case DType::Q2_K: return pack_rows<DType::Q2_K, kMmla>(k, rows, rs, nr, panel);
    case DType::Q3_K: return pack_rows<DType::Q3_K, kMmla>(k, rows, rs, nr, panel);
    default: return;
  }
}

// Value L of 4 (panel row L of p): both row quads times lane L of each activation quad.
template <int C, int L>
inline void float_lane(float32x4_t (*acc)[2], const float* p, const float32x4_t* xv) {
  const float32x4_t w0 = vld1q_f32(p + 8 * L), w1 = vld1q_f32(p + 8 * L + 4);
  for (int c = 0; c < C; c++) {
    acc[c][0] = vfmaq_laneq_f32(acc[c][0], w0, xv[c], L);
    acc[c][1] = vfmaq_laneq_f32(acc[c][1], w1, xv[c], L);
  }
}

// C f32 activation rows x 8 panel rows, one FMA per value and row quad.
template <int C>
void kernel_float(int64_t k, const float* panel, const uint8_t* act, size_t as, float* out, size_t os, int nr,
                  const float* bias) {
  float32x4_t acc[C][2];
  const float* x[C];
  for (int c = 0; c < C; c++) {
    acc[c][0] = acc[c][1] = vdupq_n_f32(0);
    x[c] = reinterpret_cast<const float*>(act + as * c);
  }
  int64_t i = 0;
  for (; i + 4 <= k; i += 4) {
    float32x4_t xv[C];
    for (int c = 0; c < C; c++) xv[c] = vld1q_f32(x[c] + i);
    float_lane<C, 0>(acc, panel + 8 * i, xv);
    float_lane<C, 1>(acc, panel + 8 * i, xv);
    float_lane<C, 2>(acc, panel + 8 * i, xv);
    float_lane<C, 3>(acc, panel + 8 * i, xv);
  }
  for (; i < k; i++) {
    const float32x4_t w0 = vld1q_f32(panel + 8 * i), w1 = vld1q_f32(panel + 8 * i + 4);
    for (int c = 0; c < C; c++) {
      acc[c][0] = vfmaq_n_f32(acc[c][0], w0, x[c][i]);
      acc[c][1] = vfmaq_n_f32(acc[c][1], w1, x[c][i]);
    }
  }
  store_rows8<C>(acc, out, os, nr, bias);
}

}  // namespace

Kind panel_kind(DType w) {
  switch (w) {
    case DType::Q4_0:
    case DType::Q5_0: return kZero;
    case DType::Q4_1:
    case DType::Q5_1:
    case DType::Q4_K:
    case DType::Q5_K: return kMins;
    case DType::Q6_K: return kQ6_K;
    case DType::Q3_K: return kQ3_K;
    case DType::Q2_K: return kQ2_K;
    default: return kSigned;  // q8_0, iq4_nl, iq4_xs
  }
}

size_t panel_bytes(DType w, int64_t k) {
  if (panel_float_weights(w)) return panel_float_bytes(kPanelRows, k);
  const size_t nb = static_cast<size_t>(k / 32);
  return nb * 256 + nb * kPanelRows * sizeof(float) * static_cast<size_t>(regions(w));
}

void pack_panel_sdot(DType w, int64_t k, const uint8_t* rows, size_t rs, int nr, uint8_t* panel) {
  pack_panel<false>(w, k, rows, rs, nr, panel);
}
void pack_panel_smmla(DType w, int64_t k, const uint8_t* rows, size_t rs, int nr, uint8_t* panel) {
  pack_panel<true>(w, k, rows, rs, nr, panel);
}

void gemm_float(int64_t k, const float* panel, const uint8_t* act, size_t as, int64_t n, float* out, size_t os, int nr,
                const float* bias) {
  // 12 accumulators + 6 activation quads + 2 weight quads of 32 registers
  for_blocks<6>(n, [&](auto c, int64_t c0) {
    kernel_float<decltype(c)::value>(k, panel, act + as * c0, as, out + os * c0, os, nr, bias);
  });
}

}  // namespace neon
}  // namespace mm
#endif
