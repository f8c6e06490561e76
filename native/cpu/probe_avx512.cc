// The AVX-512 half of the peak-FLOP probe (compiled in the avx512 library;
// called only after cpu_use_avx512()). Zen 5 and Intel's server cores run two
// 512-bit FMAs a cycle, twice what the AVX2 loop reaches there (Zen 5 VM: 220
// against 110 GFLOP/s a thread); Zen 4 splits each into two 256-bit halves and
// gives the same figure either way.
#include <immintrin.h>

#include "probe.h"

namespace mm {
namespace avx512 {

double fma_loop(long iterations) {
  __m512 acc[10];
  for (int k = 0; k < 10; k++) acc[k] = _mm512_set1_ps(static_cast<float>(k));
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (long i = 0; i < iterations; i++)
    for (int k = 0; k < 10; k++) acc[k] = _mm512_fmadd_ps(acc[k], m, c);
  __m512 s = acc[0];
  for (int k = 1; k < 10; k++) s = _mm512_add_ps(s, acc[k]);
  float out[16];
  _mm512_storeu_ps(out, s);
  return out[0] + out[15];
}

}  // namespace avx512
}  // namespace mm
