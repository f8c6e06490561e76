// Row-wise elementwise ops: swiglu and geglu (gated activations), add and mul
// (for add and mul b may be one broadcast row), scale and softcap (x in place
// or into dst), and last_row (the step's final row, e.g. for next-token logits only).
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

namespace {
// dst = act(gate) * up, row by row (graph.cc: up never broadcasts).
void gated(CpuContext& ctx, const OpArgs& a, void (*act)(int64_t, const float*, const float*, float*)) {
  const TensorDesc& g = a.src(0);  // [r, c] f32
  const TensorDesc& u = a.src(1);  // [r, c] f32
  const TensorDesc& d = a.dst();   // [r, c] f32
  const int64_t R = g.rows_at(a.step.n_tokens), C = g.cols;
  ctx.pool.parallel_for(R, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) act(C, g.row_as<float>(r), u.row_as<float>(r), d.row_as<float>(r));
  });
}
// dst = f(x) row by row, f applied in place on dst (after copying x when they differ).
template <typename F>
void unary_in_place(CpuContext& ctx, const OpArgs& a, F f) {
  const TensorDesc& x = a.src(0);  // [r, c] f32
  const TensorDesc& d = a.dst();   // [r, c] f32 (may be x)
  const int64_t R = x.rows_at(a.step.n_tokens), C = x.cols;
  ctx.pool.parallel_for(R, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      float* dr = d.row_as<float>(r);
      if (d.row(r) != x.row(r)) std::memmove(dr, x.row(r), static_cast<size_t>(C) * 4);
      f(C, dr);
    }
  });
}
}  // namespace

// Vector exp (AVX2) where available.
void op_swiglu(CpuContext& ctx, const OpArgs& a) { gated(ctx, a, vec_ops().swiglu); }
void op_geglu(CpuContext& ctx, const OpArgs& a) { gated(ctx, a, vec_ops().geglu); }
void op_scale(CpuContext& ctx, const OpArgs& a) {
  const VecOps& vo = vec_ops();
  const float s = a.node.p.scale;
  unary_in_place(ctx, a, [&](int64_t n, float* x) { vo.scale(n, s, x); });
}
void op_softcap(CpuContext& ctx, const OpArgs& a) {
  const VecOps& vo = vec_ops();
  const float c = a.node.p.softcap;
  unary_in_place(ctx, a, [&](int64_t n, float* x) { vo.softcap(n, c, x); });
}
void op_add(CpuContext& ctx, const OpArgs& a) {
  binary(ctx, a, [](float x, float y) { return x + y; });
}
void op_mul(CpuContext& ctx, const OpArgs& a) {
  binary(ctx, a, [](float x, float y) { return x * y; });
}

// Mean (in double, then rounded), first or last of the step's rows, column by column.
void op_pool(CpuContext& ctx, const OpArgs& a) {
  const TensorDesc& x = a.src(0);  // [n, c] f32
  const TensorDesc& d = a.dst();   // [1, c] f32
  const int64_t R = x.rows_at(a.step.n_tokens), C = x.cols;
  const int32_t mode = a.node.p.pooling;
  float* out = d.row_as<float>(0);
  if (mode != kPoolMean) {
    std::memmove(out, x.row(mode == kPoolCls ? 0 : R - 1), static_cast<size_t>(C) * 4);
    return;
  }
  ctx.pool.parallel_for(C, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; c++) {
      double s = 0;
      for (int64_t r = 0; r < R; r++) s += x.row_as<float>(r)[c];
      out[c] = static_cast<float>(s / static_cast<double>(R));
    }
  });
}

void op_last_row(CpuContext&, const OpArgs& a) {
  const TensorDesc& x = a.src(0);  // [n, c] f32
  const TensorDesc& d = a.dst();   // [1, c] f32
  const int64_t last = x.rows_at(a.step.n_tokens) - 1;
  std::memmove(d.row(0), x.row(last), static_cast<size_t>(x.cols) * 4);
}

}  // namespace mm
