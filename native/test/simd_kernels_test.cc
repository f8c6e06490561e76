// Standalone check of the SIMD dot-product kernels against the scalar ones,
// for every weight type, on random blocks. Built for arm64 and run under
// qemu-aarch64 by test/native-simd.test.ts (the NEON paths: Apple-silicon CPUs
// and Linux arm64), and natively for the AVX2 paths. Exit code 0 = all pass.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "../core/dtype.h"
#include "../../kernels/quant_blocks.h"
#include "../cpu/attention_block.h"
#include "../cpu/cpu_features.h"
#include "../cpu/regroup_x8.h"
#include "../core/quants.h"
#include "../cpu/vec_dot.h"
#include "kernel_cases.h"

using namespace mm;
using mm::kernel_test::Case;
using mm::kernel_test::kCases;
using mm::kernel_test::random_weights;

namespace {

int check(const char* isa, const DotKernels& simd) {
  const DotKernels& ref = scalar::kernels();
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  int failures = 0;
  for (const Case& c : kCases) {
    for (int64_t n : {256, 512, 2304}) {
      for (int rep = 0; rep < 20; rep++) {
        std::vector<uint8_t> w = random_weights(c.type, n, rng);
        std::vector<float> x(n);
        for (auto& v : x) v = u(rng);
        std::vector<uint8_t> act(row_bytes(c.act, n));
        quantize_row(c.act, x.data(), act.data(), n);
        const float want = (ref.*(c.fn))(n, w.data(), act.data());
        const float got = (simd.*(c.fn))(n, w.data(), act.data());
        // Integer block sums are exact in both; only float accumulation order differs.
        std::vector<float> wd(n);
        dequantize_row(c.type, w.data(), wd.data(), n);
        double mag = 0;
        for (int64_t i = 0; i < n; i++) mag += std::fabs(wd[i] * x[i]);
        if (!(std::fabs(got - want) <= 1e-5 * mag + 1e-6)) {
          std::printf("FAIL %s %s n=%lld rep=%d: simd %.9g scalar %.9g\n", isa, c.name, static_cast<long long>(n), rep,
                      got, want);
          failures++;
        }
      }
    }
    std::printf("ok %s %s\n", isa, c.name);
  }
  return failures;
}

#if defined(MM_HAVE_AVX2_KERNELS) || defined(__aarch64__)
// The attention's row kernels (VecOps::scores_f16 / scores_q8_0 / accum_f16 /
// accum_q8_0) against the scalar ones: chunks of n cache rows
// `stride` bytes apart (a wider cache: another KV head between rows) for g
// query heads, with and without the prefetch of the next chunk's rows. Also:
// a row's score has the same bits wherever it sits in the chunk (the 4-row
// blocks' tails are summed like whole blocks), and for any g.
int check_attention_rows(const char* isa, const VecOps& simd) {
  std::mt19937 rng(99);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  const VecOps& ref = scalar::vec_ops();
  int failures = 0;
  auto close = [&](const char* what, int d, int64_t n, int g, const std::vector<float>& got,
                   const std::vector<float>& want, float tol) {
    for (size_t i = 0; i < want.size(); i++)
      if (!(std::fabs(got[i] - want[i]) <= tol * (1 + std::fabs(want[i])))) {
        std::printf("FAIL %s %s d=%d n=%lld g=%d at %zu: simd %.9g scalar %.9g\n", isa, what, d,
                    static_cast<long long>(n), g, i, got[i], want[i]);
        failures++;
        return;
      }
  };
  for (int d : {8, 24, 32, 64, 128, 256})
    for (int64_t n : {1, 3, 4, 7, 16, 33})
      for (int g : {1, 2, 3, 4, 5, 7, 8}) {
        const size_t fb = 2 * static_cast<size_t>(d), fstride = 3 * fb;  // f16 head rows, 3 KV heads
        std::vector<uint8_t> rows(fstride * (2 * n + 1));
        std::vector<float> x(d), q(static_cast<size_t>(g) * d);
        for (int64_t j = 0; j < 2 * n + 1; j++) {
          for (auto& v : x) v = u(rng);
          for (int c = 0; c < d; c++) reinterpret_cast<uint16_t*>(rows.data() + fstride * j)[c] = fp32_to_fp16(x[c]);
        }
        for (auto& v : q) v = u(rng);
        const int64_t os = n + 5;  // score rows of a wider chunk
        std::vector<float> want(static_cast<size_t>(g) * os, 0.f), got(want), moved(want);
        ref.scores_f16(n, rows.data(), fstride, d, q.data(), g, want.data(), os, 0);
        simd.scores_f16(n, rows.data(), fstride, d, q.data(), g, got.data(), os, static_cast<ptrdiff_t>(n * fstride));
        close("scores_f16", d, n, g, got, want, 2e-6f * d);
        // The same rows one place later (row j's block neighbours change), and each head alone.
        if (n > 1) {
          std::vector<float> shifted(static_cast<size_t>(g) * os, 0.f);
          simd.scores_f16(n, rows.data() + fstride, fstride, d, q.data(), g, shifted.data(), os, 0);
          simd.scores_f16(n + 1, rows.data(), fstride, d, q.data(), g, moved.data(), os, 0);
          for (int h = 0; h < g; h++)
            for (int64_t j = 0; j + 1 < n; j++)
              if (shifted[h * os + j] != moved[h * os + j + 1] || moved[h * os + j] != got[h * os + j]) {
                std::printf("FAIL %s scores_f16 d=%d n=%lld g=%d: row %lld's bits depend on its place\n", isa, d,
                            static_cast<long long>(n), g, static_cast<long long>(j));
                failures++;
                h = g;
                break;
              }
          std::vector<float> one(static_cast<size_t>(os));
          simd.scores_f16(n, rows.data(), fstride, d, q.data() + static_cast<size_t>(g - 1) * d, 1, one.data(), os, 0);
          for (int64_t j = 0; j < n; j++)
            if (one[j] != got[(g - 1) * os + j]) {
              std::printf("FAIL %s scores_f16 d=%d n=%lld g=%d: a head alone differs\n", isa, d,
                          static_cast<long long>(n), g);
              failures++;
              break;
            }
        }
        // Weighted sums over f16 rows, then q8_0 rows (d % 32 == 0).
        const int64_t ss = n + 3;
        std::vector<float> s(static_cast<size_t>(g) * ss);
        for (auto& v : s) v = std::fabs(u(rng));
        std::vector<float> acc_want(static_cast<size_t>(g) * d), acc_got;
        for (auto& v : acc_want) v = u(rng);
        acc_got = acc_want;
        ref.accum_f16(n, s.data(), ss, rows.data(), fstride, d, g, acc_want.data(), 0);
        simd.accum_f16(n, s.data(), ss, rows.data(), fstride, d, g, acc_got.data(),
                       static_cast<ptrdiff_t>(n * fstride));
        close("accum_f16", d, n, g, acc_got, acc_want, 1e-5f);
        if (d % QK8_0 != 0) continue;
        const size_t qb = row_bytes(DType::Q8_0, d), qstride = qb + 34;
        std::vector<uint8_t> qrows(qstride * n);
        for (int64_t j = 0; j < n; j++) {
          for (auto& v : x) v = u(rng);
          quantize_row(DType::Q8_0, x.data(), qrows.data() + qstride * j, d);
        }
        // q8_0 scores against the scalar q8_0 dot, and a row's bits wherever it sits.
        std::vector<uint8_t> qq(qb * g);
        for (int h = 0; h < g; h++) {
          for (auto& v : x) v = u(rng);
          quantize_row(DType::Q8_0, x.data(), qq.data() + qb * h, d);
        }
        std::fill(want.begin(), want.end(), 0.f);
        std::fill(got.begin(), got.end(), 0.f);
        ref.scores_q8_0(n, qrows.data(), qstride, d, qq.data(), qb, g, want.data(), os, 0);
        simd.scores_q8_0(n, qrows.data(), qstride, d, qq.data(), qb, g, got.data(), os,
                         static_cast<ptrdiff_t>(n * qstride));
        close("scores_q8_0", d, n, g, got, want, 1e-5f * d);
        if (n > 1) {
          std::vector<float> later(static_cast<size_t>(g) * os, 0.f);
          simd.scores_q8_0(n - 1, qrows.data() + qstride, qstride, d, qq.data(), qb, g, later.data(), os, 0);
          for (int h = 0; h < g; h++)
            for (int64_t j = 0; j + 1 < n; j++)
              if (later[h * os + j] != got[h * os + j + 1]) {
                std::printf("FAIL %s scores_q8_0 d=%d n=%lld g=%d: row %lld's bits depend on its place\n", isa, d,
                            static_cast<long long>(n), g, static_cast<long long>(j + 1));
                failures++;
                h = g;
                break;
              }
        }
        for (auto& v : acc_want) v = u(rng);
        acc_got = acc_want;
        ref.accum_q8_0(n, s.data(), ss, qrows.data(), qstride, d, g, acc_want.data(), 0);
        simd.accum_q8_0(n, s.data(), ss, qrows.data(), qstride, d, g, acc_got.data(), 0);
        close("accum_q8_0", d, n, g, acc_got, acc_want, 1e-5f);
      }
  std::printf("ok %s attention rows\n", isa);
  return failures;
}

// The elementwise and sampler ops of VecOps against the scalar ones, each to
// its field's contract: scale, f32_to_f16 (finite values and infinities) and
// finite_min_max (min and max, NaN and infinities in the rows) bit for bit;
// the sampler's bucket passes as said at them; the rest
// within the tolerances below (a vector exp within ~2 ulp, FMA against
// separate roundings). zero_signs: also the sign of a zero min or max, as the
// scalar loop's (the first zero); the AVX2 table's max/min instructions give
// the other zero's sign, so x86 leaves it out (a known difference, kept).
int check_vec_ops(const char* isa, const VecOps& simd, bool zero_signs) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  const VecOps& ref = scalar::vec_ops();
  int failures = 0;
  auto fail = [&](const char* what, int64_t n, int64_t i, double got, double want) {
    std::printf("FAIL %s %s n=%lld at %lld: simd %.9g scalar %.9g\n", isa, what, static_cast<long long>(n),
                static_cast<long long>(i), got, want);
    failures++;
  };
  auto bits = [](float f) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    return b;
  };
  auto rand_vec = [&](int64_t n, float lo, float hi) {
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = lo + (hi - lo) * (0.5f + 0.5f * u(rng));
    return v;
  };
  // Relative to the value (plus `abs`): the first element out of tolerance fails.
  auto close = [&](const char* what, int64_t n, const std::vector<float>& got, const std::vector<float>& want,
                   double rel, double abs) {
    for (int64_t i = 0; i < n; i++)
      if (!(std::fabs(got[i] - want[i]) <= rel * std::fabs(want[i]) + abs)) return fail(what, n, i, got[i], want[i]);
  };
  for (int64_t n : {0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33, 100, 1027}) {
    {  // axpy_f32, axpy_f16, scale
      const float a = u(rng) * 3;
      const std::vector<float> x = rand_vec(n, -4, 4), y0 = rand_vec(n, -4, 4);
      std::vector<uint16_t> xh(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; i++) xh[i] = fp32_to_fp16(x[i]);
      std::vector<float> want = y0, got = y0;
      ref.axpy_f32(n, a, x.data(), want.data());
      simd.axpy_f32(n, a, x.data(), got.data());
      close("axpy_f32", n, got, want, 1e-6, 2e-6);
      want = got = y0;
      ref.axpy_f16(n, a, xh.data(), want.data());
      simd.axpy_f16(n, a, xh.data(), got.data());
      close("axpy_f16", n, got, want, 1e-6, 2e-6);
      want = got = y0;
      ref.scale(n, a, want.data());
      simd.scale(n, a, got.data());
      for (int64_t i = 0; i < n; i++)
        if (bits(got[i]) != bits(want[i])) fail("scale (bits)", n, i, got[i], want[i]);
      // scale_max: the same scaled bits, and the largest of them (a NaN never wins)
      for (const bool with_nan : {false, true}) {
        std::vector<float> s = y0;
        if (with_nan && n > 2) s[n / 2] = NAN, s[0] = NAN;
        want = got = s;
        ref.scale(n, a, want.data());
        float want_mx = -INFINITY;
        for (float v : want) want_mx = want_mx < v ? v : want_mx;
        const float mx_ref = ref.scale_max(n, a, s.data()), mx = simd.scale_max(n, a, got.data());
        for (int64_t i = 0; i < n; i++)
          if (bits(got[i]) != bits(want[i]) && !(std::isnan(got[i]) && std::isnan(want[i])))
            fail("scale_max (bits)", n, i, got[i], want[i]);
        if (mx != want_mx) fail("scale_max (max)", n, -1, mx, want_mx);
        if (mx_ref != want_mx) fail("scale_max (scalar max)", n, -1, mx_ref, want_mx);
      }
    }
    {  // exp_sub_sum: scores below their max, some far enough to underflow
      std::vector<float> x = rand_vec(n, -30, 0);
      if (n > 5) x[3] = -100, x[5] = -200;
      const float mx = 1.5f;
      for (auto& v : x) v += mx;
      std::vector<float> want = x, got = x;
      const float sw = ref.exp_sub_sum(n, want.data(), mx), sg = simd.exp_sub_sum(n, got.data(), mx);
      close("exp_sub_sum", n, got, want, 1e-6, 1e-37);
      if (!(std::fabs(sg - sw) <= 1e-6 * sw)) fail("exp_sub_sum (sum)", n, -1, sg, sw);
    }
    {  // exp_weights: logits / temperature minus the largest, -inf weighs 0
      std::vector<float> v = rand_vec(n, -40, 25);
      if (n > 2) v[1] = -INFINITY;
      const float inv = 1.0f / 0.7f, sub = 25.0f * inv;
      std::vector<float> want(static_cast<size_t>(n)), got(want);
      ref.exp_weights(n, v.data(), inv, sub, want.data());
      simd.exp_weights(n, v.data(), inv, sub, got.data());
      close("exp_weights", n, got, want, 1e-6, 1e-37);
      if (n > 2 && got[1] != 0) fail("exp_weights (-inf)", n, 1, got[1], 0);
    }
    // bucket_mass and bucket_members: logits with ties, NaN and infinities, one
    // and two weights, with and without counts. The counts and members exactly
    // as the scalar's; the sums within 1e-6 of its relative (a vector exp) and
    // bit for bit the position-order sums of this level's own exp_weights, which
    // the sampler's exact ranking inside a bucket relies on.
    // Buckets: as many as the sampler gives a big row, and fewer than a vector's
    // lanes (a small row); the sums never touch past nb (a guard of -0 stays -0:
    // even adding a zero, +0, would flip its sign).
    for (int kind = 0; kind < 6; kind++) {
      const int nb = kind < 3 ? 64 : kind - 2;
      std::vector<float> x = rand_vec(n, -12, 9);
      if (kind % 3 == 1)
        for (int64_t i = 0; i < n; i += 4) x[i] = i % 3 ? std::round(x[i]) : (i % 2 ? NAN : -INFINITY);
      if (kind % 3 == 2)
        for (auto& v : x) v = 1.5f;  // all equal: a zero span, scale 0
      float mn, mx;
      ref.finite_min_max(n, x.data(), &mn, &mx);
      if (n == 0 || !std::isfinite(mx)) continue;
      const float span = mx - mn, scale = span > 0 ? nb / span : 0.0f;
      const float inv[2] = {1.0f / 0.8f, 1.0f}, sub[2] = {mx / 0.8f, mx};
      std::vector<float> clean(x);
      for (auto& v : clean) v = v == v ? v : -INFINITY;
      std::vector<std::vector<int32_t>> want_pos(nb);
      std::vector<int32_t> pos(static_cast<size_t>(n));
      for (int b = 0; b < nb; b++) {
        const int64_t m = ref.bucket_members(n, x.data(), mx, scale, nb, b, pos.data());
        want_pos[b].assign(pos.begin(), pos.begin() + m);
        const int64_t g = simd.bucket_members(n, x.data(), mx, scale, nb, b, pos.data());
        if (g != m || !std::equal(want_pos[b].begin(), want_pos[b].end(), pos.begin()))
          fail("bucket_members", n, b, static_cast<double>(g), static_cast<double>(m));
      }
      for (const int nw : {1, 2})
        for (const bool count : {false, true}) {
          const int s = nw + (count ? 1 : 0);
          const size_t guard = 16;
          std::vector<double> want(static_cast<size_t>(nb) * s + guard), got(want), own(want);
          for (size_t j = static_cast<size_t>(nb) * s; j < want.size(); j++) want[j] = got[j] = -0.0;
          ref.bucket_mass(n, x.data(), mx, scale, nb, nw, inv, sub, count, want.data());
          simd.bucket_mass(n, x.data(), mx, scale, nb, nw, inv, sub, count, got.data());
          for (int k = 0; k < nw; k++) {
            std::vector<float> w(static_cast<size_t>(n));
            simd.exp_weights(n, clean.data(), inv[k], sub[k], w.data());
            for (int b = 0; b < nb; b++)
              for (const int32_t i : want_pos[b]) own[static_cast<size_t>(b) * s + k] += w[i];
          }
          for (int b = 0; b < nb; b++) {
            for (int k = 0; k < nw; k++) {
              const size_t j = static_cast<size_t>(b) * s + k;
              if (std::memcmp(&got[j], &own[j], sizeof(double)) != 0)
                fail("bucket_mass (own sum bits)", n, b, got[j], own[j]);
              if (!(std::fabs(got[j] - want[j]) <= 1e-6 * want[j])) fail("bucket_mass (sum)", n, b, got[j], want[j]);
            }
            const size_t c = static_cast<size_t>(b) * s + nw;
            if (count && (got[c] != want[c] || want[c] != static_cast<double>(want_pos[b].size())))
              fail("bucket_mass (count)", n, b, got[c], want[c]);
          }
          for (size_t j = static_cast<size_t>(nb) * s; j < got.size(); j++)
            if (!std::signbit(got[j]) || !std::signbit(want[j]) || got[j] != 0 || want[j] != 0)
              fail("bucket_mass (past nb)", n, nb, got[j], want[j]);
        }
    }
    {  // swiglu, geglu
      const std::vector<float> g = rand_vec(n, -12, 12), up = rand_vec(n, -3, 3);
      std::vector<float> want(static_cast<size_t>(n)), got(want);
      ref.swiglu(n, g.data(), up.data(), want.data());
      simd.swiglu(n, g.data(), up.data(), got.data());
      close("swiglu", n, got, want, 2e-6, 1e-37);
      ref.geglu(n, g.data(), up.data(), want.data());
      simd.geglu(n, g.data(), up.data(), got.data());
      close("geglu", n, got, want, 2e-5, 1e-37);
    }
    {  // softcap (gemma 2's final logits: c = 30)
      const float c = 30.0f;
      const std::vector<float> x = rand_vec(n, -120, 120);
      std::vector<float> want = x, got = x;
      ref.softcap(n, c, want.data());
      simd.softcap(n, c, got.data());
      close("softcap", n, got, want, 0, 1e-6 * c);
    }
    {  // f32_to_f16: f16 subnormals, overflow to infinity, infinities
      std::vector<float> x = rand_vec(n, -1, 1);
      for (int64_t i = 0; i < n; i++) x[i] *= std::ldexp(1.0f, static_cast<int>(i % 48) - 30);
      if (n > 2) x[1] = std::numeric_limits<float>::infinity(), x[2] = -70000.0f;
      std::vector<uint16_t> want(static_cast<size_t>(n)), got(want);
      ref.f32_to_f16(n, x.data(), want.data());
      simd.f32_to_f16(n, x.data(), got.data());
      for (int64_t i = 0; i < n; i++)
        if (got[i] != want[i]) {
          std::printf("FAIL %s f32_to_f16 n=%lld at %lld: simd %04x scalar %04x (%.9g)\n", isa,
                      static_cast<long long>(n), static_cast<long long>(i), got[i], want[i], x[i]);
          failures++;
          break;
        }
    }
    // finite_min_max: plain rows; NaN and infinities; all NaN; zeros of both signs
    // as the max (the rest negative) or the min (the rest positive).
    const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
    for (int kind = 0; kind < 6; kind++) {
      std::vector<float> x = rand_vec(n, -50, 50);
      if (kind == 1)
        for (int64_t i = 0; i < n; i += 3) x[i] = i % 2 ? nan : (i % 4 ? inf : -inf);
      if (kind == 2)
        for (auto& v : x) v = nan;
      if (kind == 3 || kind == 4) {
        if (!zero_signs) continue;
        for (auto& v : x) v = kind == 3 ? -std::fabs(v) - 1 : std::fabs(v) + 1;
        for (int64_t i = n / 3; i < n; i += 5) x[i] = (i / 5) % 2 ? 0.0f : -0.0f;
      }
      if (kind == 5)  // the largest and smallest lanes at the tail
        for (int64_t i = 0; i < n; i++) x[i] = static_cast<float>(i % 7) - 3.0f;
      float wmn, wmx, gmn, gmx;
      ref.finite_min_max(n, x.data(), &wmn, &wmx);
      simd.finite_min_max(n, x.data(), &gmn, &gmx);
      if (bits(gmn) != bits(wmn)) fail("finite_min_max (min bits)", n, kind, gmn, wmn);
      if (bits(gmx) != bits(wmx)) fail("finite_min_max (max bits)", n, kind, gmx, wmx);
    }
  }
  std::printf("ok %s vec ops\n", isa);
  return failures;
}
#endif

