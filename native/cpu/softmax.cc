// Row softmax of x * scale. With `causal`, row r (token r % n_tokens of the
// step) sees only columns <= n_past + r % n_tokens; masked entries become 0.
#include <cmath>
#include <limits>

#include "ops.h"

namespace mm {

void op_softmax(CpuContext& ctx, const OpArgs& a) {
  const TensorDesc& x = a.src(0);  // [r, c] f32
  const TensorDesc& d = a.dst();   // [r, c] f32
  const int64_t R = x.rows_at(a.step.n_tokens), C = x.cols;
  const float scale = a.node.p.scale;
  const bool causal = a.node.p.causal;
  const int64_t nt = a.step.n_tokens, past = a.step.n_past;
  ctx.pool.parallel_for(R, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = x.row_as<float>(r);
      float* dr = d.row_as<float>(r);
      int64_t visible = causal ? past + (r % nt) + 1 : C;
      if (visible > C) visible = C;
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t i = 0; i < visible; i++) mx = std::fmax(mx, xr[i] * scale);
      double sum = 0;
      for (int64_t i = 0; i < visible; i++) {
        dr[i] = std::exp(xr[i] * scale - mx);
        sum += dr[i];
      }
      const float inv = sum > 0 ? static_cast<float>(1.0 / sum) : 0.0f;
      for (int64_t i = 0; i < visible; i++) dr[i] *= inv;
      for (int64_t i = visible; i < C; i++) dr[i] = 0.0f;
    }
  });
}

}  // namespace mm
