// q4_0 weights regrouped for the x86 decode kernels (plain AVX2, AVX-VNNI,
// AVX-512): 8 rows per group, each int32 lane of a vector one row.
//
// The row tile (vec_dot_avx2.cc) spends ~15 instructions per 32-value block
// and row (nibble unpack, maddubs, the -8 zero point, madd, convert, scalar
// scale, FMA) and on a Zen 3 core reads ~12 GB/s from L2 at most: two cores
// stay under the memory's bandwidth. Here one block of 8 rows is 4 loads, 8
// maddubs on broadcast activations summed in int16 (8 * 2 * 15 * 127 fits),
// one madd, one zero-point subtract, one convert, one f16->f32 of all 8 scales
// and one FMA: ~6 instructions per block and row, 2.5x the tile's throughput
// (microbenchmark, 2 threads streaming 75 MB: 35-40 GB/s against 12-22).
// With VNNI the 8 maddubs, their int16 adds and the madd are 8 vpdpbusd. On a
// Zen 5 (AVX-512) the row tile of vec_dot_avx512.cc (nibbles of 4 blocks
// gathered by a permute, a scale permute per row) streamed Llama-3.2-1B's
// shape at 42 tok/s, this layout at 55-66.
//
// Layout of a [rows, k] q4_0 matrix (rows % 8 == 0, k % 32 == 0), the same
// 18 bytes per block and row as q4_0 itself:
//   group g (rows 8g..8g+7), block b, at (g * k / 32 + b) * 144 bytes:
//     [8] f16     the rows' block scales d
//     [4][8][4]   bytes: for j < 4, row r's qs bytes 4j..4j+3 (low nibbles
//                 values 4j..4j+3, high nibbles values 16+4j..16+4j+3)
// Built once per weight by the CPU backend (cpu_backend.cc) from read-only
// (mapped) weights at the x86 levels; prefill packs its panels from it
// (PanelKernels::pack_x8), so the q4_0 original is not read again.
#pragma once
#include <cstddef>
#include <cstdint>

#include "vec_dot.h"

namespace mm {

constexpr int kX8Rows = 8;
constexpr size_t kX8BlockBytes = 144;  // 8 rows x 18 bytes

// Whether a [rows, k] q4_0 matrix can be regrouped.
inline bool q4_0_x8_fits(int64_t rows, int64_t k) { return rows > 0 && rows % kX8Rows == 0 && k > 0 && k % 32 == 0; }
// Bytes of one group of 8 rows.
inline size_t q4_0_x8_group_bytes(int64_t k) { return static_cast<size_t>(k / 32) * kX8BlockBytes; }
// Regroups groups [g0, g1) of a q4_0 matrix (rows `stride` bytes apart) into dst (the whole matrix's layout).
void q4_0_x8_regroup(const uint8_t* src, size_t stride, int64_t k, int64_t g0, int64_t g1, uint8_t* dst);
// Where an activation row's extra (q4_0_x8_extra: [k/32] int32, 8 * each q8_0 block's sum) starts: after
// the q8_0 row, padded to 64 bytes.
inline size_t q4_0_x8_extra_offset(int64_t k) { return (static_cast<size_t>(k / 32) * 34 + 63) / 64 * 64; }
// The decode tile (one group of 8 rows x nc <= kTileA activation rows) for the current kernel level.
using X8Tile = void (*)(int64_t k, const uint8_t* group, const uint8_t* a, size_t as, int nc, float* out, size_t os);

#if defined(MM_HAVE_AVX2_KERNELS)
namespace avx2 {
// out[c * os + r] = dot(row r of `group`, activation row c) for r < 8, c < nc <= kTileA. Activation rows as
// q4_0_x8_extra() lays them out (`as` bytes apart): the q8_0 row, padding to 64 bytes, [k/32] int32 8 * block sums.
void q4_0_x8_tile(int64_t k, const uint8_t* group, const uint8_t* a, size_t as, int nc, float* out, size_t os);
void q4_0_x8_tile_vnni(int64_t k, const uint8_t* group, const uint8_t* a, size_t as, int nc, float* out,
                       size_t os);  // AVX-VNNI (where x86_vnni.h's MM_HAVE_VNNI)
ActExtra q4_0_x8_extra();
// The AVX2 q4_0 prefill panel (gemm_avx2.cc's layout, 8 rows: nr is 8) of one group.
void q4_0_x8_pack_panel(int64_t k, const uint8_t* group, int nr, uint8_t* panel);
}  // namespace avx2
#endif
#if defined(MM_HAVE_AVX512_KERNELS)
namespace avx512 {
// The AVX-512 VNNI decode tile (q4_0_x8_avx512.cc), the same contract and activation rows as avx2's.
void q4_0_x8_tile(int64_t k, const uint8_t* group, const uint8_t* a, size_t as, int nc, float* out, size_t os);
// The AVX-512 q4_0 prefill panel (gemm_avx512.cc's layout, 16 rows) of one group (nr 8) or two
// consecutive ones (nr 16).
void q4_0_x8_pack_panel(int64_t k, const uint8_t* groups, int nr, uint8_t* panel);
}  // namespace avx512
#endif

}  // namespace mm