#if defined(MM_HAVE_AVX2_KERNELS)
// Random K-quant / iq4_xs weights (4 rows, f16 scales of a sane size at offsets d and dmin, dmin 0: none) and 3 q8_K
// activation rows (-128 included but for xs, whose sign trick needs [-127, 127]: what our q8_K quantizer writes),
// each row followed by extra's data where it has one (64-byte aligned rows, see ActExtra).
struct KTileData {
  std::vector<uint8_t> w, a_buf;
  uint8_t* a = nullptr;
  size_t ws = 0, as = 0;
};
KTileData k_tile_data(std::mt19937& rng, DType t, int64_t k, size_t d, size_t dmin, bool xs, ActExtra extra) {
  KTileData m;
  const int64_t nb = k / 256;
  const size_t bb = traits(t).type_size;
  const size_t row = static_cast<size_t>(nb) * sizeof(block_q8_K), off = (row + 63) / 64 * 64;
  m.ws = static_cast<size_t>(nb) * bb;
  m.as = extra.fill ? off + extra.bytes(k) : row;
  m.w.resize(4 * m.ws);
  m.a_buf.resize(3 * m.as + 64);
  m.a = m.a_buf.data() + (64 - reinterpret_cast<uintptr_t>(m.a_buf.data()) % 64) % 64;
  for (auto& v : m.w) v = static_cast<uint8_t>(rng());
  for (int r = 0; r < 4; r++)
    for (int64_t b = 0; b < nb; b++) {
      uint8_t* x = m.w.data() + r * m.ws + b * bb;
      const uint16_t dv = fp32_to_fp16(0.001f * static_cast<float>(1 + rng() % 9));
      const uint16_t dm = fp32_to_fp16(0.002f * static_cast<float>(1 + rng() % 5));
      std::memcpy(x + d, &dv, 2);
      if (dmin) std::memcpy(x + dmin, &dm, 2);
    }
  for (int c = 0; c < 3; c++) {
    auto* y = reinterpret_cast<block_q8_K*>(m.a + c * m.as);
    for (int64_t b = 0; b < nb; b++) {
      y[b].d = 0.01f * static_cast<float>(1 + rng() % 9);
      for (int i = 0; i < 256; i++)
        y[b].qs[i] = static_cast<int8_t>(xs ? static_cast<int>(rng() % 255) - 127 : static_cast<int>(rng()));
      if (b == 0 && c == 0) std::memset(y[b].qs, xs ? 0x81 : 0x80, 256);
      for (int g = 0; g < 16; g++) {
        int sum = 0;
        for (int i = 0; i < 16; i++) sum += y[b].qs[16 * g + i];
        y[b].bsums[g] = static_cast<int16_t>(sum);
      }
    }
    if (extra.fill) extra.fill(k, y, m.a + c * m.as + off);
  }
  return m;
}

