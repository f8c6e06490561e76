// Portable kernels: the reference every SIMD path is tested against.
#include "../core/quants.h"
#include "vec_dot.h"

#include <cmath>
#include <limits>
#include <cstring>

#include "../../kernels/quant_blocks.h"

namespace mm {
namespace scalar {

#define MM_FP16_TO_FP32(h) ::mm::fp16_lookup(h)
#include "vec_dot_generic.inc"
#undef MM_FP16_TO_FP32

const DotKernels& kernels() {
  static const DotKernels k = {generic::dot_f32,  generic::dot_f16,    generic::dot_bf16,  generic::dot_q4_0,
                               generic::dot_q4_1, generic::dot_q5_0,   generic::dot_q5_1,  generic::dot_q8_0,
                               generic::dot_q4_K, generic::dot_q5_K,   generic::dot_q6_K,  generic::dot_q2_K,
                               generic::dot_q3_K, generic::dot_iq4_nl, generic::dot_iq4_xs};
  return k;
}

namespace {
void axpy_f32(int64_t n, float a, const float* x, float* y) {
  for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}
void axpy_f16(int64_t n, float a, const uint16_t* x, float* y) {
  for (int64_t i = 0; i < n; i++) y[i] += a * fp16_lookup(x[i]);
}
void scale_f32(int64_t n, float a, float* y) {
  for (int64_t i = 0; i < n; i++) y[i] *= a;
}
float scale_max(int64_t n, float a, float* y) {
  float m = -INFINITY;
  for (int64_t i = 0; i < n; i++) {
    y[i] *= a;
    m = m < y[i] ? y[i] : m;
  }
  return m;
}
float exp_sub_sum(int64_t n, float* x, float mx) {
  float s = 0;
  for (int64_t i = 0; i < n; i++) s += (x[i] = std::exp(x[i] - mx));
  return s;
}
float exp_weight(float v, float inv, float sub) {
  float p = v * inv;
  opaque(p);
  return std::exp(p - sub);
}
void exp_weights(int64_t n, const float* v, float inv, float sub, float* w) {
  for (int64_t i = 0; i < n; i++) w[i] = exp_weight(v[i], inv, sub);
}
int bucket_of(float v, float vmax, float scale, int nb) {
  const float x = v == v ? v : -std::numeric_limits<float>::infinity();
  const float d = (vmax - x) * scale;
  return d < static_cast<float>(nb - 1) ? static_cast<int>(d) : nb - 1;
}
int64_t bucket_members(int64_t n, const float* v, float vmax, float scale, int nb, int b, int32_t* pos) {
  int64_t m = 0;
  for (int64_t i = 0; i < n; i++)
    if (bucket_of(v[i], vmax, scale, nb) == b) pos[m++] = static_cast<int32_t>(i);
  return m;
}
void bucket_mass(int64_t n, const float* v, float vmax, float scale, int nb, int nw, const float* inv, const float* sub,
                 bool count, double* mass) {
  const int s = nw + (count ? 1 : 0);
  for (int64_t i = 0; i < n; i++) {
    const float x = v[i] == v[i] ? v[i] : -std::numeric_limits<float>::infinity();
    double* m = mass + static_cast<int64_t>(bucket_of(x, vmax, scale, nb)) * s;
    for (int k = 0; k < nw; k++) m[k] += exp_weight(x, inv[k], sub[k]);
    if (count) m[nw] += 1;
  }
}
void finite_min_max(int64_t n, const float* x, float* mn, float* mx) {
  const float ninf = -std::numeric_limits<float>::infinity();
  float lo = std::numeric_limits<float>::max(), hi = ninf;
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    hi = v > hi ? v : hi;  // NaN never compares greater
    lo = v < lo && v > ninf ? v : lo;
  }
  *mn = lo;
  *mx = hi;
}
void swiglu_f32(int64_t n, const float* g, const float* u, float* y) {
  for (int64_t i = 0; i < n; i++) y[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}
void scores_f16(int64_t n, const uint8_t* rows, size_t stride, int d, const float* q, int g, float* out, int64_t os,
                ptrdiff_t /*pf*/) {
  for (int h = 0; h < g; h++)
    for (int64_t j = 0; j < n; j++) out[h * os + j] = generic::dot_f16(d, rows + stride * j, q + h * d);
}
void scores_q8_0(int64_t n, const uint8_t* rows, size_t stride, int d, const uint8_t* qq, size_t qb, int g, float* out,
                 int64_t os, ptrdiff_t /*pf*/) {
  for (int h = 0; h < g; h++)
    for (int64_t j = 0; j < n; j++) out[h * os + j] = generic::dot_q8_0(d, rows + stride * j, qq + h * qb);
}
void accum_f16(int64_t n, const float* s, int64_t ss, const uint8_t* rows, size_t stride, int d, int g, float* acc,
               ptrdiff_t /*pf*/) {
  for (int h = 0; h < g; h++)
    for (int64_t j = 0; j < n; j++)
      axpy_f16(d, s[h * ss + j], reinterpret_cast<const uint16_t*>(rows + stride * j), acc + h * d);
}
void accum_q8_0(int64_t n, const float* s, int64_t ss, const uint8_t* rows, size_t stride, int d, int g, float* acc,
                ptrdiff_t /*pf*/) {
  for (int h = 0; h < g; h++)
    for (int64_t j = 0; j < n; j++) {
      const auto* b = reinterpret_cast<const block_q8_0*>(rows + stride * j);  // [d / 32] blocks
      for (int i = 0; i < d / QK8_0; i++) {
        const float w = s[h * ss + j] * fp16_lookup(b[i].d);
        for (int k = 0; k < QK8_0; k++) acc[h * d + i * QK8_0 + k] += w * static_cast<float>(b[i].qs[k]);
      }
    }
}
void f32_to_f16(int64_t n, const float* x, uint16_t* y) {
  for (int64_t i = 0; i < n; i++) y[i] = fp32_to_fp16(x[i]);
}
void geglu_f32(int64_t n, const float* g, const float* u, float* y) {
  for (int64_t i = 0; i < n; i++) y[i] = gelu_tanh(g[i]) * u[i];
}
void softcap_f32(int64_t n, float c, float* x) {
  for (int64_t i = 0; i < n; i++) x[i] = c * std::tanh(x[i] / c);
}

}  // namespace

const VecOps& vec_ops() {
  static const VecOps v = MM_VEC_OPS_OF_THIS_FILE();
  return v;
}

}  // namespace scalar
}  // namespace mm
