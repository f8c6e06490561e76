// What this CPU can do, probed once at run time (the AVX2 kernels are compiled
// into every x86-64 build and chosen only when the CPU has AVX2+FMA+F16C).
#pragma once
#include <string>
#include <vector>

namespace mm {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;  // x86-64
  bool avx_vnni = false;                         // 256-bit vpdpbusd (AVX-VNNI)
  bool avx512vnni = false;                       // AVX-512 F/BW/VL/VNNI with OS-enabled zmm state (prefill panels)
  bool neon = false, dotprod = false;            // arm64 (dotprod: sdot / udot)
  bool i8mm = false;                             // arm64 int8 matrix multiply (smmla)
  int physical_cores = 1;
  int logical_cores = 1;
  std::string simd;  // the kernel family in use (cpu_simd_name())
  std::vector<std::string> names;
};

const CpuFeatures& cpu_features();
// For tests and benchmarks: force the scalar kernels (MINIMACLLM_SIMD=scalar does the same).
void cpu_force_scalar(bool on);
// For tests and benchmarks: cap the x86 kernels at a level below what the CPU
// has: 0 = no cap, 1 = AVX2 + AVX-VNNI (no AVX-512), 2 = plain AVX2 (what a
// Zen 3 runs). MINIMACLLM_SIMD=avx-vnni / avx2 does the same;
// MINIMACLLM_NO_VNNI=1 is the older spelling of avx2.
void cpu_cap_x86(int level);
bool cpu_use_avx2();
bool cpu_use_avx_vnni();  // AVX-VNNI tile and panel variants
bool cpu_use_avx512();    // the AVX-512 VNNI prefill panels (gemm_panel.h)
// For tests and benchmarks: cap the arm64 kernels at a level below what the
// CPU has: 0 = no cap, 1 = sdot panels (no i8mm), 2 = NEON row kernels only
// (no panels). MINIMACLLM_SIMD=neon-dotprod / neon does the same.
void cpu_cap_arm(int level);
// The kernel family in use: "avx512", "avx-vnni", "avx2", "neon-i8mm",
// "neon-dotprod", "neon" or "scalar".
const char* cpu_simd_name();
bool cpu_use_neon();
bool cpu_use_neon_dotprod();  // the arm64 sdot prefill panels (gemm_neon_dotprod.cc)
bool cpu_use_neon_i8mm();     // the arm64 smmla prefill panels (gemm_neon_i8mm.cc)

}  // namespace mm