// What a tile is held to bit for bit: another tile at the same size, or (tile null) a row kernel row by row.
struct TileRef {
  DotTileFn tile = nullptr;
  VecDotFn row = nullptr;
};

// Runs `tile` at every size (1-4 weight rows x 1-3 activation rows) over m's rows: each output must have ref's bits
// and lie within float order of the scalar row kernel. Returns the failures, each printed under `label`.
int compare_tile(const char* label, DType t, int64_t k, const KTileData& m, DotTileFn tile, TileRef ref,
                 VecDotFn scalar) {
  int failures = 0;
  const uint8_t* w = m.w.data();
  for (int nr = 1; nr <= kTileW; nr++)
    for (int nc = 1; nc <= kTileA; nc++) {
      float got[kTileW * kTileA], bits[kTileW * kTileA];
      tile(k, w, m.ws, nr, m.a, m.as, nc, got, kTileW);
      if (ref.tile) {
        ref.tile(k, w, m.ws, nr, m.a, m.as, nc, bits, kTileW);
      } else {
        for (int c = 0; c < nc; c++)
          for (int r = 0; r < nr; r++) bits[c * kTileW + r] = ref.row(k, w + r * m.ws, m.a + c * m.as);
      }
      for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++) {
          const float g = got[c * kTileW + r], b = bits[c * kTileW + r], want = scalar(k, w + r * m.ws, m.a + c * m.as);
          if (std::memcmp(&b, &g, sizeof g) != 0 || std::fabs(g - want) > 1e-4f * (std::fabs(want) + 1.0f)) {
            std::printf("FAIL %s %s tile k=%lld %dx%d row %d col %d: %.9g (reference %.9g, scalar %.9g)\n", label,
                        type_name(static_cast<int32_t>(t)), static_cast<long long>(k), nr, nc, r, c,
                        static_cast<double>(g), static_cast<double>(b), static_cast<double>(want));
            failures++;
          }
        }
    }
  return failures;
}

