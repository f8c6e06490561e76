// Attention kernels over a chunk of KV cache rows for the query heads of one
// KV head (VecOps::scores_f16 / scores_q8_0 / accum_f16 / accum_q8_0; see vec_dot.h).
#pragma once
#include <cstddef>
#include <cstdint>

// The four row kernels of one ISA's namespace (the VecOps fields of the same names).
#define MM_ATTENTION_ROWS_DECLS()                                                                                      \
  void scores_f16(int64_t n, const uint8_t* rows, size_t stride, int d, const float* q, int g, float* out, int64_t os, \
                  ptrdiff_t pf);                                                                                       \
  void scores_q8_0(int64_t n, const uint8_t* rows, size_t stride, int d, const uint8_t* qq, size_t qb, int g,          \
                   float* out, int64_t os, ptrdiff_t pf);                                                              \
  void accum_f16(int64_t n, const float* s, int64_t ss, const uint8_t* rows, size_t stride, int d, int g, float* acc,  \
                 ptrdiff_t pf);                                                                                        \
  void accum_q8_0(int64_t n, const float* s, int64_t ss, const uint8_t* rows, size_t stride, int d, int g, float* acc, \
                  ptrdiff_t pf)

namespace mm {
#if defined(MM_HAVE_AVX2_KERNELS)
namespace avx2 {  // attention_rows_avx2.cc
MM_ATTENTION_ROWS_DECLS();
}  // namespace avx2
#endif
#if defined(MM_HAVE_AVX512_KERNELS)
namespace avx512 {  // attention_rows_avx512.cc
MM_ATTENTION_ROWS_DECLS();
}  // namespace avx512
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
namespace neon {  // attention_rows_neon.cc (plain Armv8)
MM_ATTENTION_ROWS_DECLS();
}  // namespace neon
#if defined(MM_HAVE_NEON_PANELS)
namespace neon_dotprod {  // attention_rows_neon_dotprod.cc (+dotprod, the sdot panels' library)
void scores_q8_0(int64_t n, const uint8_t* rows, size_t stride, int d, const uint8_t* qq, size_t qb, int g, float* out,
                 int64_t os, ptrdiff_t pf);
}  // namespace neon_dotprod
#endif
#endif
}  // namespace mm
