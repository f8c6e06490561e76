// What the binding may ask of the machine and the CPU backend's kernel levels
// without including native/cpu (declared here, implemented in
// native/cpu/host.cc), as create_backend is declared in backend.h.
#pragma once
#include <cstddef>
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
double measure_read_bandwidth(size_t bytes, int threads);
double measure_peak_gflops(int threads);

}  // namespace mm
