// The portable half of regroup_x8.h: regrouping rows (a copy, no arithmetic).
#include "regroup_x8.h"

#include <cstring>

#include "../../kernels/quant_blocks.h"

namespace mm {

namespace {
// One row's blocks into their places in a group: the scale at 2 * r, value bytes 4j..4j+3 at
// 16 + 32 * j + 4 * r (q4_0: j < 4 qs bytes; q8_0: j < 8 values).
template <typename Block, int kGroups>
void regroup_rows(const uint8_t* src, size_t stride, int64_t k, int64_t g0, int64_t g1, uint8_t* dst) {
  constexpr size_t kBlockBytes = kX8Rows * sizeof(Block);
  const int64_t nb = k / 32;
  for (int64_t g = g0; g < g1; g++) {
    uint8_t* out = dst + static_cast<size_t>(g * nb) * kBlockBytes;  // [nb][kBlockBytes]
    for (int r = 0; r < kX8Rows; r++) {
      const auto* row = reinterpret_cast<const Block*>(src + static_cast<size_t>(g * kX8Rows + r) * stride);
      for (int64_t b = 0; b < nb; b++) {
        uint8_t* blk = out + static_cast<size_t>(b) * kBlockBytes;
        std::memcpy(blk + 2 * r, &row[b].d, 2);
        for (int j = 0; j < kGroups; j++) std::memcpy(blk + 16 + 32 * j + 4 * r, row[b].qs + 4 * j, 4);
      }
    }
  }
}
}  // namespace

void x8_regroup(DType t, const uint8_t* src, size_t stride, int64_t k, int64_t g0, int64_t g1, uint8_t* dst) {
  static_assert(kX8Rows * sizeof(block_q4_0) == 144 && kX8Rows * sizeof(block_q8_0) == 272, "x8_block_bytes");
  if (t == DType::Q4_0) return regroup_rows<block_q4_0, 4>(src, stride, k, g0, g1, dst);
  if (t == DType::Q8_0) return regroup_rows<block_q8_0, 8>(src, stride, k, g0, g1, dst);
}

}  // namespace mm
