// expect: MSL_forbids_virtual
#include <metal_stdlib>
using namespace metal;
struct Op {
  virtual float apply(float x) const { return x; }
};
kernel void k(device float * dst [[buffer(0)]], uint t [[thread_position_in_grid]]) {
  Op op;
  dst[t] = op.apply(dst[t]);
}
