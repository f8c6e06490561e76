// The decode matmul bodies: matmul.metal's (x read as it is); mv_rows also
// matmul_fused.metal's (x computed as it is loaded: an rms_norm or a gated
// activation fused in). P is how a lane reads an activation row: a
// `device const float *`, or a view with the same x + i and x[i] (dequant.h).
//
// mv_rows: one activation row. A simdgroup owns MM_MV_ROWS rows of W from
//   row0; lane l takes parts l, l + 32, ... of the row (16 or 32 values each,
//   dequant.h): it loads the part's activations once, pre-scaled, and dots
//   them with the same part of each of its rows. One float4 simd_sum at the
//   end. Rows past m are clamped (read twice, never written).
// mv_rows_act: mv_rows with x rounded to the weights' activation grid in the kernel
//   (one activation row: the plain decode matmul and matmul_fused.metal's).
// mvb_rows: 2..MM_MV_BATCH activation rows (batched decode). Each lane
//   dequantizes 16 weights of a row into registers once and multiplies them
//   with the same 16 columns of every activation row of the batch, so the
//   batch shares each weight load.
#ifndef MM_KERNELS_MATVEC_H
#define MM_KERNELS_MATVEC_H

#include "act_quant.h"
#include "common.h"
#include "dequant.h"

// Activations as a weight type's kernels multiply them: f16 / bf16 weights
// round them to their type (DqFloat::act), the rest take them as they are.
template <typename Q>
inline float mm_act(float x) {
  return x;
}
template <>
inline float mm_act<DqF16>(float x) {
  return DqF16::act(x);
}
template <>
inline float mm_act<DqBF16>(float x) {
  return DqBF16::act(x);
}

// out[row0 .. row0 + MM_MV_ROWS) = x . W[row]^T (+ bias), for one simdgroup.
template <typename Q, typename P>
inline void mv_rows(P x, device const char * w0, int64_t w_stride, int m, int k, device const float * bias,
                    int has_bias, device float * out, int row0, uint tiisg) {
  device const char * w[MM_MV_ROWS];
  for (int r = 0; r < MM_MV_ROWS; r++) w[r] = w0 + min(row0 + r, m - 1) * w_stride;
  const int nparts = Q::parts(k);
  float sum[MM_MV_ROWS];
  for (int r = 0; r < MM_MV_ROWS; r++) sum[r] = 0.0f;
  for (int p = int(tiisg); p < nparts; p += MM_SIMD_WIDTH) {
    typename Q::X xv;
    Q::load_x(x, p, k, xv);
    for (int r = 0; r < MM_MV_ROWS; r++) sum[r] += Q::vec_dot(w[r], p, k, xv);
  }
  const float4 s = simd_sum(float4(sum[0], sum[1], sum[2], sum[3]));
  const int r = int(tiisg);
  if (r < MM_MV_ROWS && row0 + r < m) out[row0 + r] = has_bias ? s[r] + bias[row0 + r] : s[r];
}

// Rows n0 .. n0 + nb of dst (nb <= MM_MV_BATCH, uniform), activation row j read through xs[j].
template <typename Q, typename P>
inline void mvb_rows(thread const P * xs, int nb, device const char * w0, int64_t w_stride, int m, int k,
                     device const float * bias, int has_bias, device char * dst, int64_t d_stride, int n0, int row0,
                     uint tiisg) {
  const int nchunks = (k + 15) / 16;
  float acc[MM_MV_ROWS][MM_MV_BATCH];
  for (int r = 0; r < MM_MV_ROWS; r++)
    for (int j = 0; j < MM_MV_BATCH; j++) acc[r][j] = 0.0f;
  for (int c = int(tiisg); c < nchunks; c += MM_SIMD_WIDTH) {
    const int e0 = 16 * c;
    for (int r = 0; r < MM_MV_ROWS; r++) {
      float wv[16];
      Q::dequant16(w0 + min(row0 + r, m - 1) * w_stride, c, k, wv);
      for (int j = 0; j < MM_MV_BATCH; j++) {
        if (j >= nb) break;
        float4 xv[4];
        load_x16(xs[j], e0, k, xv);
        for (int i = 0; i < 4; i++)
          xv[i] = float4(mm_act<Q>(xv[i][0]), mm_act<Q>(xv[i][1]), mm_act<Q>(xv[i][2]), mm_act<Q>(xv[i][3]));
        float4 t = float4(0.0f);
        for (int i = 0; i < 4; i++) t += float4(wv[4 * i], wv[4 * i + 1], wv[4 * i + 2], wv[4 * i + 3]) * xv[i];
        acc[r][j] += (t[0] + t[1]) + (t[2] + t[3]);
      }
    }
  }
  for (int r = 0; r < MM_MV_ROWS; r++) {
    for (int j0 = 0; j0 < MM_MV_BATCH; j0 += 4) {
      const float4 s = simd_sum(float4(acc[r][j0], acc[r][j0 + 1], acc[r][j0 + 2], acc[r][j0 + 3]));
      const int j = j0 + int(tiisg);
      if (tiisg < 4 && j < nb && row0 + r < m) {
        device float * out = (device float *)(dst + (n0 + j) * d_stride);  // [m]
        out[row0 + r] = has_bias ? s[tiisg] + bias[row0 + r] : s[tiisg];
      }
    }
  }
}

