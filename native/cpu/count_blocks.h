// Runs a register-blocked kernel whose block size is a template parameter over
// n items: blocks of kMax, then one block of the remainder, each call getting
// its size as a compile-time constant:
//   for_blocks<8>(n, [&](auto size, int64_t first) { kernel<decltype(size)::value>(...first...); });
// Header-only and in an anonymous namespace on purpose: the files that use it
// are compiled with different instruction sets (AVX2, AVX-512), and each must
// get its own copy.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace mm {
namespace {

template <typename F, int... I>
inline void call_with_size(int size, int64_t first, F& f, std::integer_sequence<int, I...>) {
  ((size == I + 1 ? (f(std::integral_constant<int, I + 1>{}, first), true) : false) || ...);
}

template <int kMax, typename F>
inline void for_blocks(int64_t n, F&& f) {
  for (int64_t first = 0; first < n; first += kMax) {
    const int size = static_cast<int>(std::min<int64_t>(kMax, n - first));
    call_with_size(size, first, f, std::make_integer_sequence<int, kMax>{});
  }
}

}  // namespace
}  // namespace mm
