// Rotary position embedding, per head. "normal" rotates adjacent pairs
// (x[2i], x[2i+1]) as GGUF llama weights expect; "neox" rotates (x[i],
// x[i + n_rot/2]) as HF's rotate-half and qwen do. theta_i = pos * base^(-2i/n_rot)
// * freq_scale / freq_factors[i] (freq_factors: llama3-style scaling, LongRoPE);
// cos and sin are scaled by attn_factor (LongRoPE's magnitude correction).
#include <algorithm>
#include <cmath>

#include "ops.h"

namespace mm {

void op_rope(CpuContext& ctx, const OpArgs& a) {
  const TensorDesc& x = a.src(0);                                        // [n, n_head * head_dim] f32
  const TensorDesc& pos = a.src(1);                                      // [n] i32
  const float* ff = a.has_src(2) ? a.src(2).row_as<float>(0) : nullptr;  // [n_rot / 2]
  const TensorDesc& d = a.dst();                                         // like x (may alias it)
  const OpParams& p = a.node.p;
  const int64_t R = x.rows_at(a.step.n_tokens);
  const int half = p.n_rot / 2;
  // Same cumulative product as ggml, so angles match llama.cpp's to the last bit.
  const float theta_scale = std::pow(p.freq_base, -2.0f / static_cast<float>(p.n_rot));
  // Per thread: the row's [half] cos and [half] sin, shared by every head.
  const int nth = ctx.pool.size();
  float* tables = reinterpret_cast<float*>(ctx.scratch(sizeof(float) * 2 * static_cast<size_t>(half) * nth));
  const int64_t per = (R + 4 * nth - 1) / (4 * nth);
  ctx.pool.run_chunks((R + per - 1) / per, [&](int64_t c, int ith) {
    float* cs = tables + 2 * static_cast<size_t>(half) * ith;
    float* sn = cs + half;
    for (int64_t r = c * per, r1 = std::min(R, r + per); r < r1; r++) {
      const float position = static_cast<float>(*pos.row_as<int32_t>(r));
      const float* xr = x.row_as<float>(r);
      float* dr = d.row_as<float>(r);
      float theta = position;
      for (int i = 0; i < half; i++, theta *= theta_scale) {
        float t = p.freq_scale * theta;
        if (ff) t /= ff[i];
        cs[i] = std::cos(t) * p.attn_factor;
        sn[i] = std::sin(t) * p.attn_factor;
      }
      for (int h = 0; h < p.n_head; h++) {
        const float* xh = xr + static_cast<int64_t>(h) * p.head_dim;
        float* dh = dr + static_cast<int64_t>(h) * p.head_dim;
        for (int i = 0; i < half; i++) {
          const float c = cs[i], s = sn[i];
          const int i0 = p.rope_mode == kRopeNeox ? i : 2 * i;
          const int i1 = p.rope_mode == kRopeNeox ? i + half : 2 * i + 1;
          const float x0 = xh[i0], x1 = xh[i1];
          dh[i0] = x0 * c - x1 * s;
          dh[i1] = x0 * s + x1 * c;
        }
        if (dh != xh)
          for (int i = p.n_rot; i < p.head_dim; i++) dh[i] = xh[i];
      }
    }
  });
}

}  // namespace mm
