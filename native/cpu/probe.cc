#include "probe.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#if !defined(_WIN32)
#include <sys/mman.h>
#endif

#include "../core/buffer.h"
#include "cpu_features.h"

namespace mm {

namespace {
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

uint64_t sum_words(const uint64_t* p, size_t n) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) a += p[i], b += p[i + 1], c += p[i + 2], d += p[i + 3];
  for (; i < n; i++) a += p[i];
  return a + b + c + d;
}

template <typename F>
double timed_parallel(int threads, F&& fn) {
  std::vector<std::thread> ts;
  const double t0 = now();
  for (int i = 1; i < threads; i++) ts.emplace_back(fn, i);
  fn(0);
  for (auto& t : ts) t.join();
  return now() - t0;
}

// Portable fallback: 8 independent multiply-add chains the compiler can vectorize.
double scalar_fma_loop(long iters) {
  float a[16], m = 0.999999f, c = 1e-7f;
  for (int k = 0; k < 16; k++) a[k] = static_cast<float>(k);
  for (long i = 0; i < iters; i++)
    for (int k = 0; k < 16; k++) a[k] = a[k] * m + c;
  double s = 0;
  for (float v : a) s += v;
  return s;
}
}  // namespace

double probe_read_bandwidth(size_t bytes, int threads, bool huge_pages) {
  threads = std::max(1, threads);
  BufferPtr buf = Buffer::allocate(bytes);
  auto* words = reinterpret_cast<uint64_t*>(buf->host_data());
#if defined(MADV_NOHUGEPAGE)
  // Before the first touch: 4 KB pages, as a file mapping gets.
  if (!huge_pages) madvise(words, bytes, MADV_NOHUGEPAGE);
#else
  (void)huge_pages;
#endif
  const size_t n = bytes / 8;
  for (size_t i = 0; i < n; i += 512) words[i] = i;  // touch every page
  std::vector<uint64_t> sink(threads);
  double best = 1e30;
  for (int pass = 0; pass < 4; pass++) {
    const double t = timed_parallel(threads, [&](int ith) {
      const size_t per = n / threads;
      sink[ith] += sum_words(words + per * ith, ith == threads - 1 ? n - per * ith : per);
    });
    best = std::min(best, t);
  }
  volatile uint64_t keep = 0;
  for (uint64_t s : sink) keep = keep + s;
  (void)keep;
  return static_cast<double>(bytes) / best / 1e9;
}

double probe_peak_gflops(int threads) {
  threads = std::max(1, threads);
  const long iters = 20'000'000;
  std::vector<double> sink(threads);
#if defined(MM_HAVE_AVX512_KERNELS)
  if (cpu_use_avx512()) {
    // 10 independent 16-wide FMA chains: 320 flops per iteration.
    const double t = timed_parallel(threads, [&](int ith) { sink[ith] = avx512::fma_loop(iters); });
    return 320.0 * iters * threads / t / 1e9;
  }
#endif
#if defined(MM_HAVE_AVX2_KERNELS)
  if (cpu_use_avx2()) {
    // 10 independent 8-wide FMA chains: 160 flops per iteration.
    const double t = timed_parallel(threads, [&](int ith) { sink[ith] = avx2::fma_loop(iters); });
    return 160.0 * iters * threads / t / 1e9;
  }
#endif
  const double t = timed_parallel(threads, [&](int ith) { sink[ith] = scalar_fma_loop(iters / 4); });
  return 32.0 * (iters / 4) * threads / t / 1e9;
}

}  // namespace mm
