// expect: a pointer or reference to a function
#include <metal_stdlib>
using namespace metal;
inline float twice(float x) { return 2.0f * x; }
kernel void k(device float * dst [[buffer(0)]], uint t [[thread_position_in_grid]]) {
  float (*f)(float) = twice;
  dst[t] = f(dst[t]);
}