// The AVX2 q4_K / q5_K decode tiles (plain and AVX-VNNI levels' tables) against the AVX2 row kernels, bit for bit (the
// same integer lane sums and float steps), at every tile size, 256 to 2048 values a row, and against the scalar row
// kernel within float order.
int check_avx2_k_tiles() {
  std::mt19937 rng(29);
  int failures = 0;
  const DotKernels& ref = scalar::kernels();
  const DotKernels& d2 = avx2::kernels();
  for (const int cap : {2, 0}) {  // the plain AVX2 table, then the AVX-VNNI one where the CPU has it
    cpu_cap_x86(cap);
    if (cap == 0 && !cpu_use_avx_vnni()) continue;
    const TileKernels& t2 = avx2::tile_kernels();
    struct Case {
      DType t;
      DotTileFn tile;
      VecDotFn row, scalar;
      size_t d, dmin;
    };
    const Case cases[] = {
        {DType::Q4_K, t2.q4_K, d2.q4_K, ref.q4_K, offsetof(block_q4_K, d), offsetof(block_q4_K, dmin)},
        {DType::Q5_K, t2.q5_K, d2.q5_K, ref.q5_K, offsetof(block_q5_K, d), offsetof(block_q5_K, dmin)},
    };
    for (const Case& kc : cases)
      for (const int64_t k : {256, 512, 2048}) {
        const KTileData m = k_tile_data(rng, kc.t, k, kc.d, kc.dmin, false, {});
        failures += compare_tile(cap == 0 ? "avx2 (vnni)" : "avx2", kc.t, k, m, kc.tile, {nullptr, kc.row}, kc.scalar);
      }
  }
  cpu_cap_x86(0);
  std::printf("ok avx2 k-quant tiles\n");
  return failures;
}
#endif

