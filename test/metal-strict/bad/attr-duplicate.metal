// expect: \[\[buffer\(1\)\]\] already used
#include <metal_stdlib>
using namespace metal;
kernel void k(device float * dst [[buffer(1)]], device const float * src [[buffer(1)]],
              uint t [[thread_position_in_grid]]) {
  dst[t] = src[t];
}
