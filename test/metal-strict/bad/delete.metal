// expect: MSL_forbids_delete
#include <metal_stdlib>
using namespace metal;
inline void release(thread float * p) { delete p; }
kernel void k(device float * dst [[buffer(0)]], uint t [[thread_position_in_grid]]) {
  float v = dst[t];
  release(&v);
}
