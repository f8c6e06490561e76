// expect: cannot initialize object parameter of type
#include <metal_stdlib>
using namespace metal;
struct Acc {
  float v;
  float get() const { return v; }  // a thread-space method
};
kernel void k(device float * dst [[buffer(0)]], device const Acc * a [[buffer(1)]], uint t [[thread_position_in_grid]]) {
  dst[t] = a[t].get();  // called on a device object: needs `float get() const device`
}
