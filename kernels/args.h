// Argument structs of every Metal kernel: the ONE header shared by the host
// (native/metal/plan.cc fills them) and the shaders (bound as buffer(0)).
// Layout rules so MSL and C++ agree byte for byte: 8-byte fields first, then
// 4-byte fields; only int64_t / int32_t / uint32_t / float; no pointers, no
// bools, no padding surprises (the host static_asserts every size).
#ifndef MM_KERNELS_ARGS_H
#define MM_KERNELS_ARGS_H

#if defined(__METAL_VERSION__)
#include <metal_stdlib>
#else
#include <cstdint>
#endif

// Threads per simdgroup on every Apple GPU (and in metal-sim).
#define MM_SIMD_WIDTH 32
// Matrix-vector (decode) matmul: rows of W per simdgroup (4: one float4
// simd_sum reduces them all), simdgroups per threadgroup, and the most
// activation rows one matmul_mvb threadgroup multiplies (batched decode).
#define MM_MV_ROWS 4
#define MM_MV_SIMDGROUPS 2
#define MM_MV_BATCH 8
// Matrix-matrix (prefill) matmul tile: BM weight rows x BN tokens x BK depth,
// computed by 4 simdgroups of 4 x 2 8x8 simdgroup matrices each. Threadgroup
// tiles are padded (LDW, LDX: row strides in elements) so the 8 rows an 8x8
// load touches start in different memory banks; LDO is the f32 output tile's.
#define MM_MM_BM 64
#define MM_MM_BN 32
#define MM_MM_BK 32
#define MM_MM_THREADS 128
#define MM_MM_LDW (MM_MM_BM + 8)
#define MM_MM_LDX (MM_MM_BK + 8)
#define MM_MM_LDO (MM_MM_BM + 4)
// Threadgroup memory of matmul_mm for a staging type of `stage_bytes` (2: half, 4: float).
#define MM_MM_SHMEM(stage_bytes)                                                            \
  ((MM_MM_BK * MM_MM_LDW + MM_MM_BN * MM_MM_LDX) * (stage_bytes) > MM_MM_BN * MM_MM_LDO * 4 \
       ? (MM_MM_BK * MM_MM_LDW + MM_MM_BN * MM_MM_LDX) * (stage_bytes)                      \
       : MM_MM_BN * MM_MM_LDO * 4)
// quantize_act_*: blocks per threadgroup (one simdgroup each).
#define MM_QA_SIMDGROUPS 4
// Attention. Decode: query heads of one GQA group sharing each K/V load, for
// DPL = head dims per lane (head_dim <= 32 * DPL), so a lane holds G * DPL <= 16
// query and 16 output values. Prefill: 8 query rows per simdgroup, at most
// MM_ATTN_PREFILL_SIMDGROUPS simdgroups; threadgroup rows padded by
// MM_ATTN_PAD floats (see mm_attn_prefill_shmem).
#define MM_ATTN_DECODE_HEADS(dpl) ((dpl) >= 2 ? 16 / (dpl) : 8)
#define MM_ATTN_PREFILL_SIMDGROUPS 4
#define MM_ATTN_PAD 4
// Decode attention split over keys (grid z, a second pass combines): each
// split takes at least this many keys, so a short context leaves the later
// splits empty (the split count is fixed per graph by the cache size).
#define MM_ATTN_SPLIT_MIN_KEYS 256
// Largest head_dim the attention kernels take.
#define MM_ATTN_MAX_HEAD_DIM 256
// Threadgroup bytes of attn_prefill: K and V tiles [tk][d + PAD] f32, per simdgroup
// an [8][tk + PAD] score tile and an 8 x 8 diagonal.
#define MM_ATTN_PREFILL_SHMEM(d, tk, nsg) \
  (4 * (2 * (tk) * ((d) + MM_ATTN_PAD) + (nsg)*8 * ((tk) + MM_ATTN_PAD) + (nsg)*64))

// matmul_mv_* and matmul_mm_*: dst[n, m] = x[n, k] . W[m, k]^T (+ bias[m])
// buffers: src0 = x f32 (quantized W, 2+ rows: x as quantize_act_* rounded it),
// src1 = W, src2 = bias f32 (or unused), dst f32
struct MatMulArgs {
  int64_t x_stride;  // bytes between rows of x
  int64_t w_stride;  // bytes between rows of W
  int64_t d_stride;  // bytes between rows of dst
  int32_t n;         // rows of x (tokens)
  int32_t m;         // rows of W (outputs)
  int32_t k;         // cols of x and W
  int32_t has_bias;
};

// matmul_mv_rms_*: dst = rms_norm(x, nw) . W^T, the rms_norm node fused into the
//   matmul that reads its output (the norm's output is never written)
//   buffers: src0 = x f32 (the norm's input), src1 = W, src2 = nw f32 [k], dst f32
// matmul_mv_glu_*: dst = (act(gate) * up) . W^T, a swiglu / geglu node fused in
//   buffers: src0 = gate f32, src1 = W, src2 = up f32, dst f32
// one activation row (n = 1); grid and threads as matmul_mv_*; no bias
struct MatMulFusedArgs {
  int64_t x_stride;  // bytes between rows of x (rms) or gate (glu)
  int64_t u_stride;  // bytes between rows of up (glu)
  int64_t w_stride;
  int64_t d_stride;
  int32_t n;    // activation rows (tokens)
  int32_t m;    // rows of W
  int32_t k;    // cols of x and W
  int32_t act;  // glu: 0 silu (swiglu), 1 gelu_tanh (geglu)
  float eps;    // rms
  int32_t pad0;
};

