// expect: outside a kernel signature
#include <metal_stdlib>
using namespace metal;
struct Args {
  int n [[buffer(0)]];
};
kernel void k(device float * dst [[buffer(0)]], constant Args & a [[buffer(1)]], uint t [[thread_position_in_grid]]) {
  dst[t] = float(a.n);
}
