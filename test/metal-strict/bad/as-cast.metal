// expect: an address-space cast to
#include <metal_stdlib>
using namespace metal;
kernel void k(device float * dst [[buffer(0)]], threadgroup char * shmem [[threadgroup(0)]],
              uint t [[thread_position_in_threadgroup]]) {
  device float * p = (device float *)shmem;  // an explicit cast between address spaces
  dst[t] = p[t];
}