// quantize_act_q8_0 / quantize_act_q8_K: dst[r, :] = x[r, :] rounded to the 8-bit
// grid of a quantized weight type's activations (act_quant.h), kept as f32
// buffers: src0 = x f32, dst f32 (a scratch row set the matmuls then read)
// grid: (ceil(cols / (QB * MM_QA_SIMDGROUPS)), rows), 32 * MM_QA_SIMDGROUPS threads
struct ActQuantArgs {
  int64_t x_stride;
  int64_t d_stride;
  int32_t rows;
  int32_t cols;  // a multiple of the block (32 or 256)
};

// get_rows_*: dst[i, :] = table[ids[i], :] (ids outside the table give zeros;
// the host has already reported them as errors)
// buffers: src0 = table, src1 = ids i32, dst f32
struct GetRowsArgs {
  int64_t t_stride;
  int64_t id_stride;
  int64_t d_stride;
  int32_t n;  // ids
  int32_t cols;
  int32_t t_rows;  // rows of the table
  int32_t pad0;
};

// rms_norm_f32: dst = x / sqrt(mean(x^2) + eps) [* w]; one threadgroup per row
// buffers: src0 = x, src1 = w (or unused), dst
struct RmsNormArgs {
  int64_t x_stride;
  int64_t d_stride;
  int32_t rows;
  int32_t cols;
  float eps;
  int32_t has_weight;
};

// softmax_f32: dst = softmax(x * scale), causal: row r sees cols <= n_past + r % n_tokens
// buffers: src0 = x, dst
struct SoftmaxArgs {
  int64_t x_stride;
  int64_t d_stride;
  int32_t rows;
  int32_t cols;
  float scale;
  int32_t causal;
  int32_t n_tokens;
  int32_t n_past;
};

// rope_f32: rotary embedding; one thread per (row, head, pair)
// buffers: src0 = x, src1 = pos i32, src2 = freq_factors f32 (or unused), dst
struct RopeArgs {
  int64_t x_stride;
  int64_t pos_stride;
  int64_t d_stride;
  int32_t rows;
  int32_t n_head;
  int32_t head_dim;
  int32_t n_rot;
  int32_t neox;
  int32_t has_freq_factors;
  float theta_scale;  // freq_base^(-2 / n_rot), computed on the host like the CPU does
  float freq_scale;
  float attn_factor;  // cos and sin scaled by it
  int32_t pad0;
};

// attn_decode_*, attn_prefill_*: causal GQA attention over the KV cache
// buffers: src0 = q f32, src1 = K cache, src2 = V cache (same type), dst f32
// (attn_decode with n_splits > 1: dst = a partials scratch [n_rows][n_head][n_splits][head_dim + 2],
// then attn_combine_f32: src0 = that scratch, dst f32; see attention.metal)
struct AttentionArgs {
  int64_t q_stride;
  int64_t k_stride;
  int64_t v_stride;
  int64_t d_stride;
  int32_t n_rows;    // query rows
  int32_t n_tokens;  // tokens of the step: row i is token i % n_tokens
  int32_t n_past;
  int32_t n_head;
  int32_t n_kv_head;
  int32_t head_dim;
  float scale;
  int32_t tile_keys;  // prefill: keys per threadgroup-memory tile (a multiple of 8)
  int32_t n_splits;   // decode: key ranges split over threadgroups (grid z)
  int32_t window;     // > 0: the query at position p sees keys (p - window, p]
  float softcap;      // > 0: scores softcap * tanh(s / softcap)
  int32_t ring;       // > 0: the cache is a ring, key position j at row j % ring
};

// store_rows_*: dst[n_past + r, :] = convert(src[r, :]) (row (n_past + r) % ring of a ring)
// buffers: src0 = src f32, dst cache
struct StoreRowsArgs {
  int64_t s_stride;
  int64_t d_stride;
  int32_t rows;
  int32_t cols;
  int32_t n_past;
  int32_t ring;  // > 0: the cache is a ring of this many rows
};

// add_f32 / mul_f32 / swiglu_f32 / geglu_f32 / copy_row_f32 (last_row: rows = 1, a_row0 = last),
// scale_f32 / softcap_f32 (dst = f(a), by `value`)
// buffers: src0 = a, src1 = b (or unused), dst
struct BinaryArgs {
  int64_t a_stride;
  int64_t b_stride;
  int64_t d_stride;
  int32_t rows;
  int32_t cols;
  int32_t b_broadcast;  // b is one row used for every row of a
  int32_t a_row0;       // first row of a read (last_row)
  float value;          // scale_f32: the factor; softcap_f32: the cap
  int32_t pad0;
};

#endif  // MM_KERNELS_ARGS_H
