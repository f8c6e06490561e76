// arm64 NEON vector helpers (vec_dot.h's VecOps): axpy, scale, the softmax's
// exp_sub_sum, swiglu / geglu, softcap, the f16 cache stores and the sampler's
// two passes, each to the contract on its VecOps field; the attention's row
// kernels are attention_rows_neon.cc's. Plain Armv8 (NEON is part of the arm64
// base ISA); the table with sdot q8_0 scores is chosen only where the CPU
// reports dotprod (matmul.cc's vec_ops()).
#if defined(__aarch64__) || defined(_M_ARM64)
#include <arm_neon.h>

#include <cmath>
#include <limits>

#include "../core/quants.h"
#include "attention_rows.h"
#include "vec_dot.h"

namespace mm {
namespace neon {

namespace {

// exp(x) for 4 floats, the algorithm of the AVX2 v_expf (ggml's ggml_v_expf):
// |error| ~1.5 ulp; exact 0 / inf at the extremes.
inline float32x4_t v_expf(float32x4_t x) {
  const float32x4_t r = vdupq_n_f32(0x1.8p23f);
  const float32x4_t z = vfmaq_f32(r, x, vdupq_n_f32(0x1.715476p+0f));
  const float32x4_t n = vsubq_f32(z, r);
  const float32x4_t b =
      vfmsq_f32(vfmsq_f32(x, n, vdupq_n_f32(0x1.62e4p-1f)), n, vdupq_n_f32(0x1.7f7d1cp-20f));  // x - n ln2
  const uint32x4_t e = vshlq_n_u32(vreinterpretq_u32_f32(z), 23);
  const float32x4_t k = vreinterpretq_f32_u32(vaddq_u32(e, vreinterpretq_u32_f32(vdupq_n_f32(1))));
  const uint32x4_t c = vcagtq_f32(n, vdupq_n_f32(126));
  const float32x4_t u = vmulq_f32(b, b);
  const float32x4_t j = vfmaq_f32(vmulq_f32(vdupq_n_f32(0x1.ffffecp-1f), b),
                                  vfmaq_f32(vfmaq_f32(vdupq_n_f32(0x1.fffdb6p-2f), vdupq_n_f32(0x1.555e66p-3f), b),
                                            vfmaq_f32(vdupq_n_f32(0x1.573e2ep-5f), vdupq_n_f32(0x1.0e4020p-7f), b), u),
                                  u);
  if (vmaxvq_u32(c) == 0) return vfmaq_f32(k, j, k);
  // Lanes past +-126 (c) scale in two steps (s1 * s2 = 2^n) so the exponent never
  // overflows; past +-192 (d) the result is 0 or inf; other lanes keep k + k*j.
  const uint32x4_t g = vandq_u32(vclezq_f32(n), vdupq_n_u32(0x82000000u));
  const float32x4_t s1 = vreinterpretq_f32_u32(vaddq_u32(g, vdupq_n_u32(0x7f000000u)));
  const float32x4_t s2 = vreinterpretq_f32_u32(vsubq_u32(e, g));
  const uint32x4_t d = vcagtq_f32(n, vdupq_n_f32(192));
  const float32x4_t wide = vmulq_f32(vfmaq_f32(s2, s2, j), s1);
  const float32x4_t normal = vfmaq_f32(k, k, j);
  return vbslq_f32(d, vmulq_f32(s1, s1), vbslq_f32(c, wide, normal));
}

inline float32x4_t load_h4(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

void axpy_f32(int64_t n, float a, const float* x, float* y) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
  for (; i < n; i++) y[i] += a * x[i];
}
void axpy_f16(int64_t n, float a, const uint16_t* x, float* y) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(x + i));
    vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vcvt_f32_f16(vget_low_f16(h)), a));
    vst1q_f32(y + i + 4, vfmaq_n_f32(vld1q_f32(y + i + 4), vcvt_high_f32_f16(h), a));
  }
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), load_h4(x + i), a));
  for (; i < n; i++) y[i] += a * fp16_lookup(x[i]);
}
void scale_f32(int64_t n, float a, float* y) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vmulq_n_f32(vld1q_f32(y + i), a));
  for (; i < n; i++) y[i] *= a;
}
// fmaxnm takes the number where one side is NaN: NaN never wins. Two chains.
float scale_max(int64_t n, float a, float* y) {
  float32x4_t m0 = vdupq_n_f32(-INFINITY), m1 = m0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float32x4_t v0 = vmulq_n_f32(vld1q_f32(y + i), a), v1 = vmulq_n_f32(vld1q_f32(y + i + 4), a);
    vst1q_f32(y + i, v0);
    vst1q_f32(y + i + 4, v1);
    m0 = vmaxnmq_f32(m0, v0);
    m1 = vmaxnmq_f32(m1, v1);
  }
  float m = vmaxnmvq_f32(vmaxnmq_f32(m0, m1));
  for (; i < n; i++) {
    y[i] *= a;
    m = m < y[i] ? y[i] : m;
  }
  return m;
}
float exp_sub_sum(int64_t n, float* x, float mx) {
  const float32x4_t vm = vdupq_n_f32(mx);
  float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float32x4_t e0 = v_expf(vsubq_f32(vld1q_f32(x + i), vm));
    const float32x4_t e1 = v_expf(vsubq_f32(vld1q_f32(x + i + 4), vm));
    vst1q_f32(x + i, e0);
    vst1q_f32(x + i + 4, e1);
    s0 = vaddq_f32(s0, e0);
    s1 = vaddq_f32(s1, e1);
  }
  float t = vaddvq_f32(vaddq_f32(s0, s1));
  for (; i < n; i++) t += (x[i] = std::exp(x[i] - mx));
  return t;
}
// w = exp(v * inv - sub) for 4 floats, the product rounded first.
inline float32x4_t exp_weight4(float32x4_t v, float32x4_t inv, float32x4_t sub) {
  float32x4_t p = vmulq_f32(v, inv);
  opaque(p);  // no fused multiply-subtract: the product rounds first
  return v_expf(vsubq_f32(p, sub));
}
// x[0, n) for n < 4 in 4 lanes, the rest -inf.
inline float32x4_t load_tail(const float* x, int64_t n) {
  float t[4];
  for (int j = 0; j < 4; j++) t[j] = j < n ? x[j] : -INFINITY;
  return vld1q_f32(t);
}
void exp_weights(int64_t n, const float* v, float inv, float sub, float* w) {
  const float32x4_t vi = vdupq_n_f32(inv), vs = vdupq_n_f32(sub);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(w + i, exp_weight4(vld1q_f32(v + i), vi, vs));
  if (i < n) {
    float t[4];
    vst1q_f32(t, exp_weight4(load_tail(v + i, n - i), vi, vs));
    for (int64_t j = i; j < n; j++) w[j] = t[j - i];
  }
}
// As the AVX2 one: four elements' buckets and weights in vectors, then the
// adds in lane order for lanes that change a sum; -inf and NaN counted at the end.
template <int NW, bool CNT>
void bucket_mass_t(int64_t n, const float* v, float vmax, float scale, int nb, const float* inv, const float* sub,
                   double* mass) {
  constexpr int S = NW + (CNT ? 1 : 0);
  const float32x4_t vm = vdupq_n_f32(vmax), sc = vdupq_n_f32(scale), top = vdupq_n_f32(static_cast<float>(nb - 1));
  const float32x4_t ninf = vdupq_n_f32(-INFINITY), zero = vdupq_n_f32(0);
  const float32x4_t i0 = vdupq_n_f32(inv[0]), s0 = vdupq_n_f32(sub[0]);
  const float32x4_t i1 = vdupq_n_f32(inv[NW - 1]), s1 = vdupq_n_f32(sub[NW - 1]);
  int32_t b[4];
  float w0[4], w1[4];
  uint32_t lv[4];
  int64_t weightless = 0;
  auto block = [&](float32x4_t x, int valid) {
    x = vbslq_f32(vceqq_f32(x, x), x, ninf);  // NaN: -inf
    // d >= top or a NaN d (-inf * 0): top, as AVX2's min_ps
    const float32x4_t d = vmulq_f32(vsubq_f32(vm, x), sc);
    vst1q_s32(b, vcvtq_s32_f32(vbslq_f32(vcltq_f32(d, top), d, top)));
    const float32x4_t e0 = exp_weight4(x, i0, s0);
    vst1q_f32(w0, e0);
    float32x4_t e1 = e0;
    if (NW == 2) {
      e1 = exp_weight4(x, i1, s1);
      vst1q_f32(w1, e1);
    }
    const uint32x4_t live = CNT ? vcgtq_f32(x, ninf) : vorrq_u32(vcgtq_f32(e0, zero), vcgtq_f32(e1, zero));
    vst1q_u32(lv, live);
    for (int j = 0; j < valid; j++) {
      if (!lv[j]) {
        if (CNT) weightless++;
        continue;
      }
      double* m = mass + static_cast<int64_t>(b[j]) * S;
      m[0] += w0[j];
      if (NW == 2) m[1] += w1[j];
      if (CNT) m[NW] += 1;
    }
  };
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) block(vld1q_f32(v + i), 4);
  if (i < n) block(load_tail(v + i, n - i), static_cast<int>(n - i));
  if (CNT) mass[static_cast<int64_t>(nb - 1) * S + NW] += static_cast<double>(weightless);
}
int64_t bucket_members(int64_t n, const float* v, float vmax, float scale, int nb, int b, int32_t* pos) {
  const float32x4_t vm = vdupq_n_f32(vmax), sc = vdupq_n_f32(scale), top = vdupq_n_f32(static_cast<float>(nb - 1));
  const float32x4_t ninf = vdupq_n_f32(-INFINITY);
  const int32x4_t want = vdupq_n_s32(b);
  auto hits = [&](float32x4_t x, uint32_t* h) {
    x = vbslq_f32(vceqq_f32(x, x), x, ninf);  // NaN: -inf
    const float32x4_t d = vmulq_f32(vsubq_f32(vm, x), sc);
    const uint32x4_t eq = vceqq_s32(vcvtq_s32_f32(vbslq_f32(vcltq_f32(d, top), d, top)), want);
    vst1q_u32(h, eq);
    return vmaxvq_u32(eq) != 0;
  };
  uint32_t h[4];
  int64_t m = 0, i = 0;
  for (; i + 4 <= n; i += 4)
    if (hits(vld1q_f32(v + i), h))
      for (int j = 0; j < 4; j++)
        if (h[j]) pos[m++] = static_cast<int32_t>(i + j);
  if (i < n && hits(load_tail(v + i, n - i), h))
    for (int64_t j = 0; j < n - i; j++)
      if (h[j]) pos[m++] = static_cast<int32_t>(i + j);
  return m;
}
void bucket_mass(int64_t n, const float* v, float vmax, float scale, int nb, int nw, const float* inv, const float* sub,
                 bool count, double* mass) {
  if (nw == 2)
    (count ? bucket_mass_t<2, true> : bucket_mass_t<2, false>)(n, v, vmax, scale, nb, inv, sub, mass);
  else
    (count ? bucket_mass_t<1, true> : bucket_mass_t<1, false>)(n, v, vmax, scale, nb, inv, sub, mass);
}
// Max and min are exact, but a scalar loop keeps the first of equal values and
// fmax / fmin order -0 below +0: a zero result takes the first zero's sign.
void finite_min_max(int64_t n, const float* x, float* mn, float* mx) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const float32x4_t vninf = vdupq_n_f32(ninf), big = vdupq_n_f32(std::numeric_limits<float>::max());
  float32x4_t hi0 = vninf, hi1 = vninf, lo0 = big, lo1 = big;
  auto step = [&](int64_t i, float32x4_t& hi, float32x4_t& lo) {
    float32x4_t v = vld1q_f32(x + i);
    v = vbslq_f32(vceqq_f32(v, v), v, vninf);  // NaN: -inf
    hi = vmaxq_f32(hi, v);
    lo = vminq_f32(lo, vbslq_f32(vcgtq_f32(v, vninf), v, big));
  };
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    step(i, hi0, lo0);
    step(i + 4, hi1, lo1);
  }
  float hi = vmaxvq_f32(vmaxq_f32(hi0, hi1)), lo = vminvq_f32(vminq_f32(lo0, lo1));
  for (; i < n; i++) {
    const float v = x[i];
    hi = v > hi ? v : hi;
    lo = v < lo && v > ninf ? v : lo;
  }
  if (hi == 0 || lo == 0) {
    int64_t z = 0;
    while (!(x[z] == 0)) z++;  // a zero is there: hi or lo is one
    if (hi == 0) hi = x[z];
    if (lo == 0) lo = x[z];
  }
  *mn = lo;
  *mx = hi;
}
void swiglu_f32(int64_t n, const float* g, const float* u, float* y) {
  const float32x4_t one = vdupq_n_f32(1.0f);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t gv = vld1q_f32(g + i);
    const float32x4_t silu = vdivq_f32(gv, vaddq_f32(one, v_expf(vnegq_f32(gv))));
    vst1q_f32(y + i, vmulq_f32(silu, vld1q_f32(u + i)));
  }
  for (; i < n; i++) y[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}
