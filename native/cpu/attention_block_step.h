// The per-chunk online-softmax step of the block attention kernels
// (attention_avx2.cc, attention_block_avx512.cc): the same arithmetic at every
// level, with each level's max and exp passes. Header-only and in an anonymous
// namespace, as count_blocks.h: each file compiles its own copy with its ISA.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "attention_block.h"
#include "vec_dot.h"

namespace mm {
namespace {

// For each query i of b over the chunk's keys [j0, j0 + cnt): its visible keys
// [lo, hi) (the causal limit, the window's start) soft-capped, their maximum
// joined to mx[i] (what was summed under an older maximum rescaled), their
// softmax weights written over the scores S [nq, row] and summed into den[i];
// scores outside [lo, hi) become 0. acc [nq, d]: the weighted value sums.
template <class MaxOf, class ExpSubSum>
inline void chunk_softmax(const AttnBlock& b, int64_t j0, int cnt, int row, float* S, float* acc, float* mx, float* den,
                          const VecOps& vo, MaxOf&& max_of, ExpSubSum&& exp_sub_sum) {
  for (int i = 0; i < b.nq; i++) {
    float* s = S + static_cast<size_t>(row) * i;
    const int hi = static_cast<int>(std::clamp<int64_t>(b.n_kv[i] - j0, 0, cnt));
    const int lo = static_cast<int>(std::clamp<int64_t>(b.kv_begin[i] - j0, 0, hi));
    if (hi > lo) {
      if (b.softcap > 0) vo.softcap(hi - lo, b.softcap, s + lo);
      const float cmx = max_of(s + lo, hi - lo);
      if (cmx > mx[i]) {  // rescale what was summed under the old maximum
        const float r = std::exp(mx[i] - cmx);
        den[i] *= r;
        vo.scale(b.d, r, acc + static_cast<size_t>(b.d) * i);
        mx[i] = cmx;
      }
      den[i] += exp_sub_sum(hi - lo, s + lo, mx[i]);
    }
    std::fill(s, s + lo, 0.0f);
    std::fill(s + hi, s + cnt, 0.0f);
  }
}

}  // namespace
}  // namespace mm
