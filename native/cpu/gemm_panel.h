// Prefill GEMM on repacked weight panels (AVX-512 VNNI, AVX-VNNI, AVX2; arm64
// sdot and i8mm, see gemm_neon.h).
//
// The row kernels (vec_dot.h) reduce each (weight row, activation row) pair to
// one float and spend as many instructions on block scales and horizontal sums
// as on the dot products. Here each int32 lane of a vector register holds a
// different weight row: a thread copies 16 (AVX-512) or 8 (AVX2) weight rows
// at a time into a small interleaved panel (4 bytes of each row per 32-bit
// lane, block scales as f32 vectors), then every activation row passes over
// the panel while it sits in L1/L2. Per 32-value block and activation row: 8
// vpdpbusd (or maddubs with int16 sums), one int->float convert, one multiply
// and one FMA for a whole vector of outputs. Repacking happens per matmul call
// into a per-thread scratch panel (from the regrouped copy where q4_0 and q8_0
// weights have one, regroup_x8.h).
//
// Integer block sums are exact, so results equal the row kernels' up to float
// summation order (tested against them and the scalar reference).
#pragma once
#include <cstddef>
#include <cstdint>

#include "../core/dtype.h"

namespace mm {

// Activations, one row per token, in the layout every panel kernel reads:
//   [k] int8 values (the q8_0 / q8_K quants, in order)
//   [k/32] f32 scale of each 32 values
//   [k/32][2] per 32 values: q4_0 -8*sum, q5_0 -16*sum, q8_0, iq4_nl, iq4_xs
//          -128*sum (int32: the zero point of unsigned weights; second slot 0);
//          q4_K, q5_K scale*sum, q4_1, q5_1 the q8_1 block's s (f32: the mins
//          term; second slot 0); q6_K -32*sum of each 16 values (int32);
//          q3_K: -128 * the sum of the whole super-block in its first block's
//          first slot, every other slot 0; q2_K: first slot 0, second the two
//          sums of 16 (int16 pair: the partners of the mins, see below)
size_t panel_act_row_bytes(int64_t k);
// Lays out one activation row already quantized to the weight's activation
// format (block_q8_0 / block_q8_1 x k/32 or block_q8_K x k/256).
void panel_layout_act_row(DType w, int64_t k, const void* quantized, uint8_t* dst);

// Float weights (f32, f16, bf16) pair with the f32 activation rows as they are.
inline bool panel_float_weights(DType w) { return w == DType::F32 || w == DType::F16 || w == DType::BF16; }
// Float panels: [k][rows] f32, row r of column c at c * rows + r (rows past nr zero).
size_t panel_float_bytes(int rows, int64_t k);
void pack_float_panel(DType w, int64_t k, const uint8_t* src, size_t row_stride, int nr, int rows, float* panel);

// What every panel kernel set supports (the same for all instruction sets).
bool panel_supports(DType w, int64_t k);
// q2_K and q3_K panels hold each value already multiplied by its 4-/6-bit
// sub-block scale (q2_K: q * sc in 0..45; q3_K: (4 - q3) * sc in -128..124,
// with the super-block scale negated), so a whole super-block sums in int32
// and turns into float once per 256 values instead of once per 32.
inline bool panel_superblock_weights(DType w) { return w == DType::Q2_K || w == DType::Q3_K; }
// One panel of `rows` rows: for quantized types [k/32][8 groups][rows][4 bytes]
// of weights, then [k/32][rows] f32 scales, and a second [k/32][rows] f32
// region for the types with mins or two scales per block (q4_1, q5_1, q4_K,
// q5_K: mins; q6_K: the second half's scales); float types panel_float_bytes.
// q2_K, q3_K: after the weights [k/256][rows] f32 super-block scales (q3_K:
// -d); q2_K then [k/256][rows] f32 dmin and [k/256][8][rows] int32 mins (the
// 4-bit mins of sub-blocks 2j, 2j+1 as an int16 pair).
size_t panel_bytes_for(int rows, DType w, int64_t k);

struct PanelKernels {
  int rows;  // weight rows per panel (one int32 lane each)
  // Whether there is a panel kernel for this weight type and k (q4_0, q5_0,
  // q8_0: q8_0 activations; q4_1, q5_1: q8_1; q4_K, q5_K, q6_K: q8_K; f32, f16, bf16: f32 activation
  // rows as they are, act_stride bytes apart).
  bool (*supports)(DType w, int64_t k);
  // One panel: `rows` rows (nr real ones, the rest zero) of k columns.
  size_t (*panel_bytes)(DType w, int64_t k);
  void (*pack)(DType w, int64_t k, const uint8_t* rows, size_t row_stride, int nr, uint8_t* panel);
  // out[c * out_stride + r] = dot(panel row r, activation row c) (+ bias[r]) for
  // r < nr, c < n.
  void (*gemm)(DType w, int64_t k, const uint8_t* panel, int nr, const uint8_t* act, size_t act_stride, int64_t n,
               float* out, size_t out_stride, const float* bias);
  // Optional: gemm over two panels at once (rows [0, rows) from panel0, nr0 real; [rows, 2 rows) from
  // panel1, nr1 real), where a kernel over both reads each activation value once for twice the rows.
  void (*gemm_pair)(DType w, int64_t k, const uint8_t* panel0, int nr0, const uint8_t* panel1, int nr1,
                    const uint8_t* act, size_t act_stride, int64_t n, float* out, size_t out_stride,
                    const float* bias) = nullptr;
  // Optional: packs a q4_0 or q8_0 panel from weights regrouped 8 rows at a time (regroup_x8.h): the
  // panel's first group at `groups`, the next (where nr is 16) one group further; nr real rows, a multiple
  // of 8.
  void (*pack_x8)(DType w, int64_t k, const uint8_t* groups, int nr, uint8_t* panel) = nullptr;
  // Optional: packs a q4_K, q5_K or q6_K panel from weights interleaved 4 rows at a time (regroup_x4.h): the
  // panel's first group at `groups`, the next ones after it; nr real rows, a multiple of 4.
  void (*pack_x4)(DType w, int64_t k, const uint8_t* groups, int nr, uint8_t* panel) = nullptr;
};

#if defined(MM_HAVE_AVX512_KERNELS)
namespace avx512 {
const PanelKernels& panel_kernels();  // gemm_avx512.cc
}
#endif
#if defined(MM_HAVE_AVX2_KERNELS)
namespace avx2 {
const PanelKernels& panel_kernels();  // gemm_avx2.cc (AVX-VNNI variant where the CPU has it)
}
#endif
#if defined(MM_HAVE_NEON_PANELS)
namespace neon {
const PanelKernels& panel_kernels_dotprod();  // gemm_neon_dotprod.cc (sdot)
const PanelKernels& panel_kernels_i8mm();     // gemm_neon_i8mm.cc (smmla)
}  // namespace neon
#endif

}  // namespace mm
