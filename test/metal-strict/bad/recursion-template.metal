// expect: recursion \(.*ping.*pong.*\)
#include <metal_stdlib>
using namespace metal;
template <typename T>
T pong(T n);
template <typename T>
T ping(T n) { return n > T(0) ? pong(n - T(1)) : n; }
template <typename T>
T pong(T n) { return n > T(0) ? ping(n / T(2)) : n; }
kernel void k(device float * dst [[buffer(0)]], uint t [[thread_position_in_grid]]) {
  dst[t] = ping(dst[t]);  // mutual recursion through two function templates
}
