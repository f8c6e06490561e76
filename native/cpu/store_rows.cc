// Writes the step's rows into a cache at rows [n_past, n_past + n): how new
// keys and values enter the KV cache (converted to its f32/f16/bf16 type).
#include "ops.h"
#include "../core/quants.h"
#include "vec_dot.h"

namespace mm {

void op_store_rows(CpuContext& ctx, const OpArgs& a) {
  const TensorDesc& s = a.src(0);  // [n, c] f32
  const TensorDesc& d = a.dst();   // [ctx, c] f32|f16|bf16
  const int64_t N = s.rows_at(a.step.n_tokens), past = a.step.n_past;
  const VecOps& vo = vec_ops();
  ctx.pool.parallel_for(N, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      if (d.type == DType::F16)
        vo.f32_to_f16(s.cols, s.row_as<float>(r), reinterpret_cast<uint16_t*>(d.row(past + r)));
      else
        quantize_row(d.type, s.row_as<float>(r), d.row(past + r), s.cols);
    }
  });
}

}  // namespace mm
