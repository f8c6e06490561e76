// expect: program-scope variable table outside the constant address space
#include <metal_stdlib>
using namespace metal;
float table[4] = {1.0f, 2.0f, 3.0f, 4.0f};
kernel void k(device float * dst [[buffer(0)]], uint t [[thread_position_in_grid]]) {
  dst[t] = table[t % 4];
}