#if defined(MM_HAVE_AVX512_KERNELS)
// The AVX-512 sampler passes (sampler_avx512.cc) against the AVX2 ones, bit for bit: the same weights and
// bucket sums (so every draw is the same at both levels), over rows of every length up to a few
// vectors, with ties, NaN and infinities, one and two weights, with and without counts.
int check_sampler_bits(const VecOps& a2, const VecOps& a5) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-12.f, 9.f);
  int failures = 0;
  for (int64_t n = 1; n <= 80; n += (n < 40 ? 1 : 13)) {
    for (int kind = 0; kind < 3; kind++) {
      std::vector<float> x(static_cast<size_t>(n));
      for (auto& v : x) v = u(rng);
      if (kind == 1)
        for (int64_t i = 0; i < n; i += 3) x[i] = i % 2 ? NAN : -INFINITY;
      if (kind == 2)
        for (int64_t i = 0; i < n; i += 2) x[i] = std::round(x[i]);
      float mn, mx;
      a2.finite_min_max(n, x.data(), &mn, &mx);
      if (!std::isfinite(mx)) continue;
      const int nb = 1 + static_cast<int>(n % 7);
      const float scale = mx > mn ? nb / (mx - mn) : 0.0f;
      const float inv[2] = {1.0f / 0.8f, 1.0f}, sub[2] = {mx / 0.8f, mx};
      std::vector<float> clean(x), w2(x.size()), w5(x.size());
      for (auto& v : clean) v = v == v ? v : -INFINITY;
      a2.exp_weights(n, clean.data(), inv[0], sub[0], w2.data());
      a5.exp_weights(n, clean.data(), inv[0], sub[0], w5.data());
      if (std::memcmp(w2.data(), w5.data(), w2.size() * sizeof(float)) != 0) {
        std::printf("FAIL avx512 exp_weights bits n=%lld\n", static_cast<long long>(n));
        failures++;
      }
      std::vector<int32_t> p2(x.size()), p5(x.size());
      for (int b = 0; b < nb; b++) {
        const int64_t m2 = a2.bucket_members(n, x.data(), mx, scale, nb, b, p2.data());
        const int64_t m5 = a5.bucket_members(n, x.data(), mx, scale, nb, b, p5.data());
        if (m2 != m5 || !std::equal(p2.begin(), p2.begin() + m2, p5.begin())) {
          std::printf("FAIL avx512 bucket_members n=%lld b=%d\n", static_cast<long long>(n), b);
          failures++;
        }
      }
      for (const int nw : {1, 2})
        for (const bool count : {false, true}) {
          const size_t len = static_cast<size_t>(nb) * (nw + (count ? 1 : 0));
          std::vector<double> m2(len), m5(len);
          a2.bucket_mass(n, x.data(), mx, scale, nb, nw, inv, sub, count, m2.data());
          a5.bucket_mass(n, x.data(), mx, scale, nb, nw, inv, sub, count, m5.data());
          if (std::memcmp(m2.data(), m5.data(), len * sizeof(double)) != 0) {
            std::printf("FAIL avx512 bucket_mass bits n=%lld nw=%d count=%d\n", static_cast<long long>(n), nw,
                        count ? 1 : 0);
            failures++;
          }
        }
    }
  }
  std::printf("ok avx512 sampler bits\n");
  return failures;
}

