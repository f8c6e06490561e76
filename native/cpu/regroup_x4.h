// q4_K, q5_K and q6_K weights interleaved 4 rows at a time for the x86 decode
// tiles: one run of bytes per tile instead of four.
//
// The K-quant tiles (vec_dot_avx2.cc, vec_dot_avx512.cc) multiply kTileW = 4
// weight rows at once, one super-block of each in turn. Read in place, the
// 4 rows are 4 streams `row_stride` bytes apart, and each thread of a matmul
// streams 4 of them; here a tile's super-blocks lie one after another, so a
// thread streams one run of bytes from front to back. The tile's arithmetic is
// unchanged (the same bits as in place); only where it finds block b of row r
// differs. Measured with the AVX-512 tile on the Zen 5 VM (the same tile code
// both ways, alternating in one process, 16 distinct [8192, 2048] matrices):
// 2 threads 40.7 -> 48.3 GB/s, 1 thread 27.9 -> 35.4; [2048, 8192] 37.3 -> 42.7.
// q6_K's AVX-512 tile the same way, [2048, 8192] and [8192, 2048] (a slower
// minute of the VM): 1 thread 14.6-15.7 -> 18.2-18.8 GB/s; 2 threads, best of 20:
// 25.0-35.9 -> 27.4-36.5, higher in 7 of 8 runs (medians within the noise);
// in Llama-3.2-1B Q4_K_M decode +1-6%.
//
// Layout of a [rows, k] matrix (rows % 4 == 0, k % 256 == 0), the same bytes
// as the type itself, only their order changed:
//   group g (rows 4g..4g+3): at g * 4 * row_bytes; in it, super-block b of
//   row 4g + r at (4 * b + r) * block_bytes (each block whole, as in the row).
// Built once per weight by the CPU backend (cpu_backend.cc) from read-only
// (mapped) weights at the x86 levels, as regroup_x8.h's groups are; prefill
// packs its panels from it (PanelKernels::pack_x4), so the original is not
// read again.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../core/dtype.h"
#include "vec_dot.h"

namespace mm {

constexpr int kX4Rows = 4;
static_assert(kX4Rows == kTileW, "a group is one decode tile");

// Whether weights of this type are ever interleaved (q4_K, q5_K, q6_K).
constexpr bool x4_type(DType t) { return t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K; }
// Whether a [rows, k] matrix of type t can be interleaved.
inline bool x4_fits(DType t, int64_t rows, int64_t k) {
  return x4_type(t) && rows > 0 && rows % kX4Rows == 0 && k > 0 && k % 256 == 0;
}
// Bytes of one group of 4 rows.
inline size_t x4_group_bytes(DType t, int64_t k) { return kX4Rows * row_bytes(t, k); }
// From a matrix's (or panel's) first row: where row r's first super-block lies (kX4: interleaved, rs a
// group's bytes; else in place, rs a row's) and how far apart its super-blocks are.
template <bool kX4>
inline size_t x4_row_offset(int r, size_t rs, size_t block_bytes) {
  return kX4 ? static_cast<size_t>(r / kX4Rows) * rs + static_cast<size_t>(r % kX4Rows) * block_bytes
             : rs * static_cast<size_t>(r);
}
template <bool kX4>
constexpr size_t x4_block_step(size_t block_bytes) {
  return kX4 ? kX4Rows * block_bytes : block_bytes;
}
// Interleaves groups [g0, g1) of a matrix (rows `stride` bytes apart) into dst (the whole matrix's layout).
void x4_regroup(DType t, const uint8_t* src, size_t stride, int64_t k, int64_t g0, int64_t g1, uint8_t* dst);

}  // namespace mm
