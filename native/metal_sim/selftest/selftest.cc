// Self-test of the metal-sim threadgroup emulator (run by
// test/metal-emulator.test.ts, natively and, when available, under
// qemu-aarch64 for the ucontext fiber path). Prints one line per check;
// exits non-zero on the first failure.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../../core/error.h"
#include "../emulator.h"

using mm::msim::Emulator;
using mm::msim::Launch;

namespace {

struct SelfTestArgs {
  int32_t n;
  int32_t mode;
};

int failures = 0;
void check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok" : "FAIL", what.c_str());
  if (!ok) failures++;
}

Launch launch(const char* name, const SelfTestArgs& a, const float* s0, const float* s1, float* d, uint32_t groups,
              uint32_t threads, size_t shmem) {
  Launch l;
  l.kernel = mm::msim::find_kernel(name);
  if (!l.kernel) {
    std::printf("FAIL no kernel %s\n", name);
    std::exit(1);
  }
  l.args = &a;
  l.src[0] = reinterpret_cast<const char*>(s0);
  l.src[1] = reinterpret_cast<const char*>(s1);
  l.src[2] = nullptr;
  l.dst = reinterpret_cast<char*>(d);
  l.grid[0] = groups;
  l.tg[0] = threads;
  l.tg_mem = shmem;
  return l;
}

std::string fault_of(Emulator& emu, const Launch& l) {
  try {
    emu.dispatch(l);
  } catch (const mm::Error& e) {
    return e.what();
  }
  return "";
}

void reverse_ok(Emulator& emu, uint32_t groups, uint32_t threads, const std::string& what) {
  std::vector<float> src(groups * threads), dst(groups * threads, -1.0f);
  for (size_t i = 0; i < src.size(); i++) src[i] = float(i);
  SelfTestArgs a{0, 0};
  emu.dispatch(launch("st_reverse", a, src.data(), nullptr, dst.data(), groups, threads, threads * 4));
  bool ok = true;
  for (uint32_t g = 0; g < groups; g++)
    for (uint32_t t = 0; t < threads; t++) ok = ok && dst[g * threads + t] == src[g * threads + threads - 1 - t];
  check(ok, what);
}

}  // namespace

int main() {
  Emulator emu(2);
  reverse_ok(emu, 1, 64, "threadgroup_barrier orders threadgroup-memory writes before reads");
  reverse_ok(emu, 50, 256, "50 threadgroups of 256 threads on 2 OS threads");

  {
    std::vector<float> d(64 * 8);
    SelfTestArgs a{0, 0};
    emu.dispatch(launch("st_simd", a, nullptr, nullptr, d.data(), 1, 64, 0));
    bool ok = true;
    for (int t = 0; t < 64; t++) {
      const int lane = t % 32, sg = t / 32;
      auto v = [&](int l) { return float(l + 1 + 100 * sg); };
      const float* o = &d[t * 8];
      float sum = 0;
      for (int l = 0; l < 32; l++) sum += v(l);
      ok = ok && o[0] == sum && o[1] == v(31) && o[2] == v(0);
      ok = ok && o[3] == (lane + 1 < 32 ? v(lane + 1) : v(lane));
      ok = ok && o[4] == (lane >= 2 ? v(lane - 2) : v(lane));
      ok = ok && o[5] == v(lane ^ 3) && o[6] == v(5) && o[7] == 496.0f;
    }
    check(ok, "simd_sum/max/min/shuffle_down/up/xor/broadcast per simdgroup");
  }

  {
    std::vector<float> A(64), B(64), D(64);
    for (int i = 0; i < 64; i++) {
      A[i] = float((i * 7) % 11) - 5.0f;
      B[i] = float((i * 5) % 13) - 6.0f;
    }
    SelfTestArgs a{0, 0};
    emu.dispatch(launch("st_matrix", a, A.data(), B.data(), D.data(), 1, 32, 0));
    bool ok = true;
    for (int r = 0; r < 8; r++)
      for (int c = 0; c < 8; c++) {
        float want = 0;
        for (int k = 0; k < 8; k++) want += A[r * 8 + k] * (B[k * 8 + c] + B[c * 8 + k]);
        ok = ok && D[r * 8 + c] == want;
      }
    check(ok, "simdgroup_load (plain, transposed), multiply_accumulate, store");
  }

  SelfTestArgs a{0, 0};
  std::vector<float> scratch(1024);
  std::string f = fault_of(emu, launch("st_bad_barrier", a, nullptr, nullptr, scratch.data(), 2, 64, 0));
  check(f.find("threadgroup_barrier not reached") != std::string::npos,
        "a barrier skipped by some threads is an error: " + f);
  f = fault_of(emu, launch("st_divergent_simd", a, nullptr, nullptr, scratch.data(), 1, 32, 0));
  check(f.find("not reached by all 32 lanes") != std::string::npos,
        "a SIMD-group function called by half the lanes is an error: " + f);
  f = fault_of(emu, launch("st_fault", a, nullptr, nullptr, scratch.data(), 8, 64, 0));
  check(f.find("deliberate fault") != std::string::npos && f.find("st_fault") != std::string::npos,
        "a fault in one thread stops the dispatch and names the kernel: " + f);
  f = fault_of(emu, launch("st_reverse", a, scratch.data(), nullptr, scratch.data(), 1, 48, 48 * 4));
  check(f.find("multiple of 32") != std::string::npos, "threadgroup sizes must be whole simdgroups: " + f);
  reverse_ok(emu, 9, 128, "the emulator recovers after faults (abandoned fibers restart)");

  std::printf("%s\n", failures ? "SELFTEST FAILED" : "SELFTEST PASSED");
  return failures ? 1 : 0;
}