// The attention's softmax passes at the AVX-512 level (avx512_exp.h's scale_max and exp_sub_sum) against
// the AVX2 ones, bit for bit, at every length up to a few vectors: decode's scores get the same weights and
// denominators at both levels (-inf scores of a masked key among them).
int check_softmax_bits(const VecOps& a2, const VecOps& a5) {
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> u(-30.f, 30.f);
  int failures = 0;
  for (int64_t n = 1; n <= 80; n++) {
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = u(rng);
    if (n % 5 == 0) x[static_cast<size_t>(n / 2)] = -INFINITY;
    std::vector<float> y2(x), y5(x);
    const float m2 = a2.scale_max(n, 0.125f, y2.data()), m5 = a5.scale_max(n, 0.125f, y5.data());
    if (std::memcmp(&m2, &m5, sizeof m2) != 0 || std::memcmp(y2.data(), y5.data(), y2.size() * sizeof(float)) != 0) {
      std::printf("FAIL avx512 scale_max bits n=%lld\n", static_cast<long long>(n));
      failures++;
    }
    const float s2 = a2.exp_sub_sum(n, y2.data(), m2), s5 = a5.exp_sub_sum(n, y5.data(), m2);
    if (std::memcmp(&s2, &s5, sizeof s2) != 0 || std::memcmp(y2.data(), y5.data(), y2.size() * sizeof(float)) != 0) {
      std::printf("FAIL avx512 exp_sub_sum bits n=%lld\n", static_cast<long long>(n));
      failures++;
    }
  }
  std::printf("ok avx512 softmax bits\n");
  return failures;
}

// The AVX-512 decode tiles on regrouped q4_0 / q8_0 weights (regroup_x8.h) against the AVX2 ones, bit for
// bit, and both against a double-precision dot of the same blocks: 1-3 activation rows, short and long
// rows, random blocks with the extremes (nibbles 0 and 15, q8_0 weights -128 and 127, activations -127 and 127).
int check_x8_tiles() {
  std::mt19937 rng(21);
  int failures = 0;
  for (const DType t : {DType::Q4_0, DType::Q8_0}) {
    const bool q4 = t == DType::Q4_0;
    const ActExtra extra = q4 ? avx2::q4_0_x8_extra() : ActExtra{};
    for (const int64_t k : {32, 64, 96, 576, 2048}) {
      const int64_t nb = k / 32;
      const size_t bb = x8_block_bytes(t), gb = x8_group_bytes(t, k);
      std::vector<uint8_t> w(gb);  // one group: [nb] blocks of [8] f16 scales, then the values
      for (int64_t b = 0; b < nb; b++) {
        uint8_t* blk = w.data() + b * bb;
        for (int r = 0; r < 8; r++) {
          const uint16_t h = fp32_to_fp16(std::uniform_real_distribution<float>(0.001f, 0.05f)(rng));
          std::memcpy(blk + 2 * r, &h, 2);
        }
        for (size_t i = 16; i < bb; i++) blk[i] = static_cast<uint8_t>(rng());
        if (b == 0) std::memset(blk + 16, q4 ? 0xFF : 0x80, 32);  // nibbles 15 / values -128
        if (b == 1) std::memset(blk + 16, q4 ? 0x00 : 0x7F, 32);  // nibbles 0 / values 127
      }
      // [3] activation rows: q8_0 blocks, then (q4_0) the extra, `as` bytes apart
      const size_t as = q4 ? q4_0_x8_extra_offset(k) + extra.bytes(k) : static_cast<size_t>(nb) * 34;
      std::vector<uint8_t> a(3 * as);
      for (int c = 0; c < 3; c++) {
        auto* y = reinterpret_cast<block_q8_0*>(a.data() + c * as);
        for (int64_t b = 0; b < nb; b++) {
          y[b].d = fp32_to_fp16(std::uniform_real_distribution<float>(0.001f, 0.05f)(rng));
          // (activations are quantized to [-127, 127]: the sign trick would wrap -128)
          for (int i = 0; i < 32; i++)
            y[b].qs[i] = static_cast<int8_t>(std::uniform_int_distribution<int>(-127, 127)(rng));
          if (b == c) std::memset(y[b].qs, c == 1 ? 0x7F : 0x81, 32);
        }
        if (q4) extra.fill(k, y, a.data() + c * as + q4_0_x8_extra_offset(k));
      }
      for (int nc = 1; nc <= 3; nc++) {
        float o2[3 * 8], o5[3 * 8];
        (q4 ? avx2::q4_0_x8_tile : avx2::q8_0_x8_tile)(k, w.data(), a.data(), as, nc, o2, 8);
        (q4 ? avx512::q4_0_x8_tile : avx512::q8_0_x8_tile)(k, w.data(), a.data(), as, nc, o5, 8);
        if (std::memcmp(o2, o5, sizeof(float) * 8 * static_cast<size_t>(nc)) != 0) {
          std::printf("FAIL avx512 x8 tile bits %s k=%lld nc=%d\n", type_name(static_cast<int32_t>(t)),
                      static_cast<long long>(k), nc);
          failures++;
        }
        for (int c = 0; c < nc; c++) {
          const auto* y = reinterpret_cast<const block_q8_0*>(a.data() + c * as);
          for (int r = 0; r < 8; r++) {
            double ref = 0, mag = 0;
            for (int64_t b = 0; b < nb; b++) {
              const uint8_t* blk = w.data() + b * bb;
              uint16_t h;
              std::memcpy(&h, blk + 2 * r, 2);
              long dot = 0;
              for (int i = 0; i < 32; i++) {
                // q4_0: value i of row r is a nibble of byte 4 * (i % 16 / 4) ... of its group; q8_0: byte i % 4
                // of value group i / 4
                const int wv = q4 ? ((blk[16 + 32 * (i % 16 / 4) + 4 * r + i % 4] >> (i < 16 ? 0 : 4)) & 15) - 8
                                  : static_cast<int8_t>(blk[16 + 32 * (i / 4) + 4 * r + i % 4]);
                dot += static_cast<long>(wv) * y[b].qs[i];
              }
              const double s = static_cast<double>(fp16_to_fp32(h)) * fp16_to_fp32(y[b].d);
              ref += s * static_cast<double>(dot);
              mag += std::fabs(s) * 32 * 128 * 128;
            }
            if (std::fabs(o5[c * 8 + r] - ref) > 1e-6 * mag) {
              std::printf("FAIL avx512 x8 tile %s k=%lld row %d: %g vs %g\n", type_name(static_cast<int32_t>(t)),
                          static_cast<long long>(k), r, static_cast<double>(o5[c * 8 + r]), ref);
              failures++;
            }
          }
        }
      }
    }
  }
  std::printf("ok avx512 x8 tiles\n");
  return failures;
}

