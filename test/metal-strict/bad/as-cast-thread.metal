// expect: an address-space cast to
#include <metal_stdlib>
using namespace metal;
inline float first(thread const float * v) { return v[0]; }
kernel void k(device float * dst [[buffer(0)]], uint t [[thread_position_in_grid]]) {
  dst[t] = first((thread const float *)dst);  // device memory through a thread pointer
}
