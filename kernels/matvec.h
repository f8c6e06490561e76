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
// mvb_rows: 2..MM_MV_BATCH activation rows (batched decode). Each lane
//   dequantizes 16 weights of a row into registers once and multiplies them
//   with the same 16 columns of every activation row of the batch, so the
//   batch shares each weight load.
#ifndef MM_KERNELS_MATVEC_H
#define MM_KERNELS_MATVEC_H

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

#endif  // MM_KERNELS_MATVEC_H
