// Prefill attention for a block of query vectors that share one KV head (the
// GQA group's heads for a few consecutive positions): keys and values are read
// once per block instead of once per query, and scores and weighted sums run
// as small register-blocked matrix products (online softmax across key chunks,
// as in flash attention).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace mm {

struct AttnBlock {
  int nq = 0;                         // query vectors in the block
  int d = 0;                          // head_dim (multiple of 16)
  float scale = 1;                    // applied to q.k
  float softcap = 0;                  // scores c * tanh(s / c) when > 0
  const float* const* q = nullptr;    // [nq] -> [d]
  const int64_t* n_kv = nullptr;      // [nq] keys visible to each query end here (>= 1)
  const int64_t* kv_begin = nullptr;  // [nq] and begin here (sliding window; < n_kv)
  int64_t ring = 0;                   // > 0: key position j is at row j % ring (a ring cache)
  bool q8 = false;                    // the cache is q8_0 (d / 32 blocks per head) instead of f16
  const uint8_t* k = nullptr;         // key rows of this KV head, k_stride bytes apart
  size_t k_stride = 0;
  const uint8_t* v = nullptr;  // value rows, likewise
  size_t v_stride = 0;
  float* const* out = nullptr;  // [nq] -> [d]
  float* scratch = nullptr;     // attn_block_scratch_floats(nq, d) floats
};

// Calls f(offset, count, row) for the runs of key positions [j0, j0 + cnt) that
// lie in consecutive cache rows: one run, or two where a ring cache (ring > 0:
// position j at row j % ring) wraps.
template <typename F>
inline void for_ring_runs(int64_t j0, int64_t cnt, int64_t ring, F&& f) {
  for (int64_t done = 0; done < cnt;) {
    const int64_t row = ring > 0 ? (j0 + done) % ring : j0 + done;
    const int64_t len = ring > 0 ? std::min(cnt - done, ring - row) : cnt - done;
    f(done, len, row);
    done += len;
  }
}

constexpr int kAttnMaxQueries = 16;      // per block
constexpr int kAttnMaxQueriesWide = 32;  // per block of the AVX-512 kernel where there are tasks enough
constexpr int kAttnKeyChunk = 64;        // keys per pass

inline size_t attn_block_scratch_floats(int nq, int d) {
  // [d, chunk] transposed keys + [nq, chunk] scores + [nq, d] sums + [nq] max + [nq] denominators
  return static_cast<size_t>(d) * kAttnKeyChunk + static_cast<size_t>(nq) * (kAttnKeyChunk + d + 2);
}

#if defined(MM_HAVE_AVX2_KERNELS)
namespace avx2 {
void attend_block(const AttnBlock& b);  // attention_avx2.cc (f16 or q8_0 cache)
}
#endif
#if defined(MM_HAVE_AVX512_KERNELS)
namespace avx512 {
void attend_block(const AttnBlock& b);  // attention_block_avx512.cc (after cpu_use_avx512())
}
#endif

}  // namespace mm
