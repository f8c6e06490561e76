// dst = x / sqrt(mean(x^2) + eps), optionally times a weight row (fused, so the
// normalized activations make one pass through memory).
#include <cmath>

#include "ops.h"

namespace mm {

void op_rms_norm(CpuContext& ctx, const OpArgs& a) {
  const TensorDesc& x = a.src(0);                                       // [r, c] f32
  const float* w = a.has_src(1) ? a.src(1).row_as<float>(0) : nullptr;  // [c]
  const TensorDesc& d = a.dst();                                        // [r, c] f32
  const int64_t R = x.rows_at(a.step.n_tokens), C = x.cols;
  const float eps = a.node.p.eps;
  ctx.pool.parallel_for(R, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = x.row_as<float>(r);
      float* dr = d.row_as<float>(r);
      double ss = 0;  // double, as ggml: long rows of large activations lose bits in float
      for (int64_t i = 0; i < C; i++) ss += static_cast<double>(xr[i]) * xr[i];
      const float scale = 1.0f / std::sqrt(static_cast<float>(ss / C) + eps);
      if (w)
        for (int64_t i = 0; i < C; i++) dr[i] = xr[i] * scale * w[i];
      else
        for (int64_t i = 0; i < C; i++) dr[i] = xr[i] * scale;
    }
  });
}

}  // namespace mm
