// Software prefetch of a byte range into L2 (portable: GCC/Clang builtins, MSVC intrinsics).
#pragma once
#include <cstddef>
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#endif

namespace mm {

// Prefetches [p, p + bytes) into L2, one 64-byte line at a time. The empty
// volatile asm keeps the loop: one whose only effect is prefetching may
// otherwise be deleted (C++ forward progress; GCC's -ffinite-loops does).
inline void prefetch_l2(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (size_t b = 0; b < bytes; b += 64) {
#if defined(_MSC_VER) && !defined(__clang__)
#if defined(_M_ARM64)
    __prefetch(c + b);
#else
    _mm_prefetch(c + b, _MM_HINT_T1);
#endif
#else
    __builtin_prefetch(c + b, 0, 2);
    __asm__ volatile("");
#endif
  }
}

}  // namespace mm