// The AVX-512 K-quant and iq4_xs decode tiles against the AVX2 kernels, bit for bit (the same integer lane
// sums and float steps: the AVX2 tiles of q2_K to q5_K and iq4_xs, the row kernel of q6_K), at every tile
// size (1-4 weight rows x 1-3 activation rows), 256 to 2048 values a row, random blocks (activations -128 included, but
// for iq4_xs), and against the scalar row kernel within float order.
int check_k_tiles() {
  std::mt19937 rng(23);
  int failures = 0;
  const TileKernels& t2 = avx2::tile_kernels();
  const TileKernels& t5 = avx512::tile_kernels();
  const DotKernels& ref = scalar::kernels();
  const DotKernels& d2 = avx2::kernels();
  struct KCase {
    DType t;
    DotTileFn avx512, avx2_tile;  // (avx2_tile null: compare with the AVX2 row kernel)
    VecDotFn avx2_row, scalar;
    size_t d, dmin;  // offsets of the f16 scales in a block (dmin 0: none)
  };
  const KCase cases[] = {
      {DType::Q2_K, t5.q2_K, t2.q2_K, nullptr, ref.q2_K, offsetof(block_q2_K, d), offsetof(block_q2_K, dmin)},
      {DType::Q3_K, t5.q3_K, t2.q3_K, nullptr, ref.q3_K, offsetof(block_q3_K, d), 0},
      {DType::Q4_K, t5.q4_K, t2.q4_K, nullptr, ref.q4_K, offsetof(block_q4_K, d), offsetof(block_q4_K, dmin)},
      {DType::Q5_K, t5.q5_K, t2.q5_K, nullptr, ref.q5_K, offsetof(block_q5_K, d), offsetof(block_q5_K, dmin)},
      {DType::Q6_K, t5.q6_K, nullptr, d2.q6_K, ref.q6_K, offsetof(block_q6_K, d), 0},
      {DType::IQ4_XS, t5.iq4_xs, t2.iq4_xs, nullptr, ref.iq4_xs, offsetof(block_iq4_xs, d), 0},
  };
  for (const KCase& kc : cases) {
    const DType t = kc.t;
    const bool xs = t == DType::IQ4_XS;
    // (q4_K, q5_K: the AVX-512 tile reads the q8_K rows reordered after each row, 64-byte aligned; see ActExtra)
    const ActExtra extra = avx512::act_extra(t);
    for (const int64_t k : {256, 512, 2048}) {
      const KTileData m = k_tile_data(rng, t, k, kc.d, kc.dmin, xs, extra);
      failures += compare_tile("avx512", t, k, m, kc.avx512, {kc.avx2_tile, kc.avx2_row}, kc.scalar);
    }
  }
  std::printf("ok avx512 k-quant tiles\n");
  return failures;
}
#endif

