// native/core/host.h for the CPU backend.
#include "../core/host.h"

#include "cpu_features.h"
#include "probe.h"

namespace mm {

HostInfo host_info() {
  const CpuFeatures& f = cpu_features();
  HostInfo h;
  h.physical_cores = f.physical_cores;
  h.logical_cores = f.logical_cores;
  h.simd = cpu_simd_name();
  h.features = f.names;
  return h;
}

bool set_cpu_kernel_level(const std::string& mode) {
  if (mode != "scalar" && mode != "avx2" && mode != "avx-vnni" && mode != "neon" && mode != "neon-dotprod" &&
      mode != "auto")
    return false;
  cpu_force_scalar(mode == "scalar");
  cpu_cap_x86(mode == "avx2" ? 2 : mode == "avx-vnni" ? 1 : 0);
  cpu_cap_arm(mode == "neon" ? 2 : mode == "neon-dotprod" ? 1 : 0);
  return true;
}

double measure_read_bandwidth(size_t bytes, int threads, bool huge_pages) {
  return probe_read_bandwidth(bytes, threads, huge_pages);
}
double measure_peak_gflops(int threads) { return probe_peak_gflops(threads); }

}  // namespace mm
