// The AVX2 half of the peak-FLOP probe (compiled with -mavx2 -mfma).
#include <immintrin.h>

#include "probe.h"

namespace mm {
namespace avx2 {

double fma_loop(long iterations) {
  __m256 acc[10];
  for (int k = 0; k < 10; k++) acc[k] = _mm256_set1_ps(static_cast<float>(k));
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (long i = 0; i < iterations; i++)
    for (int k = 0; k < 10; k++) acc[k] = _mm256_fmadd_ps(acc[k], m, c);
  __m256 s = acc[0];
  for (int k = 1; k < 10; k++) s = _mm256_add_ps(s, acc[k]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
}

}  // namespace avx2
}  // namespace mm
