// expect: no matching function for call to .simdgroup_multiply_accumulate.
#include <metal_stdlib>
using namespace metal;
kernel void k(device half * dst [[buffer(0)]]) {
  simdgroup_half8x8 acc = make_filled_simdgroup_matrix<half, 8>(half(0.0f));
  simdgroup_float8x8 a = make_filled_simdgroup_matrix<float, 8>(1.0f);
  simdgroup_multiply_accumulate(acc, a, a, acc);  // float inputs into a half accumulator
  simdgroup_store(acc, dst, 8);
}
