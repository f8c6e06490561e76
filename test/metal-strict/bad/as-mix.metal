// expect: cannot initialize a variable of type .device float \*. with an lvalue of type .threadgroup float \*.
#include <metal_stdlib>
using namespace metal;
kernel void k(device float * dst [[buffer(0)]], threadgroup float * shmem [[threadgroup(0)]],
              uint t [[thread_position_in_threadgroup]]) {
  device float * p = shmem;  // threadgroup memory used as device memory
  p[t] = dst[t];
}
