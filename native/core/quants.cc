#include "quants.h"

#include <cmath>
#include <cstring>

#include "error.h"
#include "../../kernels/quant_blocks.h"

namespace mm {

namespace {

struct Fp16Table {
  float v[65536];
  Fp16Table() {
    for (uint32_t i = 0; i < 65536; i++) v[i] = fp16_to_fp32(static_cast<uint16_t>(i));
  }
};
const Fp16Table& fp16_table() {
  static const Fp16Table t;
  return t;
}

// Round half to even, as ggml's nearest_int.
inline int nearest_int(float f) { return static_cast<int>(std::nearbyint(f)); }

inline float H(uint16_t h) { return fp16_lookup(h); }

// ---- dequantize -------------------------------------------------------------

void deq_q4_0(const block_q4_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK4_0) {
    const float d = H(x[i].d);
    for (int j = 0; j < QK4_0 / 2; j++) {
      y[j] = ((x[i].qs[j] & 0x0F) - 8) * d;
      y[j + QK4_0 / 2] = ((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}
void deq_q4_1(const block_q4_1* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK4_1) {
    const float d = H(x[i].d), m = H(x[i].m);
    for (int j = 0; j < QK4_1 / 2; j++) {
      y[j] = (x[i].qs[j] & 0x0F) * d + m;
      y[j + QK4_1 / 2] = (x[i].qs[j] >> 4) * d + m;
    }
  }
}
void deq_q5_0(const block_q5_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK5_0) {
    const float d = H(x[i].d);
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    for (int j = 0; j < QK5_0 / 2; j++) {
      const int x0 = ((x[i].qs[j] & 0x0F) | (((qh >> j) << 4) & 0x10)) - 16;
      const int x1 = ((x[i].qs[j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16;
      y[j] = x0 * d;
      y[j + QK5_0 / 2] = x1 * d;
    }
  }
}
void deq_q5_1(const block_q5_1* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK5_1) {
    const float d = H(x[i].d), m = H(x[i].m);
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    for (int j = 0; j < QK5_1 / 2; j++) {
      const int x0 = (x[i].qs[j] & 0x0F) | (((qh >> j) << 4) & 0x10);
      const int x1 = (x[i].qs[j] >> 4) | ((qh >> (j + 12)) & 0x10);
      y[j] = x0 * d + m;
      y[j + QK5_1 / 2] = x1 * d + m;
    }
  }
}
void deq_q8_0(const block_q8_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK8_0) {
    const float d = H(x[i].d);
    for (int j = 0; j < QK8_0; j++) y[j] = x[i].qs[j] * d;
  }
}
void deq_q8_1(const block_q8_1* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK8_1) {
    const float d = H(x[i].d);
    for (int j = 0; j < QK8_1; j++) y[j] = x[i].qs[j] * d;
  }
}
void deq_q2_K(const block_q2_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++) {
    const float d = H(x[i].d), dmin = H(x[i].dmin);
    for (int s = 0; s < 16; s++, y += 16) {  // sub-block s: half s / 8, plane (s % 8) / 2, bytes 16 (s % 2)..
      const uint8_t* q = x[i].qs + 32 * (s / 8) + 16 * (s % 2);
      const int shift = 2 * ((s % 8) / 2);
      const float dl = d * (x[i].scales[s] & 0xF), ml = dmin * (x[i].scales[s] >> 4);
      for (int l = 0; l < 16; l++) y[l] = dl * ((q[l] >> shift) & 3) - ml;
    }
  }
}
void deq_q3_K(const block_q3_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++) {
    const float d = H(x[i].d);
    for (int s = 0; s < 16; s++, y += 16) {  // bytes as q2_K; the third bit is bit s / 2 of hmask[16 (s % 2) + l]
      const int l0 = 16 * (s % 2), plane = s / 2;
      const uint8_t* q = x[i].qs + 32 * (s / 8) + l0;
      const int shift = 2 * (plane % 4);
      const float dl = d * q3_K_scale(x[i].scales, s);
      for (int l = 0; l < 16; l++) {
        const int hi = (x[i].hmask[l0 + l] >> plane) & 1;
        y[l] = dl * (((q[l] >> shift) & 3) + 4 * hi - 4);
      }
    }
  }
}
void deq_q4_K(const block_q4_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++) {
    const float d = H(x[i].d), dmin = H(x[i].dmin);
    const uint8_t* q = x[i].qs;
    for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, q += 32) {
      uint8_t sc, m;
      get_scale_min_k4(is, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
    }
  }
}
void deq_q5_K(const block_q5_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++) {
    const float d = H(x[i].d), dmin = H(x[i].dmin);
    const uint8_t* ql = x[i].qs;
    const uint8_t* qh = x[i].qh;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
      uint8_t sc, m;
      get_scale_min_k4(is, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    }
  }
}
void deq_q6_K(const block_q6_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++) {
    const float d = H(x[i].d);
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    for (int n = 0; n < QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; l++) {
        const int is = l / 16;
        const int q1 = ((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
    }
  }
}
void deq_iq4_nl(const block_iq4_nl* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK4_NL) {
    const float d = H(x[i].d);
    for (int j = 0; j < QK4_NL / 2; j++) {
      y[j] = d * kIq4nlValues[x[i].qs[j] & 0xF];
      y[j + QK4_NL / 2] = d * kIq4nlValues[x[i].qs[j] >> 4];
    }
  }
}
void deq_iq4_xs(const block_iq4_xs* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++) {
    const float d = H(x[i].d);
    for (int s = 0; s < QK_K / 32; s++, y += 32) {
      const float dl = d * iq4_xs_scale(x[i], s);
      const uint8_t* q = x[i].qs + 16 * s;
      for (int j = 0; j < 16; j++) {
        y[j] = dl * kIq4nlValues[q[j] & 0xF];
        y[j + 16] = dl * kIq4nlValues[q[j] >> 4];
      }
    }
  }
}
void deq_q8_K(const block_q8_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK_K)
    for (int j = 0; j < QK_K; j++) y[j] = x[i].d * x[i].qs[j];
}

