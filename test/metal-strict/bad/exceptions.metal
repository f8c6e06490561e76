// expect: cannot use 'throw' with exceptions disabled
#include <metal_stdlib>
using namespace metal;
kernel void k(device float * dst [[buffer(0)]], uint t [[thread_position_in_grid]]) {
  if (dst[t] < 0.0f) throw 1;
}
