// dst[n, m] = x[n, k] . W[m, k]^T (+ bias[m]); x and dst f32, W in any
// supported type, read in place in its ggml block layout (x rounded to f16 /
// bf16 for F16 / BF16 weights, see mm_act).
//
// matmul_mv_<type>: decode (few rows of x). Each simdgroup owns MM_MV_ROWS
//   rows of W; its 32 lanes walk the row in interleaved chunks (adjacent lanes
//   read adjacent bytes), dequantize in registers, and simd_sum at the end.
//   grid: (ceil(m / (MM_MV_ROWS * MM_MV_SIMDGROUPS)), n), 32 * MM_MV_SIMDGROUPS threads.
// matmul_mm_<type>: prefill. A BM x BN output tile per threadgroup; each step
//   stages a BK-deep slice of W (dequantized, transposed) and of x in
//   threadgroup memory, then 4 simdgroups each multiply-accumulate a 16 x 16
//   quarter of the tile as 2 x 2 simdgroup_float8x8 matrices.
//   grid: (ceil(m / BM), ceil(n / BN)), MM_MM_THREADS threads, 8 KiB shmem.
#include "common.h"
#include "dequant.h"

// Activations as the kernels multiply them: rounded to the weights' type for
// F16 / BF16 weights (as ggml's vec_dot_type and the CPU backend do; llama.cpp's
// greedy output on F16 models depends on it), f32 for every other type.
template <typename Q>
inline float mm_act(float x) {
  return x;
}
template <>
inline float mm_act<DqF16>(float x) {
  return float(half(x));
}
template <>
inline float mm_act<DqBF16>(float x) {
  return bf16_to_f32(f32_to_bf16(x));
}

template <typename Q>
inline void matmul_mv_impl(constant MatMulArgs & args, device const char * src0, device const char * src1,
                           device const char * src2, device char * dst, uint3 tgpig, uint tiisg, uint sgitg) {
  const int row0 = (int(tgpig.x) * MM_MV_SIMDGROUPS + int(sgitg)) * MM_MV_ROWS;
  const int n = int(tgpig.y);
  const int K = args.k;
  device const float * x = (device const float *)(src0 + n * args.x_stride);  // [k]
  const int nchunks = (K + int(Q::CHUNK) - 1) / int(Q::CHUNK);

  float sum[MM_MV_ROWS];
  for (int r = 0; r < MM_MV_ROWS; r++) sum[r] = 0.0f;
  float xv[Q::CHUNK];
  float wv[Q::CHUNK];
  for (int c = int(tiisg); c < nchunks; c += MM_SIMD_WIDTH) {
    const int k0 = c * int(Q::CHUNK);
    for (int i = 0; i < int(Q::CHUNK); i++) xv[i] = k0 + i < K ? mm_act<Q>(x[k0 + i]) : 0.0f;
    for (int r = 0; r < MM_MV_ROWS; r++) {
      if (row0 + r >= args.m) break;
      Q::dequant(src1 + (row0 + r) * args.w_stride, c, wv, K);
      float s = 0.0f;
      for (int i = 0; i < int(Q::CHUNK); i++) s += wv[i] * xv[i];
      sum[r] += s;
    }
  }
  device float * out = (device float *)(dst + n * args.d_stride);  // [m]
  device const float * bias = (device const float *)src2;          // [m]
  // One reduction for the 4 rows (all lanes, whether or not the rows exist).
  const float4 s = simd_sum(float4(sum[0], sum[1], sum[2], sum[3]));
  for (int r = 0; r < MM_MV_ROWS; r++)
    if (tiisg == 0 && row0 + r < args.m) out[row0 + r] = args.has_bias ? s[r] + bias[row0 + r] : s[r];
}

