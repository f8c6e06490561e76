// expect: recursion \(sum_to -> sum_to\)
#include <metal_stdlib>
using namespace metal;
inline float sum_to(int n) { return n <= 0 ? 0.0f : float(n) + sum_to(n - 1); }
kernel void k(device float * dst [[buffer(0)]], uint t [[thread_position_in_grid]]) {
  dst[t] = sum_to(int(t));
}