#if defined(MM_HAVE_AVX2_KERNELS)
// The prefill block attention (attention_blocks: avx2::attend_block, and
// avx512::attend_block where the CPU has the level) against a scalar softmax
// attention in double over the same widened keys and values: random blocks of
// nq = 1..16 queries (1..32 for the AVX-512 kernel), head_dim 48 (f16: a 16-column tail), 64, 128, 256, f16 and
// q8_0 caches (other KV heads between rows), causal limits per query (a GQA
// group's rows, or anything), sliding windows (kv_begin > 0), ring caches that
// wrap, softcap on and off, score gaps past exp's range. Tolerance 1e-4 relative (the kernels' exp and tanh
// are polynomial; sums in float). The AVX-512 kernel's scores and value sums run
// the AVX2 one's float operations in the same order, so its outputs must also
// have the AVX2 outputs' bits.
using AttendFn = void (*)(const AttnBlock&);
int check_attend_block(const char* isa, AttendFn fn, AttendFn bits_of, int max_q) {
  std::mt19937 rng(2024);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  int failures = 0, cases = 0;
  for (int d : {48, 64, 128, 256})
    for (bool q8 : {false, true})
      for (int rep = 0; rep < 24; rep++) {
        if (q8 && d % QK8_0 != 0) continue;
        const int kind = rep % 4;  // 0 causal group rows, 1 sliding window, 2 ring cache, 3 arbitrary limits
        const int g = std::vector<int>{1, 2, 3, 4, 8, 16}[rng() % 6];
        const int rows = 1 + static_cast<int>(rng() % std::max(1, max_q / g));
        const int nq = kind == 3 ? 1 + static_cast<int>(rng() % max_q) : g * rows;
        const int64_t past = static_cast<int64_t>(rng() % 300);
        const int64_t window = kind == 1 || kind == 2 ? 5 + static_cast<int64_t>(rng() % 100) : 0;
        const int64_t ring = kind == 2 ? window + rows + static_cast<int64_t>(rng() % 8) : 0;
        const float softcap = rep % 3 == 1 ? 2.0f + 20.0f * std::fabs(u(rng)) : 0.0f;
        std::vector<int64_t> n_kv(nq), kv_begin(nq);
        for (int i = 0; i < nq; i++) {
          if (kind == 3) {
            n_kv[i] = 1 + static_cast<int64_t>(rng() % 330);
            kv_begin[i] = rng() % 2 ? static_cast<int64_t>(rng() % n_kv[i]) : 0;
          } else {
            n_kv[i] = past + i / g + 1;
            kv_begin[i] = window > 0 ? std::max<int64_t>(0, n_kv[i] - window) : 0;
          }
        }
        const int64_t n_max = *std::max_element(n_kv.begin(), n_kv.end());
        const int64_t cache_rows = ring > 0 ? ring : n_max;
        const size_t hb = q8 ? row_bytes(DType::Q8_0, d) : 2 * static_cast<size_t>(d), stride = 3 * hb + 2;
        std::vector<uint8_t> kc(stride * cache_rows + hb), vc(kc.size());
        std::vector<float> kf(static_cast<size_t>(cache_rows) * d), vf(kf.size()), x(d);
        for (auto* cache : {&kc, &vc}) {
          std::vector<float>& wide = cache == &kc ? kf : vf;
          for (int64_t r = 0; r < cache_rows; r++) {
            uint8_t* row = cache->data() + stride * r + hb;  // the block's KV head is the second of the row
            for (auto& v : x) v = 2 * u(rng);
            if (q8) {
              quantize_row(DType::Q8_0, x.data(), row, d);
              dequantize_row(DType::Q8_0, row, wide.data() + r * d, d);
            } else {
              for (int c = 0; c < d; c++) {
                reinterpret_cast<uint16_t*>(row)[c] = fp32_to_fp16(x[c]);
                wide[r * d + c] = fp16_to_fp32(fp32_to_fp16(x[c]));
              }
            }
          }
        }
        std::vector<float> qs(static_cast<size_t>(nq) * d), outs(qs.size()), outs2(qs.size());
        // Every fifth block's queries large: score gaps past exp's +-126 and +-192 (0 weights).
        const float qscale = rep % 5 == 4 ? 300.0f : 1.0f;
        for (auto& v : qs) v = qscale * u(rng);
        std::vector<const float*> qp(nq);
        std::vector<float*> op(nq), op2(nq);
        for (int i = 0; i < nq; i++) {
          qp[i] = qs.data() + static_cast<size_t>(i) * d;
          op[i] = outs.data() + static_cast<size_t>(i) * d;
          op2[i] = outs2.data() + static_cast<size_t>(i) * d;
        }
        std::vector<float> scratch(attn_block_scratch_floats(nq, d), NAN);
        AttnBlock b;
        b.nq = nq;
        b.d = d;
        b.scale = 1.0f / std::sqrt(static_cast<float>(d));
        b.softcap = softcap;
        b.q = qp.data();
        b.n_kv = n_kv.data();
        b.kv_begin = kv_begin.data();
        b.ring = ring;
        b.q8 = q8;
        b.k = kc.data() + hb;
        b.k_stride = stride;
        b.v = vc.data() + hb;
        b.v_stride = stride;
        b.out = op.data();
        b.scratch = scratch.data();
        fn(b);
        cases++;
        bool bad = false;
        for (int i = 0; i < nq && !bad; i++) {
          std::vector<double> w;
          double mx = -INFINITY, den = 0;
          for (int64_t j = kv_begin[i]; j < n_kv[i]; j++) {
            const float* kr = kf.data() + (ring > 0 ? j % ring : j) * d;
            double s = 0;
            for (int c = 0; c < d; c++) s += static_cast<double>(qp[i][c]) * kr[c];
            s *= b.scale;
            if (softcap > 0) s = softcap * std::tanh(s / softcap);
            w.push_back(s);
            mx = std::max(mx, s);
          }
          for (auto& s : w) den += (s = std::exp(s - mx));
          for (int c = 0; c < d && !bad; c++) {
            double want = 0;
            for (int64_t j = kv_begin[i]; j < n_kv[i]; j++)
              want += w[j - kv_begin[i]] * vf[(ring > 0 ? j % ring : j) * d + c];
            want /= den;
            const float got = op[i][c];
            if (!(std::fabs(got - want) <= 1e-4 * (1 + std::fabs(want)))) {
              std::printf("FAIL %s attend_block d=%d %s nq=%d kind=%d softcap=%g query %d value %d: %.9g want %.9g\n",
                          isa, d, q8 ? "q8_0" : "f16", nq, kind, softcap, i, c, got, want);
              failures++;
              bad = true;
            }
          }
        }
        if (bits_of && !bad) {
          b.out = op2.data();
          bits_of(b);
          if (std::memcmp(outs.data(), outs2.data(), outs.size() * sizeof(float)) != 0) {
            std::printf("FAIL %s attend_block d=%d %s nq=%d kind=%d: bits differ from the AVX2 kernel's\n", isa, d,
                        q8 ? "q8_0" : "f16", nq, kind);
            failures++;
          }
        }
      }
  std::printf("ok %s attend block (%d blocks)\n", isa, cases);
  return failures;
}
#endif

}  // namespace

int main() {
  int failures = 0;
#if defined(__aarch64__)
#if defined(__ARM_FEATURE_DOTPROD)
  const char* isa = "neon+dotprod";  // every file built with sdot
#else
  const char* isa = "neon";
#endif
  failures += check(isa, neon::kernels());
  failures += check_attention_rows(isa, neon::vec_ops());
  failures += check_vec_ops(isa, neon::vec_ops(), true);
#if defined(MM_HAVE_NEON_PANELS)
  // binding.gyp's layout: plain Armv8 and the sdot q8_0 scores in their own file,
  // chosen where the CPU reports dotprod (as vec_ops() does).
  if (cpu_use_neon_dotprod())
    failures += check_attention_rows("neon-dotprod", neon::vec_ops_dotprod());
  else
    std::printf("skip neon-dotprod attention rows: no dotprod\n");
#endif
#elif defined(MM_HAVE_AVX2_KERNELS)
  if (cpu_use_avx2()) {
    failures += check("avx2", avx2::kernels());
    failures += check_attention_rows("avx2", avx2::vec_ops());
    failures += check_vec_ops("avx2", avx2::vec_ops(), false);
    failures += check_attend_block("avx2", avx2::attend_block, nullptr, kAttnMaxQueries);
    failures += check_avx2_k_tiles();
  } else {
    std::printf("skip: this CPU has no AVX2\n");
  }
#if defined(MM_HAVE_AVX512_KERNELS)
  // The f16 attention rows' 512-bit kernels (the rest of that table is AVX2's).
  if (cpu_use_avx512()) {
    failures += check_attention_rows("avx512", avx512::vec_ops());
    // The sampler's 16-lane passes: against the scalar reference, and the AVX2 passes' bits.
    failures += check_vec_ops("avx512", avx512::vec_ops(), false);
    failures += check_sampler_bits(avx2::vec_ops(), avx512::vec_ops());
    failures += check_softmax_bits(avx2::vec_ops(), avx512::vec_ops());
    failures += check_x8_tiles();
    failures += check_k_tiles();
  } else {
    std::printf("skip avx512 attention rows: this CPU has no AVX-512\n");
  }
  // The prefill block attention's 512-bit kernel.
  if (cpu_use_avx512())
    failures += check_attend_block("avx512", avx512::attend_block, avx2::attend_block, kAttnMaxQueriesWide);
  else
    std::printf("skip avx512 attend block: this CPU has no AVX-512\n");
#endif
#endif
  std::printf("%d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
