// Row-wise elementwise kernels, one thread per element: add_f32, mul_f32
// (b may be one broadcast row), swiglu_f32 (silu(gate) * up) and copy_row_f32
// (last_row: rows = 1, reads row a_row0). swiglu uses precise::exp: Metal
// compiles with fast math, whose exp is only within 3 + 2|x| ulp.
// grid: (ceil(cols / 256), rows), 256 threads.
#include "common.h"

#define MM_BINARY_KERNEL(NAME, EXPR)                                                                \
  MM_KERNEL(NAME, BinaryArgs) {                                                                     \
    const int c = int(tgpig.x * ntg.x + tpitg.x), r = int(tgpig.y);                                 \
    if (c >= args.cols) return;                                                                     \
    const float a = ((device const float *)(src0 + r * args.a_stride))[c];                          \
    const float b = ((device const float *)(src1 + (args.b_broadcast ? 0 : r) * args.b_stride))[c]; \
    ((device float *)(dst + r * args.d_stride))[c] = EXPR;                                          \
  }

MM_BINARY_KERNEL(add_f32, a + b)
MM_BINARY_KERNEL(mul_f32, a * b)
MM_BINARY_KERNEL(swiglu_f32, a / (1.0f + precise::exp(-a)) * b)

MM_KERNEL(copy_row_f32, BinaryArgs) {
  const int c = int(tgpig.x * ntg.x + tpitg.x), r = int(tgpig.y);
  if (c >= args.cols) return;
  ((device float *)(dst + r * args.d_stride))[c] =
      ((device const float *)(src0 + (args.a_row0 + r) * args.a_stride))[c];
}
