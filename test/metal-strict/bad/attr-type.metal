// expect: \[\[thread_index_in_simdgroup\]\] takes uint or ushort
#include <metal_stdlib>
using namespace metal;
kernel void k(device float * dst [[buffer(0)]], float lane [[thread_index_in_simdgroup]],
              uint t [[thread_position_in_grid]]) {
  dst[t] = lane;
}
