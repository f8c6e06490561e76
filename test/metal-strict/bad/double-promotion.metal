// expect: implicit conversion increases floating-point precision
#include <metal_stdlib>
using namespace metal;
kernel void k(device float * dst [[buffer(0)]], uint t [[thread_position_in_grid]]) {
  dst[t] = dst[t] * 0.5;  // computed in double: the literal needs an f
}
