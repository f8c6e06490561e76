// The arm64 q8_0 attention scores with sdot (attention_rows_neon.h's kernel
// built with +dotprod), in the mm_cpu_neon_dotprod library with the sdot
// panels; VecOps uses it only where the CPU reports dotprod
// (cpu_use_neon_dotprod), so the rest of the addon stays plain Armv8.
#if defined(MM_HAVE_NEON_PANELS)
#if !defined(__ARM_FEATURE_DOTPROD)
#error "attention_rows_neon_dotprod.cc is built with -march=armv8.2-a+dotprod"
#endif
#include "attention_rows.h"
#include "attention_rows_neon.h"

namespace mm {
namespace neon_dotprod {

void scores_q8_0(int64_t n, const uint8_t* rows, size_t stride, int d, const uint8_t* qq, size_t qb, int g, float* out,
                 int64_t os, ptrdiff_t pf) {
  neon::scores_q8_0_rows(n, rows, stride, d, qq, qb, g, out, os, pf);
}

}  // namespace neon_dotprod
}  // namespace mm
#endif
