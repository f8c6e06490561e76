// Writes the step's rows into a cache at rows [n_past, n_past + n), or at the
// rows an i32 index gives (batched decoding: each sequence's next position in
// its slot), or at rows (n_past + r) % ring of a ring (a windowed layer): how
// new keys and values enter the KV cache (converted to its f32/f16/bf16 type, or
// rounded to q8_0 blocks by the reference quantizer, llama.cpp's
// quantize_row_q8_0_ref: the same bytes on every CPU).
#include <string>

#include "../core/error.h"
#include "ops.h"
#include "../core/quants.h"
#include "vec_dot.h"

namespace mm {

void op_store_rows(CpuContext& ctx, const OpArgs& a) {
  const TensorDesc& s = a.src(0);  // [n, c] f32
  const TensorDesc& d = a.dst();   // [ctx, c] f32|f16|bf16|q8_0 (c % 32 == 0)
  const int64_t N = s.rows_at(a.step.n_tokens), past = a.step.n_past, ring = a.node.p.ring;
  const TensorDesc* idx = a.has_src(1) ? &a.src(1) : nullptr;  // [n] i32
  // Native re-checks every index: a bad one is an error, never a write out of bounds.
  if (idx)
    for (int64_t r = 0; r < N; r++) {
      const int32_t at = *idx->row_as<int32_t>(r);
      if (at < 0 || at >= d.rows)
        fail(ErrorCode::InvalidArg, "store_rows: row " + std::to_string(at) + " (for src row " + std::to_string(r) +
                                        ") is outside the cache [0, " + std::to_string(d.rows) + ")");
    }
  const VecOps& vo = vec_ops();
  ctx.pool.parallel_for(N, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const int64_t at = idx ? *idx->row_as<int32_t>(r) : ring > 0 ? (past + r) % ring : past + r;
      if (d.type == DType::F16)
        vo.f32_to_f16(s.cols, s.row_as<float>(r), reinterpret_cast<uint16_t*>(d.row(at)));
      else
        quantize_row(d.type, s.row_as<float>(r), d.row(at), s.cols);
    }
  });
}

}  // namespace mm