// ---- quantize ---------------------------------------------------------------

void q_q4_0(const float* x, block_q4_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += QK4_0) {
    float amax = 0, max = 0;
    for (int j = 0; j < QK4_0; j++)
      if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), max = x[j];
    const float d = max / -8, id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < QK4_0 / 2; j++) {
      int a = static_cast<int8_t>(x[j] * id + 8.5f), b = static_cast<int8_t>(x[j + 16] * id + 8.5f);
      a = a > 15 ? 15 : a;
      b = b > 15 ? 15 : b;
      y[i].qs[j] = static_cast<uint8_t>(a | (b << 4));
    }
  }
}
void q_q4_1(const float* x, block_q4_1* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += QK4_1) {
    float mn = x[0], mx = x[0];
    for (int j = 1; j < QK4_1; j++) mn = std::fmin(mn, x[j]), mx = std::fmax(mx, x[j]);
    const float d = (mx - mn) / 15, id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(mn);
    for (int j = 0; j < QK4_1 / 2; j++) {
      int a = static_cast<int8_t>((x[j] - mn) * id + 0.5f), b = static_cast<int8_t>((x[j + 16] - mn) * id + 0.5f);
      a = a > 15 ? 15 : a;
      b = b > 15 ? 15 : b;
      y[i].qs[j] = static_cast<uint8_t>(a | (b << 4));
    }
  }
}
void q_q5_0(const float* x, block_q5_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += QK5_0) {
    float amax = 0, max = 0;
    for (int j = 0; j < QK5_0; j++)
      if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), max = x[j];
    const float d = max / -16, id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < QK5_0 / 2; j++) {
      int a = static_cast<int8_t>(x[j] * id + 16.5f), b = static_cast<int8_t>(x[j + 16] * id + 16.5f);
      a = a > 31 ? 31 : a;
      b = b > 31 ? 31 : b;
      y[i].qs[j] = static_cast<uint8_t>((a & 0xF) | ((b & 0xF) << 4));
      qh |= ((a & 0x10u) >> 4) << j;
      qh |= ((b & 0x10u) >> 4) << (j + 16);
    }
    std::memcpy(y[i].qh, &qh, 4);
  }
}
void q_q5_1(const float* x, block_q5_1* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += QK5_1) {
    float mn = x[0], mx = x[0];
    for (int j = 1; j < QK5_1; j++) mn = std::fmin(mn, x[j]), mx = std::fmax(mx, x[j]);
    const float d = (mx - mn) / 31, id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(mn);
    uint32_t qh = 0;
    for (int j = 0; j < QK5_1 / 2; j++) {
      int a = static_cast<uint8_t>((x[j] - mn) * id + 0.5f), b = static_cast<uint8_t>((x[j + 16] - mn) * id + 0.5f);
      a = a > 31 ? 31 : a;
      b = b > 31 ? 31 : b;
      y[i].qs[j] = static_cast<uint8_t>((a & 0xF) | ((b & 0xF) << 4));
      qh |= ((a & 0x10u) >> 4) << j;
      qh |= ((b & 0x10u) >> 4) << (j + 16);
    }
    std::memcpy(y[i].qh, &qh, 4);
  }
}
void q_q8_0(const float* x, block_q8_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += QK8_0) {
    float amax = 0;
    for (int j = 0; j < QK8_0; j++) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127, id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < QK8_0; j++) y[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
  }
}
void q_q8_1(const float* x, block_q8_1* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += QK8_1) {
    float amax = 0;
    for (int j = 0; j < QK8_1; j++) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127, id = d ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < QK8_1; j++) {
      y[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
      sum += y[i].qs[j];
    }
    y[i].d = fp32_to_fp16(d);
    y[i].s = fp32_to_fp16(sum * d);
  }
}
void q_q8_K(const float* x, block_q8_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += QK_K) {
    float amax = 0, max = 0;
    for (int j = 0; j < QK_K; j++)
      if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), max = x[j];
    if (amax == 0) {
      std::memset(&y[i], 0, sizeof(block_q8_K));
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < QK_K; j++) {
      int v = nearest_int(iscale * x[j]);
      y[i].qs[j] = static_cast<int8_t>(v > 127 ? 127 : v);
    }
    for (int j = 0; j < QK_K / 16; j++) {
      int s = 0;
      for (int k = 0; k < 16; k++) s += y[i].qs[j * 16 + k];
      y[i].bsums[j] = static_cast<int16_t>(s);
    }
    y[i].d = 1 / iscale;
  }
}

}  // namespace

