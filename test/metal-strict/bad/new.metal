// expect: MSL_forbids_new
#include <metal_stdlib>
using namespace metal;
kernel void k(device float * dst [[buffer(0)]], uint t [[thread_position_in_grid]]) {
  float * p = new float[4];
  dst[t] = p[0];
}
