// Standalone check of the arm64 prefill panel kernels (gemm_neon.h) against
// the scalar row kernels: every weight type the panels cover, at each level
// the CPU reports (sdot, i8mm), on shapes that leave partial panels (rows not a
// multiple of 8) and partial column blocks, with and without a bias.
// Cross-compiled and run under qemu-aarch64 by test/native-simd.test.ts.
// Prints the levels the run-time detection found ("levels: ..."), the kernel
// family in use ("simd ..."), "ok <level> <type>" per type, then
// "<n> failures"; exit code 0 = all pass.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "../../kernels/quant_blocks.h"
#include "../core/dtype.h"
#include "../core/quants.h"
#include "../cpu/cpu_features.h"
#include "../cpu/gemm_panel.h"
#include "../cpu/vec_dot.h"
#include "kernel_cases.h"

using namespace mm;
using mm::kernel_test::Case;
using mm::kernel_test::kCases;
using mm::kernel_test::random_weights;

namespace {

// One matmul: M weight rows x N activation rows of K values through the panels
// (pack per panel of pk.rows, as matmul.cc does), against the scalar kernel.
int check_shape(const char* level, const PanelKernels& pk, const Case& c, int64_t M, int64_t N, int64_t K, bool bias,
                std::mt19937& rng) {
  const DotKernels& ref = scalar::kernels();
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  const size_t rb = row_bytes(c.type, K);
  const size_t rs = rb + 8;  // rows a little apart, as views of larger tensors are
  std::vector<uint8_t> w(rs * M);
  for (int64_t m = 0; m < M; m++) {
    const std::vector<uint8_t> r = random_weights(c.type, K, rng);
    std::memcpy(w.data() + rs * m, r.data(), rb);
  }
  std::vector<float> x(N * K), bv(M);
  for (auto& v : x) v = u(rng);
  for (auto& v : bv) v = u(rng);
  // Activations as the row kernels read them, and as the panels do.
  const bool float_act = c.act == DType::F32;
  const size_t qb = float_act ? 0 : row_bytes(c.act, K);
  const size_t as = float_act ? sizeof(float) * K : panel_act_row_bytes(K) + 4;
  std::vector<uint8_t> q(qb * N), laid(as * N);
  for (int64_t n = 0; n < N; n++) {
    if (float_act) {
      std::memcpy(laid.data() + as * n, x.data() + K * n, sizeof(float) * K);
      continue;
    }
    quantize_row(c.act, x.data() + K * n, q.data() + qb * n, K);
    panel_layout_act_row(c.type, K, q.data() + qb * n, laid.data() + as * n);
  }
  const size_t os = M + 3;
  std::vector<float> out(os * N, NAN);
  std::vector<uint8_t> panel(pk.panel_bytes(c.type, K));
  for (int64_t m0 = 0; m0 < M; m0 += pk.rows) {
    const int nr = static_cast<int>(std::min<int64_t>(pk.rows, M - m0));
    std::fill(panel.begin(), panel.end(), 0xA5);  // stale bytes from another panel must not matter
    pk.pack(c.type, K, w.data() + rs * m0, rs, nr, panel.data());
    pk.gemm(c.type, K, panel.data(), nr, laid.data(), as, N, out.data() + m0, os, bias ? bv.data() + m0 : nullptr);
  }
  int failures = 0;
  std::vector<float> wd(K);
  for (int64_t m = 0; m < M; m++) {
    dequantize_row(c.type, w.data() + rs * m, wd.data(), K);
    for (int64_t n = 0; n < N; n++) {
      const void* a = float_act ? static_cast<const void*>(x.data() + K * n) : q.data() + qb * n;
      const float want = (ref.*(c.fn))(K, w.data() + rs * m, a) + (bias ? bv[m] : 0.0f);
      const float got = out[os * n + m];
      // Integer block sums are exact in both; only float summation order differs.
      double mag = bias ? std::fabs(bv[m]) : 0;
      for (int64_t i = 0; i < K; i++) mag += std::fabs(wd[i] * x[K * n + i]);
      if (!(std::fabs(got - want) <= 1e-5 * mag + 1e-6)) {
        if (failures < 5)
          std::printf("FAIL %s %s M=%lld N=%lld K=%lld row %lld col %lld: panel %.9g scalar %.9g\n", level, c.name,
                      static_cast<long long>(M), static_cast<long long>(N), static_cast<long long>(K),
                      static_cast<long long>(m), static_cast<long long>(n), got, want);
        failures++;
      }
    }
    // Columns past M in each output row are left alone.
  }
  for (int64_t n = 0; n < N; n++)
    for (size_t m = M; m < os; m++)
      if (!std::isnan(out[os * n + m])) {
        std::printf("FAIL %s %s: wrote past row %lld\n", level, c.name, static_cast<long long>(M));
        return failures + 1;
      }
  return failures;
}

int check(const char* level, const PanelKernels& pk) {
  std::mt19937 rng(4321);
  int failures = 0;
  for (const Case& c : kCases) {
    const bool super = traits(c.type).block_size == QK_K;
    const bool flt = c.act == DType::F32;
    int64_t ks[2] = {super ? 256 : 96, super ? 512 : 320};
    if (flt) ks[0] = 37, ks[1] = 130;  // float panels take any k
    int fails = 0;
    for (const int64_t K : ks) {
      if (!pk.supports(c.type, K)) {
        std::printf("FAIL %s %s: no panel kernel for k=%lld\n", level, c.name, static_cast<long long>(K));
        fails++;
        continue;
      }
      // (rows, activation rows): full and partial panels, partial column blocks
      for (const auto& [M, N] : {std::pair<int64_t, int64_t>{8, 8}, {13, 1}, {21, 7}, {3, 11}, {16, 13}})
        fails += check_shape(level, pk, c, M, N, K, (M + N) % 2 == 1, rng);
    }
    if (fails == 0) std::printf("ok %s %s\n", level, c.name);
    failures += fails;
  }
  return failures;
}

}  // namespace

int main() {
  const CpuFeatures& f = cpu_features();
  std::printf("levels:%s%s\n", f.dotprod ? " dotprod" : "", f.i8mm ? " i8mm" : "");
  std::printf("simd %s\n", cpu_simd_name());
  int failures = 0;
#if defined(MM_HAVE_NEON_PANELS)
  if (f.dotprod)
    failures += check("neon-dotprod", neon::panel_kernels_dotprod());
  else
    std::printf("skip neon-dotprod: the CPU does not report dotprod\n");
  if (f.i8mm)
    failures += check("neon-i8mm", neon::panel_kernels_i8mm());
  else
    std::printf("skip neon-i8mm: the CPU does not report i8mm\n");
#else
  std::printf("skip: built without MM_HAVE_NEON_PANELS\n");
#endif
  std::printf("%d failures\n", failures);
  return failures == 0 ? 0 : 1;
}
