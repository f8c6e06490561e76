// expect: use of typeid requires -frtti
#include <metal_stdlib>
using namespace metal;
namespace std { class type_info; }
kernel void k(device float * dst [[buffer(0)]], uint t [[thread_position_in_grid]]) {
  dst[t] = sizeof(typeid(dst[t]));
}
