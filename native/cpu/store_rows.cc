// Writes the step's rows into a cache at rows [n_past, n_past + n): how new
// keys and values enter the KV cache (converted to its f32/f16/bf16 type).
#include "ops.h"
#include "quants.h"

namespace mm {

void op_store_rows(CpuContext& ctx, const OpArgs& a) {
  const TensorDesc& s = a.src(0);  // [n, c] f32
  const TensorDesc& d = a.dst();   // [ctx, c] f32|f16|bf16
  const int64_t N = s.rows_at(a.step.n_tokens), past = a.step.n_past;
  ctx.pool.parallel_for(N, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) quantize_row(d.type, s.row_as<float>(r), d.row(past + r), s.cols);
  });
}

}  // namespace mm