// gelu(g) = g * sigmoid(2u), u = sqrt(2/pi) (g + 0.044715 g^3): tanh's form of GELU
// (0.5 (1 + tanh u) = sigmoid 2u), one vector exp per 4 values.
void geglu_f32(int64_t n, const float* g, const float* u, float* y) {
  const float32x4_t one = vdupq_n_f32(1.0f), a = vdupq_n_f32(kGeluCoefA), m2c = vdupq_n_f32(-2.0f * kSqrt2OverPi);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t gv = vld1q_f32(g + i);
    const float32x4_t t = vmulq_f32(vmulq_f32(m2c, gv), vfmaq_f32(one, vmulq_f32(a, gv), gv));  // -2u
    const float32x4_t gelu = vdivq_f32(gv, vaddq_f32(one, v_expf(t)));
    vst1q_f32(y + i, vmulq_f32(gelu, vld1q_f32(u + i)));
  }
  for (; i < n; i++) y[i] = gelu_tanh(g[i]) * u[i];
}
// c * tanh(x / c) = c * (1 - 2 / (1 + exp(2x / c))): absolute error ~ c * 1e-7.
void softcap_f32(int64_t n, float c, float* x) {
  const float32x4_t one = vdupq_n_f32(1.0f), two = vdupq_n_f32(2.0f), vc = vdupq_n_f32(c), k = vdupq_n_f32(2.0f / c);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t e = v_expf(vmulq_f32(k, vld1q_f32(x + i)));
    const float32x4_t t = vsubq_f32(one, vdivq_f32(two, vaddq_f32(one, e)));
    vst1q_f32(x + i, vmulq_f32(vc, t));
  }
  for (; i < n; i++) x[i] = c * std::tanh(x[i] / c);
}
// fcvtn rounds as FPCR says: to nearest even unless a program changed it.
void f32_to_f16(int64_t n, const float* x, uint16_t* y) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float16x8_t h = vcvt_high_f16_f32(vcvt_f16_f32(vld1q_f32(x + i)), vld1q_f32(x + i + 4));
    vst1q_u16(y + i, vreinterpretq_u16_f16(h));
  }
  for (; i < n; i++) y[i] = fp32_to_fp16(x[i]);
}

VecOps plain_ops() { return MM_VEC_OPS_OF_THIS_FILE(); }

}  // namespace

const VecOps& vec_ops() {
  static const VecOps v = plain_ops();
  return v;
}

#if defined(MM_HAVE_NEON_PANELS)
const VecOps& vec_ops_dotprod() {
  static const VecOps v = [] {
    VecOps o = plain_ops();
    o.scores_q8_0 = neon_dotprod::scores_q8_0;
    return o;
  }();
  return v;
}
#endif

}  // namespace neon
}  // namespace mm
#endif
