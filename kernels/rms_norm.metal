// rms_norm_f32: dst = x / sqrt(mean(x^2) + eps) [* w], the weight fused in so
// normalized activations make one pass through memory. One threadgroup per
// row (x and dst may alias: each thread rewrites only what it read).
// grid: (rows), threads: min(256, cols rounded up to 32); shmem: 1 float per simdgroup.
#include "common.h"

MM_KERNEL(rms_norm_f32, RmsNormArgs) {
  const int r = int(tgpig.x);
  const uint nt = ntg.x, nsg = (nt + MM_SIMD_WIDTH - 1) / MM_SIMD_WIDTH;
  device const float * x = (device const float *)(src0 + r * args.x_stride);  // [cols]
  device const float * w = (device const float *)src1;                        // [cols]
  device float * d = (device float *)(dst + r * args.d_stride);               // [cols]
  float ss = 0.0f;
  for (int i = int(tpitg.x); i < args.cols; i += int(nt)) ss += x[i] * x[i];
  ss = tg_sum(ss, (threadgroup float *)shmem, tiisg, sgitg, nsg);
  const float scale = 1.0f / precise::sqrt(ss / float(args.cols) + args.eps);  // fast sqrt: x * rsqrt(x)
  for (int i = int(tpitg.x); i < args.cols; i += int(nt)) d[i] = args.has_weight ? x[i] * scale * w[i] : x[i] * scale;
}