template <typename Q>
inline void matmul_mm_impl(constant MatMulArgs & args, device const char * src0, device const char * src1,
                           device const char * src2, device char * dst, threadgroup char * shmem, uint3 tgpig,
                           uint3 tpitg, uint sgitg) {
  threadgroup float * sx = (threadgroup float *)shmem;  // [BN][BK]: tokens x depth
  threadgroup float * sw = sx + MM_MM_BN * MM_MM_BK;    // [BK][BM]: depth x weight rows
  const int m0 = int(tgpig.x) * MM_MM_BM, n0 = int(tgpig.y) * MM_MM_BN;
  const int K = args.k;
  const int tid = int(tpitg.x);
  const int tn = (int(sgitg) / 2) * 16, tm = (int(sgitg) % 2) * 16;  // this simdgroup's quarter

  simdgroup_float8x8 acc[4];
  for (int i = 0; i < 4; i++) acc[i] = make_filled_simdgroup_matrix<float, 8>(0.0f);

  const int chunks_per_row = MM_MM_BK / int(Q::CHUNK);
  float wv[Q::CHUNK];
  for (int k0 = 0; k0 < K; k0 += MM_MM_BK) {
    for (int u = tid; u < MM_MM_BM * chunks_per_row; u += MM_MM_THREADS) {
      const int r = u / chunks_per_row, cc = u % chunks_per_row;
      const int kk = k0 + cc * int(Q::CHUNK);
      if (m0 + r < args.m && kk < K) {
        Q::dequant(src1 + (m0 + r) * args.w_stride, kk / int(Q::CHUNK), wv, K);
      } else {
        for (int i = 0; i < int(Q::CHUNK); i++) wv[i] = 0.0f;
      }
      for (int i = 0; i < int(Q::CHUNK); i++) sw[(cc * int(Q::CHUNK) + i) * MM_MM_BM + r] = wv[i];
    }
    for (int u = tid; u < MM_MM_BN * MM_MM_BK; u += MM_MM_THREADS) {
      const int r = u / MM_MM_BK, c = u % MM_MM_BK;
      device const float * xr = (device const float *)(src0 + (n0 + r) * args.x_stride);
      sx[u] = n0 + r < args.n && k0 + c < K ? mm_act<Q>(xr[k0 + c]) : 0.0f;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (int kk = 0; kk < MM_MM_BK; kk += 8) {
      simdgroup_float8x8 a0, a1, b0, b1;
      simdgroup_load(a0, sx + (tn + 0) * MM_MM_BK + kk, MM_MM_BK);
      simdgroup_load(a1, sx + (tn + 8) * MM_MM_BK + kk, MM_MM_BK);
      simdgroup_load(b0, sw + kk * MM_MM_BM + tm + 0, MM_MM_BM);
      simdgroup_load(b1, sw + kk * MM_MM_BM + tm + 8, MM_MM_BM);
      simdgroup_multiply_accumulate(acc[0], a0, b0, acc[0]);
      simdgroup_multiply_accumulate(acc[1], a0, b1, acc[1]);
      simdgroup_multiply_accumulate(acc[2], a1, b0, acc[2]);
      simdgroup_multiply_accumulate(acc[3], a1, b1, acc[3]);
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);  // before the next slice overwrites the tiles
  }

  // Stage the tile ([BN][BM], in sx's space) so edge tiles can be written with bounds checks.
  threadgroup float * so = sx;
  simdgroup_store(acc[0], so + (tn + 0) * MM_MM_BM + tm + 0, MM_MM_BM);
  simdgroup_store(acc[1], so + (tn + 0) * MM_MM_BM + tm + 8, MM_MM_BM);
  simdgroup_store(acc[2], so + (tn + 8) * MM_MM_BM + tm + 0, MM_MM_BM);
  simdgroup_store(acc[3], so + (tn + 8) * MM_MM_BM + tm + 8, MM_MM_BM);
  threadgroup_barrier(mem_flags::mem_threadgroup);
  device const float * bias = (device const float *)src2;  // [m]
  for (int u = tid; u < MM_MM_BN * MM_MM_BM; u += MM_MM_THREADS) {
    const int r = u / MM_MM_BM, c = u % MM_MM_BM;
    if (n0 + r < args.n && m0 + c < args.m) {
      device float * out = (device float *)(dst + (n0 + r) * args.d_stride);
      out[m0 + c] = args.has_bias ? so[u] + bias[m0 + c] : so[u];
    }
  }
}

#define MM_MATMUL_KERNELS(SUFFIX, Q)                                                                                 \
  MM_KERNEL(matmul_mv_##SUFFIX, MatMulArgs) { matmul_mv_impl<Q>(args, src0, src1, src2, dst, tgpig, tiisg, sgitg); } \
  MM_KERNEL(matmul_mm_##SUFFIX, MatMulArgs) {                                                                        \
    matmul_mm_impl<Q>(args, src0, src1, src2, dst, shmem, tgpig, tpitg, sgitg);                                      \
  }

MM_MATMUL_KERNELS(f32, DqF32)
MM_MATMUL_KERNELS(f16, DqF16)
MM_MATMUL_KERNELS(bf16, DqBF16)
MM_MATMUL_KERNELS(q8_0, DqQ8_0)
MM_MATMUL_KERNELS(q4_0, DqQ4_0)
MM_MATMUL_KERNELS(q4_1, DqQ4_1)
MM_MATMUL_KERNELS(q5_0, DqQ5_0)
MM_MATMUL_KERNELS(q5_1, DqQ5_1)
MM_MATMUL_KERNELS(q4_K, DqQ4_K)
MM_MATMUL_KERNELS(q5_K, DqQ5_K)
MM_MATMUL_KERNELS(q6_K, DqQ6_K)
