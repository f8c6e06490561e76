// Standalone check of the SIMD dot-product kernels against the scalar ones,
// for every weight type, on random blocks. Built for arm64 and run under
// qemu-aarch64 by test/native-simd.test.ts (the NEON paths: Apple-silicon CPUs
// and Linux arm64), and natively for the AVX2 paths. Exit code 0 = all pass.
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "../core/dtype.h"
#include "../../kernels/quant_blocks.h"
#include "../cpu/cpu_features.h"
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

#if defined(MM_HAVE_AVX2_KERNELS)
// The attention's q8_0 value accumulation (a q8_0 KV cache) against the scalar one
// (arm64 has no attention vector ops of its own: it runs the scalar ones):
// rows of d / 32 blocks `stride` bytes apart, acc += s[j] * row j.
int check_accum_q8_0(const char* isa, const VecOps& simd) {
  std::mt19937 rng(99);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  int failures = 0;
  for (int d : {32, 64, 128, 256})
    for (int64_t n : {1, 7, 64}) {
      const size_t rb = row_bytes(DType::Q8_0, d), stride = rb + 34;  // rows of a wider cache (another head)
      std::vector<uint8_t> rows(stride * n);
      std::vector<float> x(d), s(n), want(d), got(d);
      for (int64_t j = 0; j < n; j++) {
        for (auto& v : x) v = u(rng);
        quantize_row(DType::Q8_0, x.data(), rows.data() + stride * j, d);
        s[j] = std::fabs(u(rng));
      }
      for (int c = 0; c < d; c++) want[c] = got[c] = u(rng);
      scalar::vec_ops().accum_rows_q8_0(n, s.data(), rows.data(), stride, d, want.data());
      simd.accum_rows_q8_0(n, s.data(), rows.data(), stride, d, got.data());
      for (int c = 0; c < d; c++)
        if (!(std::fabs(got[c] - want[c]) <= 1e-5f * (1 + std::fabs(want[c])))) {
          std::printf("FAIL %s accum_rows_q8_0 d=%d n=%lld c=%d: simd %.9g scalar %.9g\n", isa, d,
                      static_cast<long long>(n), c, got[c], want[c]);
          failures++;
          break;
        }
    }
  std::printf("ok %s accum_rows_q8_0\n", isa);
  return failures;
}
#endif

}  // namespace

int main() {
  int failures = 0;
#if defined(__aarch64__)
#if defined(__ARM_FEATURE_DOTPROD)
  failures += check("neon+dotprod", neon::kernels());
#else
  failures += check("neon", neon::kernels());
#endif
#elif defined(MM_HAVE_AVX2_KERNELS)
  if (cpu_use_avx2()) {
    failures += check("avx2", avx2::kernels());
    failures += check_accum_q8_0("avx2", avx2::vec_ops());
  } else {
    std::printf("skip: this CPU has no AVX2\n");
  }
#endif
  std::printf("%d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
