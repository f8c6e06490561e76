// quantize_act_<grid>: activation rows rounded to the 8-bit grid the CPU backend
// multiplies quantized weights with (act_quant.h gives the rules), written as
// f32 values q * d to a scratch row set. The plan dispatches it once per input
// and grid, before the matmuls over quantized weights that read that input
// (the q / k / v projections share one, as gate / up do); they then multiply
// it as any f32 row. One simdgroup per block: lane l holds values l, l + 32, ...
//   grid: (ceil(cols / (QB * MM_QA_SIMDGROUPS)), rows), 32 * MM_QA_SIMDGROUPS threads.
#include "act_quant.h"
#include "common.h"

template <typename A>
inline void quantize_act_impl(constant ActQuantArgs & args, device const char * src0, device char * dst, uint3 tgpig,
                              uint tiisg, uint sgitg) {
  const int b = int(tgpig.x) * MM_QA_SIMDGROUPS + int(sgitg);  // block of the row (uniform per simdgroup)
  if (b * int(A::QB) >= args.cols) return;
  device const float * x = (device const float *)(src0 + int(tgpig.y) * args.x_stride) + b * int(A::QB);  // [QB]
  device float * d = (device float *)(dst + int(tgpig.y) * args.d_stride) + b * int(A::QB);               // [QB]
  float v[A::QB / MM_SIMD_WIDTH];
  float amax = 0.0f;
  for (int i = 0; i < int(A::QB) / MM_SIMD_WIDTH; i++) {
    v[i] = x[int(tiisg) + MM_SIMD_WIDTH * i];
    amax = fmax(amax, fabs(v[i]));
  }
  const float2 s = A::scales(simd_max(amax));
  for (int i = 0; i < int(A::QB) / MM_SIMD_WIDTH; i++) d[int(tiisg) + MM_SIMD_WIDTH * i] = act_round(v[i], s);
}

MM_KERNEL(quantize_act_q8_0, ActQuantArgs) { quantize_act_impl<ActQ8_0>(args, src0, dst, tgpig, tiisg, sgitg); }
MM_KERNEL(quantize_act_q8_K, ActQuantArgs) { quantize_act_impl<ActQ8_K>(args, src0, dst, tgpig, tiisg, sgitg); }
