// What the binding may ask of the machine and the CPU backend's kernel levels
// without including native/cpu (declared here, implemented in
// native/cpu/host.cc), as create_backend is declared in backend.h.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mm {

struct HostInfo {
  int physical_cores = 1;
  int logical_cores = 1;
  std::string simd;                   // the CPU kernel level in use: "avx512", "avx-vnni", "avx2", "neon", "scalar"
  std::vector<std::string> features;  // e.g. "avx2", "fma", "f16c", "avx-vnni", "avx512vnni"
};
HostInfo host_info();

// For tests and benchmarks: "scalar" forces the portable CPU kernels, "avx2"
// caps x86 at plain AVX2, "avx-vnni" below AVX-512, "auto" restores. False for
// any other mode.
bool set_cpu_kernel_level(const std::string& mode);

// The kernel benchmark's yardsticks: GB/s of `threads` threads reading
// `bytes`, and peak f32 FMA GFLOP/s.
double measure_read_bandwidth(size_t bytes, int threads, bool huge_pages = true);
double measure_peak_gflops(int threads);

// Token sampling over one row of logits [n] (native/cpu/sampler.cc), O(n):
// top-k (0: off) -> top-p (1: off) -> min-p (0: off) -> temperature -> the
// candidate where the running probability in rank order passes r in [0, 1).
// Temperature <= 0 is argmax (the first on ties). NaN logits are never drawn.
struct SampleParams {
  int64_t top_k = 0;
  double top_p = 1, min_p = 0, temperature = 1;
};
// Runs fn(chunk) once for every chunk in [0, n_chunks) and returns when all are
// done: on idle threads of a backend where it has them, else on the caller.
using ParallelFor = std::function<void(int64_t n_chunks, const std::function<void(int64_t chunk)>& fn)>;
// `par` (may be null: the caller alone) runs the row's passes on more threads;
// the row is cut into the same spans whatever runs them, so the draw is the
// same on any number of threads.
int32_t sample_logits(const float* logits, int64_t n, const SampleParams& p, double r,
                      const ParallelFor* par = nullptr);
int32_t argmax_logits(const float* logits, int64_t n, const ParallelFor* par = nullptr);

}  // namespace mm
