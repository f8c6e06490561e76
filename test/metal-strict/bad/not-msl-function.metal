// expect: use of undeclared identifier 'expf'
#include <metal_stdlib>
using namespace metal;
kernel void k(device float * dst [[buffer(0)]], uint t [[thread_position_in_grid]]) {
  dst[t] = expf(dst[t]);  // C library name, not MSL
}
