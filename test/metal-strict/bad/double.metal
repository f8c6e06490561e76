// expect: MSL_forbids_double
#include <metal_stdlib>
using namespace metal;
kernel void k(device float * dst [[buffer(0)]], uint t [[thread_position_in_grid]]) {
  double acc = dst[t];
  dst[t] = float(acc * 2);
}
