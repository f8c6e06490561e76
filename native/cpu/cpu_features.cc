#include "cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <utility>

#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif
#if defined(_MSC_VER)
#include <intrin.h>
#endif
#if defined(__linux__) && defined(__aarch64__)
#include <sys/auxv.h>
#endif

namespace mm {

namespace {

std::atomic<bool> g_force_scalar{false};
std::atomic<int> g_x86_cap{0};
std::atomic<int> g_arm_cap{0};

#if defined(__APPLE__) && defined(__aarch64__)
bool sysctl_flag(const char* name) {
  int v = 0;
  size_t len = sizeof(v);
  return sysctlbyname(name, &v, &len, nullptr, 0) == 0 && v != 0;
}
#endif

int count_physical_cores(int logical) {
#if defined(__APPLE__)
  int n = 0;
  size_t len = sizeof(n);
  if (sysctlbyname("hw.perflevel0.physicalcpu", &n, &len, nullptr, 0) == 0 && n > 0) return n;  // performance cores
  if (sysctlbyname("hw.physicalcpu", &n, &len, nullptr, 0) == 0 && n > 0) return n;
  return logical;
#elif defined(__linux__)
  // Distinct (package, core) pairs; SMT siblings share a pair.
  std::set<std::pair<std::string, std::string> > cores;
  for (int cpu = 0; cpu < logical; cpu++) {
    const std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    std::ifstream pk(base + "physical_package_id"), co(base + "core_id");
    std::string p, c;
    if (!(pk >> p) || !(co >> c)) return logical;
    cores.emplace(p, c);
  }
  return cores.empty() ? logical : static_cast<int>(cores.size());
#else
  return logical;
#endif
}

CpuFeatures probe() {
  CpuFeatures f;
  unsigned hc = std::thread::hardware_concurrency();
  f.logical_cores = hc ? static_cast<int>(hc) : 1;
  f.physical_cores = count_physical_cores(f.logical_cores);
  if (f.physical_cores < 1) f.physical_cores = 1;
#if defined(__x86_64__) || defined(_M_X64)
#if defined(_MSC_VER)
  int r[4];
  __cpuid(r, 1);
  f.fma = (r[2] >> 12) & 1;
  f.f16c = (r[2] >> 29) & 1;
  bool osxsave = (r[2] >> 27) & 1;
  __cpuidex(r, 7, 0);
  f.avx2 = ((r[1] >> 5) & 1) && osxsave && ((_xgetbv(0) & 6) == 6);
#else
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.f16c = false;
  {
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    f.f16c = (c >> 29) & 1;
    const bool osxsave = (c >> 27) & 1;
    // zmm state saved by the OS: XCR0 bits 1, 2 (xmm, ymm) and 5-7 (opmask, zmm).
    unsigned xlo = 0, xhi = 0;
    if (osxsave) __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    const bool f512 = (b >> 16) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1, vnni = (c >> 11) & 1;
    f.avx512vnni = osxsave && (xlo & 0xE6) == 0xE6 && f512 && bw && vl && vnni;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(1));
    f.avx_vnni = osxsave && (xlo & 6) == 6 && ((a >> 4) & 1);
  }
#endif
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
  f.neon = true;
#if defined(__linux__) && defined(__aarch64__)
  // What the kernel reports (bit numbers from the arm64 uapi hwcap.h:
  // HWCAP_ASIMDDP, HWCAP2_I8MM; the named constants need newer headers).
  const unsigned long hwcap = getauxval(AT_HWCAP), hwcap2 = getauxval(AT_HWCAP2);
  f.dotprod = (hwcap >> 20) & 1;
  f.i8mm = (hwcap2 >> 13) & 1;
#elif defined(__APPLE__)
  f.dotprod = sysctl_flag("hw.optional.arm.FEAT_DotProd");
  f.i8mm = sysctl_flag("hw.optional.arm.FEAT_I8MM");
#elif defined(__ARM_FEATURE_DOTPROD)
  f.dotprod = true;  // what the compiler was told the target has
#endif
#endif
  if (f.avx2) f.names.push_back("avx2");
  if (f.fma) f.names.push_back("fma");
  if (f.f16c) f.names.push_back("f16c");
  if (f.avx_vnni) f.names.push_back("avx-vnni");
  if (f.avx512vnni) f.names.push_back("avx512vnni");
  if (f.neon) f.names.push_back("neon");
  if (f.dotprod) f.names.push_back("dotprod");
  if (f.i8mm) f.names.push_back("i8mm");
  const char* env = std::getenv("MINIMACLLM_SIMD");
  if (env && std::strcmp(env, "scalar") == 0) g_force_scalar = true;
  if (env && std::strcmp(env, "avx-vnni") == 0) g_x86_cap = 1;
  if (env && std::strcmp(env, "avx2") == 0) g_x86_cap = 2;
  if (env && std::strcmp(env, "neon-dotprod") == 0) g_arm_cap = 1;
  if (env && std::strcmp(env, "neon") == 0) g_arm_cap = 2;
  const char* no_vnni = std::getenv("MINIMACLLM_NO_VNNI");
  if (no_vnni && std::strcmp(no_vnni, "1") == 0) g_x86_cap = 2;
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = probe();
  return f;
}

void cpu_force_scalar(bool on) { g_force_scalar = on; }
void cpu_cap_x86(int level) {
  cpu_features();  // the environment's cap first, so this call wins
  g_x86_cap = level;
}

void cpu_cap_arm(int level) {
  cpu_features();  // the environment's cap first, so this call wins
  g_arm_cap = level;
}

bool cpu_use_avx2() {
#if defined(MM_HAVE_AVX2_KERNELS)
  const CpuFeatures& f = cpu_features();
  return !g_force_scalar && f.avx2 && f.fma && f.f16c;
#else
  return false;
#endif
}

bool cpu_use_avx_vnni() { return cpu_use_avx2() && g_x86_cap < 2 && cpu_features().avx_vnni; }

bool cpu_use_avx512() {
#if defined(MM_HAVE_AVX512_KERNELS)
  return cpu_use_avx2() && g_x86_cap < 1 && cpu_features().avx512vnni;
#else
  return false;
#endif
}

// The arm64 panel levels (gemm_panel.h); i8mm implies dotprod on every CPU
// that has it (FEAT_I8MM is Armv8.6, dotprod mandatory from Armv8.4).
bool cpu_use_neon_dotprod() {
#if defined(MM_HAVE_NEON_PANELS)
  return cpu_use_neon() && g_arm_cap < 2 && cpu_features().dotprod;
#else
  return false;
#endif
}

bool cpu_use_neon_i8mm() { return cpu_use_neon_dotprod() && g_arm_cap < 1 && cpu_features().i8mm; }

const char* cpu_simd_name() {
  if (cpu_use_avx512()) return "avx512";
  if (cpu_use_avx_vnni()) return "avx-vnni";
  if (cpu_use_avx2()) return "avx2";
  if (cpu_use_neon_i8mm()) return "neon-i8mm";
  if (cpu_use_neon_dotprod()) return "neon-dotprod";
  if (cpu_use_neon()) return "neon";
  return "scalar";
}

bool cpu_use_neon() {
#if defined(__aarch64__) || defined(_M_ARM64)
  return !g_force_scalar;
#else
  return false;
#endif
}

}  // namespace mm
