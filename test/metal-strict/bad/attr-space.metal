// expect: \[\[threadgroup\]\] needs a threadgroup pointer
#include <metal_stdlib>
using namespace metal;
kernel void k(device float * dst [[buffer(0)]], device float * tmp [[threadgroup(0)]],
              uint t [[thread_position_in_grid]]) {
  dst[t] = tmp[t];
}
