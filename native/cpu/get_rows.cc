// Embedding lookup: dst[i, :] = table[ids[i], :], dequantized to f32.
#include <string>

#include "../core/error.h"
#include "ops.h"
#include "../core/quants.h"

namespace mm {

void op_get_rows(CpuContext& ctx, const OpArgs& a) {
  const TensorDesc& table = a.src(0);  // [vocab, d] any type
  const TensorDesc& ids = a.src(1);    // [n] i32
  const TensorDesc& d = a.dst();       // [n, d] f32
  const int64_t n = ids.rows_at(a.step.n_tokens);
  // Native re-checks every id: a bad one is an error, never an out-of-bounds read.
  for (int64_t i = 0; i < n; i++) {
    const int32_t id = *ids.row_as<int32_t>(i);
    if (id < 0 || id >= table.rows)
      fail(ErrorCode::InvalidArg, "token id " + std::to_string(id) + " at position " + std::to_string(i) +
                                      " is outside the vocabulary [0, " + std::to_string(table.rows) + ")");
  }
  ctx.pool.parallel_for(n, [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; i++)
      dequantize_row(table.type, table.row(*ids.row_as<int32_t>(i)), d.row_as<float>(i), table.cols);
  });
}

}  // namespace mm
