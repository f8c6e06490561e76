// expect: no matching function for call to .simdgroup_load.
#include <metal_stdlib>
using namespace metal;
kernel void k(device float * dst [[buffer(0)]], threadgroup float * shmem [[threadgroup(0)]]) {
  simdgroup_half8x8 m;
  simdgroup_load(m, shmem, 8);  // a half matrix from float memory
  simdgroup_store(m, (threadgroup half *)shmem, 8);
}
