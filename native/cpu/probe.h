// Hardware probes for the kernel benchmark: measured read bandwidth and peak
// f32 FMA throughput, so each kernel's result can be shown as a fraction of
// what the machine can do.
#pragma once
#include <cstddef>

namespace mm {

// GB/s of `threads` threads summing a `bytes` buffer (best of a few passes).
// huge_pages false: the buffer in 4 KB pages (as a file mapping reads), else in
// transparent huge pages where the system gives them (Buffer::allocate's).
double probe_read_bandwidth(size_t bytes, int threads, bool huge_pages = true);
// GFLOP/s of `threads` threads running independent FMA chains on the best
// available vector unit.
double probe_peak_gflops(int threads);

namespace avx2 {
double fma_loop(long iterations);  // returns a value to defeat dead-code elimination
}
namespace avx512 {
double fma_loop(long iterations);  // 16-wide (probe_avx512.cc)
}

}  // namespace mm
