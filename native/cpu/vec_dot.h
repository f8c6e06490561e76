// Row-by-row dot products between a weight row (any block type, read in place)
// and one activation row already converted to the matching activation format:
//   f32/f16/bf16 weights   x f32 activations (for f16/bf16 weights rounded to
//                          f16/bf16 first by matmul.cc, as ggml's vec_dot_type)
//   q4_0, q5_0, q8_0       x q8_0 activations (integer dot products)
//   q4_1, q5_1             x q8_1 activations
//   q2_K, q3_K, q4_K, q5_K, q6_K, iq4_xs  x q8_K activations
//   iq4_nl                 x q8_0 activations
// This mirrors llama.cpp, whose matmuls also quantize activations, so both
// engines round the same way.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../core/dtype.h"

namespace mm {

using VecDotFn = float (*)(int64_t n, const void* w, const void* a);

struct DotKernels {
  VecDotFn f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q4_K, q5_K, q6_K;
  VecDotFn q2_K, q3_K, iq4_nl, iq4_xs;
};

// Register-blocked tile of dots: out[c * out_stride + r] = dot(W row r, activation
// row c) for r < nr <= kTileW, c < nc <= kTileA. One pass over k for the whole
// tile, so each weight block is loaded once per nc activation rows and each
// activation block once per nr weight rows (decode: nc = 1, several weight rows
// share one activation pass; prefill: weights are reused from registers).
// Integer block sums are exact, so results equal the row-by-row kernels' up to
// float summation order.
using DotTileFn = void (*)(int64_t k, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride, int nc,
                           float* out, size_t out_stride);
constexpr int kTileW = 4, kTileA = 3;  // 12 accumulators: what 16 ymm registers hold

// What a tile kernel reads after each activation row besides the act_type row itself: the AVX-512 q4_0 / iq4_nl
// decode tiles take the row's blocks regrouped with their zero-point sums and scales, the q4_K / q5_K tiles its q8_K
// blocks' bytes reordered to meet two runs of nibbles per load, computed once per activation row (fill) rather than
// once per 4-row tile. A row for such a kernel: the act_type row, padding up to a multiple of 64 bytes, then bytes(k)
// bytes written by fill(k, row, extra), and the rows 64-byte aligned (the row kernel and the other levels' tiles read
// only the first part). Every caller of such a tile must lay its rows out so: matmul.cc and the SIMD test (attention's
// q8_0 tile has none).
struct ActExtra {
  size_t (*bytes)(int64_t k) = nullptr;  // null: the kernel reads the act_type row only
  void (*fill)(int64_t k, const void* row, void* extra) = nullptr;
};
struct TileKernels {
  DotTileFn q4_0 = nullptr, q8_0 = nullptr, q4_K = nullptr, q6_K = nullptr;  // nullptr: use the row kernel
  DotTileFn q5_0 = nullptr, q5_K = nullptr;
  DotTileFn q2_K = nullptr, q3_K = nullptr, iq4_nl = nullptr, iq4_xs = nullptr;
  // The q4_K / q5_K / q6_K tiles over rows interleaved 4 at a time (regroup_x4.h): w one group, nr 4, w_stride
  // unused. (q6_K at AVX2, which has no q6_K tile: its row kernel over the group's 4 rows at once.)
  DotTileFn q4_K_x4 = nullptr, q5_K_x4 = nullptr, q6_K_x4 = nullptr;
};

// GELU, tanh approximation (gemma's gelu_pytorch_tanh, ggml_gelu): 0.5 x (1 + tanh u)
// written as x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3), which keeps its
// relative precision where 1 + tanh u would cancel (x << 0).
constexpr float kGeluCoefA = 0.044715f, kSqrt2OverPi = 0.79788456080286535588f;
inline float gelu_tanh(float x) {
  return x / (1.0f + std::exp(-2.0f * kSqrt2OverPi * x * (1.0f + kGeluCoefA * x * x)));
}

// Keeps the compiler from fusing the rounding of x into a following add or
// subtract (an FMA rounds once, so it would change the bits).
template <typename T>
inline void opaque(T& x) {
#if defined(__GNUC__)
  __asm__("" : "+x"(x));
#endif
}

// Vector helpers for attention and elementwise ops (AVX2 or NEON where available).
struct VecOps {
  void (*axpy_f32)(int64_t n, float a, const float* x, float* y);     // y += a * x
  void (*axpy_f16)(int64_t n, float a, const uint16_t* x, float* y);  // y += a * half(x)
  void (*scale)(int64_t n, float a, float* y);                        // y *= a
  // y *= a, returns the largest y (n >= 1; NaN never wins, as std::max): scale then
  // a maximum in one pass over a chunk's attention scores, the same bits as both.
  float (*scale_max)(int64_t n, float a, float* y);
  float (*exp_sub_sum)(int64_t n, float* x, float mx);                  // x = exp(x - mx), returns sum(x)
  void (*swiglu)(int64_t n, const float* g, const float* u, float* y);  // y = silu(g) * u
  // Attention over a chunk of cache rows for the g query heads that share one KV head, each row
  // loaded once for all g: n rows of d values `stride` bytes apart, query head h's vector at
  // q + h * d. scores_f16: out[h * os + j] = dot(f16 row j, q + h * d) (d % 8 == 0); a row's
  // score has the same bits whatever n and g are and wherever the row sits among the n.
  // pf != 0: each row's bytes pf past it are prefetched as it is read (the next chunk's row).
  void (*scores_f16)(int64_t n, const uint8_t* rows, size_t stride, int d, const float* q, int g, float* out,
                     int64_t os, ptrdiff_t pf);
  // out[h * os + j] = dot(q8_0 row j, q8_0 query h at qq + h * qb bytes) (d % 32 == 0): the
  // integer block sums times both scales, as llama.cpp's q8_0 x q8_0 dot; the same bits
  // for a row wherever it sits and whatever g.
  void (*scores_q8_0)(int64_t n, const uint8_t* rows, size_t stride, int d, const uint8_t* qq, size_t qb, int g,
                      float* out, int64_t os, ptrdiff_t pf);
  // acc[h * d + c] += sum_j s[h * ss + j] * row j [c] for h < g, c < d, in the order of j: f16 rows
  // (d % 8 == 0), or q8_0 rows (d % 32 == 0; d / 32 blocks each, dequantized as accumulated: the
  // weight s * d_block rounded, then times each int8 value).
  void (*accum_f16)(int64_t n, const float* s, int64_t ss, const uint8_t* rows, size_t stride, int d, int g, float* acc,
                    ptrdiff_t pf);
  void (*accum_q8_0)(int64_t n, const float* s, int64_t ss, const uint8_t* rows, size_t stride, int d, int g,
                     float* acc, ptrdiff_t pf);
  // y = half(x), round to nearest even (the f16 KV cache's stores).
  void (*f32_to_f16)(int64_t n, const float* x, uint16_t* y);
  // y = gelu(g) * u, GELU's tanh form written as g * sigmoid(2 * sqrt(2/pi) * (g + 0.044715 g^3)).
  void (*geglu)(int64_t n, const float* g, const float* u, float* y);
  // x = c * tanh(x / c) in place (logit soft-capping).
  void (*softcap)(int64_t n, float c, float* x);
  // The sampler's weights: w = exp(v * inv - sub), the product rounded before the
  // subtraction (never fused), every element through the level's vector exp (a
  // tail padded), so w has the bits bucket_mass adds for the same v.
  void (*exp_weights)(int64_t n, const float* v, float inv, float sub, float* w);
  // The sampler's histogram pass, one read of v[0, n) (NaN counts as -inf):
  // element i falls in bucket b = min((vmax - v) * scale, nb - 1) truncated
  // (-inf, NaN and a NaN product land in nb - 1), and per bucket, in position
  // order, mass[b * s + k] += exp_weights(v, inv[k], sub[k]) for k < nw (1 or 2)
  // and, with `count`, mass[b * s + nw] += 1; s = nw + count. mass is not cleared.
  void (*bucket_mass)(int64_t n, const float* v, float vmax, float scale, int nb, int nw, const float* inv,
                      const float* sub, bool count, double* mass);
  // The positions i of v[0, n) in bucket b (bucket_mass's bucket), ascending,
  // into pos; returns how many.
  int64_t (*bucket_members)(int64_t n, const float* v, float vmax, float scale, int nb, int b, int32_t* pos);
  // *mn = the smallest finite value of x[0, n) (FLT_MAX if none), *mx = the
  // largest (-inf if none); NaN is skipped.
  void (*finite_min_max)(int64_t n, const float* x, float* mn, float* mx);
};
const VecOps& vec_ops();  // the best for this CPU (matmul.cc)

// The VecOps of the functions every level's file defines under the same names
// (axpy_f32, scale_f32, swiglu_f32, scores_f16, ...), in the including file's
// namespace: one list of fields for all levels, filled by name (the table's
// order never has to match the struct's).
#define MM_VEC_OPS_OF_THIS_FILE()      \
  ([] {                                \
    ::mm::VecOps o{};                  \
    o.axpy_f32 = axpy_f32;             \
    o.axpy_f16 = axpy_f16;             \
    o.scale = scale_f32;               \
    o.scale_max = scale_max;           \
    o.exp_sub_sum = exp_sub_sum;       \
    o.swiglu = swiglu_f32;             \
    o.scores_f16 = scores_f16;         \
    o.scores_q8_0 = scores_q8_0;       \
    o.accum_f16 = accum_f16;           \
    o.accum_q8_0 = accum_q8_0;         \
    o.f32_to_f16 = f32_to_f16;         \
    o.geglu = geglu_f32;               \
    o.softcap = softcap_f32;           \
    o.exp_weights = exp_weights;       \
    o.bucket_mass = bucket_mass;       \
    o.bucket_members = bucket_members; \
    o.finite_min_max = finite_min_max; \
    return o;                          \
  }())

namespace scalar {
const DotKernels& kernels();
const VecOps& vec_ops();
}  // namespace scalar
#if defined(MM_HAVE_AVX2_KERNELS)
namespace avx2 {
const DotKernels& kernels();
const TileKernels& tile_kernels();
const VecOps& vec_ops();
// AVX2 activation quantizers (same rounding as the reference ones).
void quantize_row_q8_0(const float* x, void* y, int64_t n);
void quantize_row_q8_K(const float* x, void* y, int64_t n);
void quantize_row_q8_1(const float* x, void* y, int64_t n);
// The low-bit types (vec_dot_lowbit_avx2.cc): q2_K, q3_K, iq4_nl, iq4_xs row
// kernels into k, their tiles into t (iq4_nl's AVX-VNNI tile if vnni).
void add_lowbit_kernels(DotKernels& k);
void add_lowbit_tiles(TileKernels& t, bool vnni);
}  // namespace avx2
#endif
#if defined(MM_HAVE_AVX512_KERNELS)
namespace avx512 {
// Decode tiles with 512-bit vectors (vec_dot_avx512.cc): q4_0 / q5_0 / iq4_nl, the K-quants and iq4_xs;
// q8_0 and the multi-row q4_0 / iq4_nl tiles are the AVX2 ones (q5_0: row kernels).
const TileKernels& tile_kernels();
// The extra activation data its tile for weight type t reads (q4_0, iq4_nl, q4_K, q5_K), or none.
ActExtra act_extra(DType t);
// The AVX2 vector ops with the attention rows' 512-bit kernels (f16 and q8_0, attention_rows_avx512.cc)
// and the sampler's passes on 16 lanes (add_sampler_ops, sampler_avx512.cc).
const VecOps& vec_ops();
void add_sampler_ops(VecOps& o);
}  // namespace avx512
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
namespace neon {
const DotKernels& kernels();
const VecOps& vec_ops();  // vec_ops_neon.cc, plain Armv8 (q8_0 scores by widening multiplies)
#if defined(MM_HAVE_NEON_PANELS)
const VecOps& vec_ops_dotprod();  // the same with sdot q8_0 scores (where cpu_use_neon_dotprod)
#endif
}  // namespace neon
#endif

struct MatmulKernel {
  DType act_type;  // format activations are converted to
  VecDotFn dot;
  DotTileFn tile = nullptr;  // optional register-blocked kernel (same results)
  ActExtra extra{};          // what tile needs after each activation row (ActExtra)
};

// The kernel for a weight type on this CPU (AVX2 / NEON / scalar, chosen at
// run time); throws ERR_UNSUPPORTED for types that cannot be matmul weights.
MatmulKernel matmul_kernel(DType weight_type);
// Converts one activation row to `act_type` (a quantize_row for quantized types).
void convert_activations(DType act_type, const float* x, void* dst, int64_t n);

}  // namespace mm
