// regroup_x4.h's interleaving (a copy, no arithmetic).
#include "regroup_x4.h"

#include <cstring>

namespace mm {

void x4_regroup(DType t, const uint8_t* src, size_t stride, int64_t k, int64_t g0, int64_t g1, uint8_t* dst) {
  const size_t bb = row_bytes(t, 256);  // one super-block
  const int64_t nb = k / 256;
  for (int64_t g = g0; g < g1; g++) {
    uint8_t* out = dst + static_cast<size_t>(g) * x4_group_bytes(t, k);  // [nb][4] blocks
    for (int r = 0; r < kX4Rows; r++) {
      const uint8_t* row = src + static_cast<size_t>(g * kX4Rows + r) * stride;
      for (int64_t b = 0; b < nb; b++)
        std::memcpy(out + static_cast<size_t>(kX4Rows * b + r) * bb, row + static_cast<size_t>(b) * bb, bb);
    }
  }
}

}  // namespace mm
