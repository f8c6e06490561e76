// Causal grouped-query attention of n query rows over the KV cache:
// query i (position n_past + i) attends to cache rows [0, n_past + i]; query
// head h reads KV head h / (n_head / n_kv_head). One (row, head) pair per task,
// with an online softmax so no score buffer is needed.
#include <algorithm>
#include <cmath>

#include "ops.h"
#include "quants.h"
#include "vec_dot.h"

namespace mm {

void op_attention(CpuContext& ctx, const OpArgs& a) {
  const TensorDesc& q = a.src(0);  // [n, n_head * head_dim] f32
  const TensorDesc& K = a.src(1);  // [ctx, n_kv_head * head_dim] f32|f16
  const TensorDesc& V = a.src(2);  // [ctx, n_kv_head * head_dim] f32|f16
  const TensorDesc& d = a.dst();   // [n, n_head * head_dim] f32
  const OpParams& p = a.node.p;
  const int64_t N = q.rows_at(a.step.n_tokens), past = a.step.n_past;
  const int D = p.head_dim, group = p.n_head / p.n_kv_head;
  const float scale = p.scale;
  const VecDotFn kdot = matmul_kernel(K.type).dot;  // f32 or f16 row . f32 query
  const int64_t tasks = N * p.n_head;
  const int nth = ctx.pool.size();
  // Per-thread [head_dim] accumulator + [head_dim] converted V row.
  float* scratch = reinterpret_cast<float*>(ctx.scratch(static_cast<size_t>(nth) * 2 * D * sizeof(float)));

  ctx.pool.run([&](int ith, int nthreads) {
    float* acc = scratch + static_cast<size_t>(ith) * 2 * D;
    float* vrow = acc + D;
    const int64_t per = (tasks + nthreads - 1) / nthreads;
    const int64_t t0 = per * ith, t1 = std::min(tasks, t0 + per);
    for (int64_t t = t0; t < t1; t++) {
      const int64_t i = t / p.n_head;
      const int h = static_cast<int>(t % p.n_head), kvh = h / group;
      const float* qh = q.row_as<float>(i) + static_cast<int64_t>(h) * D;
      const size_t kv_off = static_cast<size_t>(kvh) * D * (K.type == DType::F16 ? 2 : 4);
      const int64_t n_kv = past + (i % a.step.n_tokens) + 1;
      float mx = -INFINITY, sum = 0;
      std::fill(acc, acc + D, 0.0f);
      for (int64_t j = 0; j < n_kv; j++) {
        const float s = kdot(D, K.row(j) + kv_off, qh) * scale;
        const uint8_t* vr = V.row(j) + kv_off;
        const float* v;
        if (V.type == DType::F32) {
          v = reinterpret_cast<const float*>(vr);
        } else {
          dequantize_row(V.type, vr, vrow, D);
          v = vrow;
        }
        if (s > mx) {  // rescale what was accumulated under the old maximum
          const float c = std::exp(mx - s);
          sum *= c;
          for (int k = 0; k < D; k++) acc[k] *= c;
          mx = s;
        }
        const float e = std::exp(s - mx);
        sum += e;
        for (int k = 0; k < D; k++) acc[k] += e * v[k];
      }
      float* out = d.row_as<float>(i) + static_cast<int64_t>(h) * D;
      const float inv = 1.0f / sum;
      for (int k = 0; k < D; k++) out[k] = acc[k] * inv;
    }
  });
}

}  // namespace mm
