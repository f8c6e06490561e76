// Row-wise elementwise ops: swiglu, add and mul (for add and mul b may be one broadcast row),
// and last_row (the step's final row, e.g. for next-token logits only).
#include <cstring>

#include "ops.h"
#include "vec_dot.h"

namespace mm {

namespace {
template <typename F>
void binary(CpuContext& ctx, const OpArgs& a, F f) {
  const TensorDesc& x = a.src(0);  // [r, c] f32
  const TensorDesc& y = a.src(1);  // [r, c] or [1, c] f32
  const TensorDesc& d = a.dst();   // [r, c] f32
  const int64_t R = x.rows_at(a.step.n_tokens), C = x.cols;
  const bool broadcast = y.rows == 1 && y.rows_per_token == 0;
  ctx.pool.parallel_for(R, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = x.row_as<float>(r);
      const float* yr = y.row_as<float>(broadcast ? 0 : r);
      float* dr = d.row_as<float>(r);
      for (int64_t i = 0; i < C; i++) dr[i] = f(xr[i], yr[i]);
    }
  });
}
}  // namespace

void op_swiglu(CpuContext& ctx, const OpArgs& a) {
  const TensorDesc& g = a.src(0);                            // [r, c] f32
  const TensorDesc& u = a.src(1);                            // [r, c] f32
  const TensorDesc& d = a.dst();                             // [r, c] f32
  const int64_t R = g.rows_at(a.step.n_tokens), C = g.cols;  // (graph.cc: up never broadcasts)
  const VecOps& vo = vec_ops();                              // vector exp (AVX2) where available
  ctx.pool.parallel_for(R, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) vo.swiglu(C, g.row_as<float>(r), u.row_as<float>(r), d.row_as<float>(r));
  });
}
void op_add(CpuContext& ctx, const OpArgs& a) {
  binary(ctx, a, [](float x, float y) { return x + y; });
}
void op_mul(CpuContext& ctx, const OpArgs& a) {
  binary(ctx, a, [](float x, float y) { return x * y; });
}

void op_last_row(CpuContext&, const OpArgs& a) {
  const TensorDesc& x = a.src(0);  // [n, c] f32
  const TensorDesc& d = a.dst();   // [1, c] f32
  const int64_t last = x.rows_at(a.step.n_tokens) - 1;
  std::memmove(d.row(0), x.row(last), static_cast<size_t>(x.cols) * 4);
}

}  // namespace mm
