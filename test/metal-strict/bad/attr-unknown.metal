// expect: \[\[buffer_index\]\] is not an MSL attribute
#include <metal_stdlib>
using namespace metal;
kernel void k(device float * dst [[buffer_index(0)]], uint t [[thread_position_in_grid]]) {
  dst[t] = 0.0f;
}
