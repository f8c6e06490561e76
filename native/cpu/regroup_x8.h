// q4_0 and q8_0 weights regrouped for the x86 decode kernels: 8 rows per
// group, each int32 lane of a vector one row.
//
// The row tiles (vec_dot_avx2.cc, vec_dot_avx512.cc) read 4 rows at a time,
// each a separate stream `row_stride` bytes apart, and spend ~15 instructions
// per 32-value block and row on unpacking, horizontal sums and scalar scales:
// on a Zen 3 core the q4_0 one read ~12 GB/s from L2 at most, and on a Zen 5
// the AVX-512 ones streamed Llama-3.2-1B's q4_0 shape at ~27 GB/s and
// SmolLM2's q8_0 one at ~25 with 47-63 available. Here one block of 8 rows is
// one contiguous run of bytes: 4 (q4_0) or 8 (q8_0) 32-byte loads, a product
// per 4 activation bytes broadcast to all 8 rows (maddubs), one convert, one
// f16->f32 of all 8 scales and one FMA for 8 outputs; each thread streams its
// rows from one place (in-process Llama-3.2-1B q4_0 decode on the Zen 5:
// 37-42 -> 43-68 tok/s). The AVX2 tile serves the AVX2 and AVX-VNNI levels
// (a 256-bit VNNI variant measured the same); the AVX-512 level has its own
// (regroup_x8_avx512.cc: two value groups per 512-bit vector, VNNI), with the
// same bits at ~1.5-1.6x the rate from L1/L2: decode of a model whose
// weights stream faster than one core multiplies them, and batched decoding
// (2-3 activation rows per tile), are bound by it.
//
// Layout of a [rows, k] matrix (rows % 8 == 0, k % 32 == 0), the same bytes
// per block and row as the type itself:
//   group g (rows 8g..8g+7), block b, at (g * k / 32 + b) * block_bytes:
//     [8] f16     the rows' block scales d
//     q4_0 (144 bytes): [4][8][4] bytes: for j < 4, row r's qs bytes
//                 4j..4j+3 (low nibbles values 4j..4j+3, high nibbles
//                 values 16+4j..16+4j+3)
//     q8_0 (272 bytes): [8][8][4] int8: for j < 8, row r's values 4j..4j+3
// Built once per weight by the CPU backend (cpu_backend.cc) from read-only
// (mapped) weights at the x86 levels; prefill packs its panels from it
// (PanelKernels::pack_x8), so the original is not read again.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../core/dtype.h"
#include "vec_dot.h"

namespace mm {

constexpr int kX8Rows = 8;

// Whether weights of this type are ever regrouped (q4_0, q8_0).
constexpr bool x8_type(DType t) { return t == DType::Q4_0 || t == DType::Q8_0; }
// Bytes of one block of 8 rows: 8 rows x 18 (q4_0) or 34 (q8_0) bytes.
constexpr size_t x8_block_bytes(DType t) { return t == DType::Q4_0 ? 144 : 272; }
// Whether a [rows, k] matrix of type t can be regrouped.
inline bool x8_fits(DType t, int64_t rows, int64_t k) {
  return x8_type(t) && rows > 0 && rows % kX8Rows == 0 && k > 0 && k % 32 == 0;
}
// Bytes of one group of 8 rows.
inline size_t x8_group_bytes(DType t, int64_t k) { return static_cast<size_t>(k / 32) * x8_block_bytes(t); }
// Regroups groups [g0, g1) of a matrix (rows `stride` bytes apart) into dst (the whole matrix's layout).
void x8_regroup(DType t, const uint8_t* src, size_t stride, int64_t k, int64_t g0, int64_t g1, uint8_t* dst);
// Where an activation row's extra (q4_0_x8_extra: [k/32] int32, 8 * each q8_0 block's sum) starts: after
// the q8_0 row, padded to 64 bytes.
inline size_t q4_0_x8_extra_offset(int64_t k) { return (static_cast<size_t>(k / 32) * 34 + 63) / 64 * 64; }
// The decode tile: out[c * os + r] = dot(row r of `group`, activation row c) for r < 8, c < nc <= kTileA.
using X8Tile = void (*)(int64_t k, const uint8_t* group, const uint8_t* a, size_t as, int nc, float* out, size_t os);

#if defined(MM_HAVE_AVX2_KERNELS)
namespace avx2 {
// Activation rows `as` bytes apart, each a q8_0 row; for q4_0 followed (q4_0_x8_extra_offset) by the extra.
void q4_0_x8_tile(int64_t k, const uint8_t* group, const uint8_t* a, size_t as, int nc, float* out, size_t os);
void q8_0_x8_tile(int64_t k, const uint8_t* group, const uint8_t* a, size_t as, int nc, float* out, size_t os);
ActExtra q4_0_x8_extra();
// The AVX2 prefill panel (gemm_avx2.cc's layout, 8 rows: nr is 8) of one group; kVnni: the VNNI panel
// (q8_0 + 128).
void x8_pack_panel(DType t, int64_t k, const uint8_t* group, int nr, uint8_t* panel);
void x8_pack_panel_vnni(DType t, int64_t k, const uint8_t* group, int nr, uint8_t* panel);
}  // namespace avx2
#endif
#if defined(MM_HAVE_AVX512_KERNELS)
namespace avx512 {
// The decode tiles at the AVX-512 level (avx2's arguments, layout and bits).
void q4_0_x8_tile(int64_t k, const uint8_t* group, const uint8_t* a, size_t as, int nc, float* out, size_t os);
void q8_0_x8_tile(int64_t k, const uint8_t* group, const uint8_t* a, size_t as, int nc, float* out, size_t os);
// The AVX-512 prefill panel (gemm_avx512.cc's layout, 16 rows) of one group (nr 8) or two consecutive
// ones (nr 16).
void x8_pack_panel(DType t, int64_t k, const uint8_t* groups, int nr, uint8_t* panel);
}  // namespace avx512
#endif

}  // namespace mm
