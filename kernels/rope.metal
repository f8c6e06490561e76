// rope_f32: rotary position embedding. One thread per (row, head, pair):
// pairs below n_rot/2 rotate ((2i, 2i+1) normal, (i, i + n_rot/2) neox), the
// rest copy the unrotated tail when dst is not x. theta_i = pos *
// theta_scale^i * freq_scale / freq_factors[i] (cos and sin scaled by
// attn_factor), with theta_scale^i built by the
// same repeated product as the CPU backend so angles agree to the last bit.
// grid: (ceil(rows * n_head * ceil(head_dim / 2) / 64)), 64 threads.
#include "common.h"

MM_KERNEL(rope_f32, RopeArgs) {
  const int pairs = (args.head_dim + 1) / 2;
  const int64_t gid = int64_t(tgpig.x) * int64_t(ntg.x) + int64_t(tpitg.x);
  if (gid >= int64_t(args.rows) * args.n_head * pairs) return;
  const int i = int(gid % pairs);
  const int h = int((gid / pairs) % args.n_head);
  const int r = int(gid / (int64_t(pairs) * args.n_head));
  device const float * x = (device const float *)(src0 + r * args.x_stride) + h * args.head_dim;
  device float * d = (device float *)(dst + r * args.d_stride) + h * args.head_dim;
  const int half_rot = args.n_rot / 2;
  if (i < half_rot) {
    const float position = float(*(device const int *)(src1 + r * args.pos_stride));
    float theta = position;
    for (int k = 0; k < i; k++) theta *= args.theta_scale;
    float t = args.freq_scale * theta;
    if (args.has_freq_factors) t /= ((device const float *)src2)[i];
    // precise: fast-math sin/cos are only within 2^-13 absolute on [-pi, pi] and worse
    // outside, and angles reach position * freq_scale radians.
    const float c = precise::cos(t) * args.attn_factor, s = precise::sin(t) * args.attn_factor;
    const int i0 = args.neox ? i : 2 * i;
    const int i1 = args.neox ? i + half_rot : 2 * i + 1;
    const float x0 = x[i0], x1 = x[i1];
    d[i0] = x0 * c - x1 * s;
    d[i1] = x0 * s + x1 * c;
  } else {
    const int e = args.n_rot + 2 * (i - half_rot);
    for (int k = e; k < min(e + 2, args.head_dim); k++) d[k] = x[k];
  }
}