// A view's values rounded to grid A with the block scales in sc (act_block_scales).
// Every load_x reads one part through x + offset, and a part (16 or 32 values
// from a multiple of 16) lies inside one block, so the view takes the scales of
// the block its offset falls in, once per part, and uses them for x[i]
// (test/metal-fused.test.ts would see a read across blocks: k spans several).
template <typename V, typename A>
struct RoundedIn {
  V in;                          // the unrounded view, from element `base` of the row
  threadgroup const float * sc;  // [k / QB][2] act_quant.h's scales of each block
  int base;
  float2 s;  // the scales of block base / QB
  RoundedIn operator+(int o) const {
    const int b = (base + o) / int(A::QB);
    RoundedIn v = {in + o, sc, base + o, float2(sc[2 * b], sc[2 * b + 1])};
    return v;
  }
  float operator[](int i) const { return act_round(in[i], s); }
};

// Every block's scales of a view's row (all threads of the threadgroup call it).
template <typename A, typename V>
inline void act_block_scales(V in, int k, threadgroup float * sc, uint tiisg, uint sgitg) {
  for (int b = int(sgitg); b < k / int(A::QB); b += MM_MV_SIMDGROUPS) {
    float amax = 0.0f;
    for (int i = int(tiisg); i < int(A::QB); i += MM_SIMD_WIDTH) amax = fmax(amax, fabs(in[b * int(A::QB) + i]));
    amax = simd_max(amax);
    const float2 s = A::scales(amax);
    if (tiisg == 0) {
      sc[2 * b] = s[0];
      sc[2 * b + 1] = s[1];
    }
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
}

// mv_rows over x rounded first to the weights' 8-bit grid when they have one
// (act_quant.h): the threadgroup computes each block's scales into threadgroup
// memory (its simdgroups take alternate blocks), then mv_rows loads through
// RoundedIn, which rounds each value with its block's scales. Float weights:
// mv_rows as it is. shmem: 8 bytes per block (k / 32 or k / 256 blocks).
template <typename Q, typename V>
inline void mv_rows_act(ActNone, V in, device const char * w0, int64_t w_stride, int m, int k,
                        device const float * bias, int has_bias, device float * out, int row0, threadgroup char *,
                        uint tiisg, uint) {
  mv_rows<Q>(in, w0, w_stride, m, k, bias, has_bias, out, row0, tiisg);
}
template <typename Q, typename V, typename A>
inline void mv_rows_act(A, V in, device const char * w0, int64_t w_stride, int m, int k, device const float * bias,
                        int has_bias, device float * out, int row0, threadgroup char * shmem, uint tiisg, uint sgitg) {
  threadgroup float * sc = (threadgroup float *)shmem;  // [k / QB][2]
  act_block_scales<A>(in, k, sc, tiisg, sgitg);
  const RoundedIn<V, A> r = {in, sc, 0, float2(sc[0], sc[1])};
  mv_rows<Q>(r, w0, w_stride, m, k, bias, has_bias, out, row0, tiisg);
}

#endif  // MM_KERNELS_MATVEC_H
