// expect: no matching function for call to 'simd_sum'
#include <metal_stdlib>
using namespace metal;
kernel void k(device float * dst [[buffer(0)]], uint t [[thread_position_in_grid]]) {
  const char c = char(t);
  dst[t] = float(simd_sum(c));  // SIMD-group reductions take float, half, int, uint, short, ushort
}
