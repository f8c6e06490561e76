// expect: a function used as a pointer
#include <metal_stdlib>
using namespace metal;
inline float twice(float x) { return 2.0f * x; }
template <typename F>
inline float apply(F f, float x) { return f(x); }
kernel void k(device float * dst [[buffer(0)]], uint t [[thread_position_in_grid]]) {
  dst[t] = apply(twice, dst[t]);  // decays to a pointer inside a template argument
}
