// softmax_f32: dst = softmax(x * scale) per row; with `causal`, row r (token
// r % n_tokens of the step) sees only cols <= n_past + r % n_tokens, the rest
// become 0. One threadgroup per row, two threadgroup reductions (max, sum).
// grid: (rows), threads: min(256, cols rounded up to 32); shmem: 1 float per simdgroup.
#include "common.h"

MM_KERNEL(softmax_f32, SoftmaxArgs) {
  const int r = int(tgpig.x);
  const uint nt = ntg.x, nsg = (nt + MM_SIMD_WIDTH - 1) / MM_SIMD_WIDTH;
  threadgroup float * scratch = (threadgroup float *)shmem;
  device const float * x = (device const float *)(src0 + r * args.x_stride);  // [cols]
  device float * d = (device float *)(dst + r * args.d_stride);               // [cols]
  int visible = args.causal ? args.n_past + r % args.n_tokens + 1 : args.cols;
  visible = min(visible, args.cols);
  float mx = -FLT_MAX;  // finite: Metal's fast math may assume no infinities
  for (int i = int(tpitg.x); i < visible; i += int(nt)) mx = fmax(mx, x[i] * args.scale);
  mx = tg_max(mx, scratch, tiisg, sgitg, nsg);
  float sum = 0.0f;
  for (int i = int(tpitg.x); i < visible; i += int(nt)) {
    const float e = precise::exp(x[i] * args.scale - mx);  // fast exp: 3 + 2|x| ulp
    d[i] = e;
    sum += e;
  }
  sum = tg_sum(sum, scratch, tiisg, sgitg, nsg);
  const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
  for (int i = int(tpitg.x); i < args.cols; i += int(nt)) d[i] = i < visible ? d[i] * inv : 0.0f;
}
