// The portable half of q4_0_x8.h: regrouping rows (a copy, no arithmetic).
#include "q4_0_x8.h"

#include <cstring>

#include "../../kernels/quant_blocks.h"

namespace mm {

void q4_0_x8_regroup(const uint8_t* src, size_t stride, int64_t k, int64_t g0, int64_t g1, uint8_t* dst) {
  const int64_t nb = k / 32;
  for (int64_t g = g0; g < g1; g++) {
    uint8_t* out = dst + static_cast<size_t>(g) * q4_0_x8_group_bytes(k);  // [nb][144]
    for (int r = 0; r < kX8Rows; r++) {
      const auto* row = reinterpret_cast<const block_q4_0*>(src + static_cast<size_t>(g * kX8Rows + r) * stride);
      for (int64_t b = 0; b < nb; b++) {
        uint8_t* blk = out + static_cast<size_t>(b) * kX8BlockBytes;
        std::memcpy(blk + 2 * r, &row[b].d, 2);
        for (int j = 0; j < 4; j++) std::memcpy(blk + 16 + 32 * j + 4 * r, row[b].qs + 4 * j, 4);
      }
    }
  }
}

}  // namespace mm