float fp16_lookup(uint16_t h) { return fp16_table().v[h]; }

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  const int64_t nb = n / traits(t).block_size;
  switch (t) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
    case DType::F16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; i++) dst[i] = fp16_lookup(s[i]);
      return;
    }
    case DType::BF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_fp32(s[i]);
      return;
    }
    case DType::Q4_0: return deq_q4_0(static_cast<const block_q4_0*>(src), dst, nb);
    case DType::Q4_1: return deq_q4_1(static_cast<const block_q4_1*>(src), dst, nb);
    case DType::Q5_0: return deq_q5_0(static_cast<const block_q5_0*>(src), dst, nb);
    case DType::Q5_1: return deq_q5_1(static_cast<const block_q5_1*>(src), dst, nb);
    case DType::Q8_0: return deq_q8_0(static_cast<const block_q8_0*>(src), dst, nb);
    case DType::Q8_1: return deq_q8_1(static_cast<const block_q8_1*>(src), dst, nb);
    case DType::Q2_K: return deq_q2_K(static_cast<const block_q2_K*>(src), dst, nb);
    case DType::Q3_K: return deq_q3_K(static_cast<const block_q3_K*>(src), dst, nb);
    case DType::Q4_K: return deq_q4_K(static_cast<const block_q4_K*>(src), dst, nb);
    case DType::Q5_K: return deq_q5_K(static_cast<const block_q5_K*>(src), dst, nb);
    case DType::Q6_K: return deq_q6_K(static_cast<const block_q6_K*>(src), dst, nb);
    case DType::Q8_K: return deq_q8_K(static_cast<const block_q8_K*>(src), dst, nb);
    case DType::IQ4_NL: return deq_iq4_nl(static_cast<const block_iq4_nl*>(src), dst, nb);
    case DType::IQ4_XS: return deq_iq4_xs(static_cast<const block_iq4_xs*>(src), dst, nb);
    case DType::I32: {
      const auto* s = static_cast<const int32_t*>(src);
      for (int64_t i = 0; i < n; i++) dst[i] = static_cast<float>(s[i]);
      return;
    }
  }
  fail(ErrorCode::Unsupported, std::string("cannot dequantize ") + type_name(static_cast<int32_t>(t)));
}

bool can_quantize(DType t) {
  switch (t) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q8_0:
    case DType::Q8_1:
    case DType::Q8_K: return true;
    default: return false;
  }
}

void quantize_row(DType t, const float* src, void* dst, int64_t n) {
  const int64_t nb = n / traits(t).block_size;
  switch (t) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
    case DType::F16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; i++) d[i] = fp32_to_fp16(src[i]);
      return;
    }
    case DType::BF16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; i++) d[i] = fp32_to_bf16(src[i]);
      return;
    }
    case DType::Q4_0: return q_q4_0(src, static_cast<block_q4_0*>(dst), nb);
    case DType::Q4_1: return q_q4_1(src, static_cast<block_q4_1*>(dst), nb);
    case DType::Q5_0: return q_q5_0(src, static_cast<block_q5_0*>(dst), nb);
    case DType::Q5_1: return q_q5_1(src, static_cast<block_q5_1*>(dst), nb);
    case DType::Q8_0: return q_q8_0(src, static_cast<block_q8_0*>(dst), nb);
    case DType::Q8_1: return q_q8_1(src, static_cast<block_q8_1*>(dst), nb);
    case DType::Q8_K: return q_q8_K(src, static_cast<block_q8_K*>(dst), nb);
    default: break;
  }
  fail(ErrorCode::Unsupported, std::string("cannot quantize to ") + type_name(static_cast<int32_t>(t)));
}

}  // namespace mm
