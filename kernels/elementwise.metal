// Row-wise elementwise kernels, one thread per element: add_f32, mul_f32
// (b may be one broadcast row), swiglu_f32 (silu(gate) * up), geglu_f32
// (gelu_tanh(gate) * up), scale_f32 (a * value), softcap_f32 (value * tanh(a /
// value)), mean_rows_f32 (pool, mean) and copy_row_f32 (last_row and pool cls / last:
// rows = 1, reads row a_row0). swiglu and
// geglu use precise::exp, softcap precise::tanh: Metal compiles with fast math,
// whose exp is only within 3 + 2|x| ulp.
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
MM_BINARY_KERNEL(swiglu_f32, mm_silu(a) * b)
MM_BINARY_KERNEL(geglu_f32, mm_gelu_tanh(a) * b)  // common.h

#define MM_UNARY_KERNEL(NAME, EXPR)                                        \
  MM_KERNEL(NAME, BinaryArgs) {                                            \
    const int c = int(tgpig.x * ntg.x + tpitg.x), r = int(tgpig.y);        \
    if (c >= args.cols) return;                                            \
    const float a = ((device const float *)(src0 + r * args.a_stride))[c]; \
    ((device float *)(dst + r * args.d_stride))[c] = EXPR;                 \
  }

MM_UNARY_KERNEL(scale_f32, a * args.value)
MM_UNARY_KERNEL(softcap_f32, args.value * precise::tanh(a / args.value))

// pool (mean): dst[0][c] = sum over the rows of a / rows (one thread per column, rows summed in order).
MM_KERNEL(mean_rows_f32, BinaryArgs) {
  const int c = int(tgpig.x * ntg.x + tpitg.x);
  if (c >= args.cols) return;
  float s = 0.0f;
  for (int r = 0; r < args.rows; r++) s += ((device const float *)(src0 + r * args.a_stride))[c];
  ((device float *)dst)[c] = s / float(args.rows);
}

MM_KERNEL(copy_row_f32, BinaryArgs) {
  const int c = int(tgpig.x * ntg.x + tpitg.x), r = int(tgpig.y);
  if (c >= args.cols) return;
  ((device float *)(dst + r * args.d_stride))[c] =
      ((device const float *)(src0 + (args.a_row0 + r) * args.a_stride))[c];
}
