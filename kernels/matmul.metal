// dst[n, m] = x[n, k] . W[m, k]^T (+ bias[m]); x and dst f32, W in any
// supported type (kernels/dequant.h), read in place in its ggml block layout;
// x rounded to f16 / bf16 for F16 / BF16 weights (mm_act, as the CPU backend);
// quantized weights meet x on the CPU's q8_0 / q8_K grid (act_quant.h): one row
// rounds it in the kernel, more rows read it as quantize_act.metal rounded it
// (the plan binds that copy as x).
//
// matmul_mv_<type>: one activation row (decode; the body is matvec.h's mv_rows_act).
//   shmem: quantized weights: 8 bytes per activation block (the block scales).
//   grid: (ceil(m / (MM_MV_ROWS * MM_MV_SIMDGROUPS)), n), 32 * MM_MV_SIMDGROUPS threads.
// matmul_mvb_<type>: 2..MM_MV_BATCH activation rows (batched decode; matvec.h's mvb_rows).
//   grid: (ceil(m / (MM_MV_ROWS * MM_MV_SIMDGROUPS)), ceil(n / MM_MV_BATCH)), 32 * MM_MV_SIMDGROUPS threads.
// matmul_mm_<type>: prefill. A BM x BN (64 weight rows x 32 tokens) output tile
//   per threadgroup; each BK = 32 deep step stages W dequantized (as the type's
//   STAGE: half for f16, float for the rest) and x in the same type, in
//   padded threadgroup tiles; 4 simdgroups each own a 32 x 16
//   quarter as 8 simdgroup_matrix accumulators (f32). Full tiles without bias
//   are stored straight from the accumulators; edge tiles (and bias) go
//   through threadgroup memory with bounds checks.
//   grid: (ceil(m / BM), ceil(n / BN)), MM_MM_THREADS threads,
//   shmem: mm_gemm_shmem_bytes(sizeof(STAGE)) (args.h).
#include "common.h"
#include "dequant.h"
#include "matvec.h"

template <typename Q>
inline void matmul_mv_impl(constant MatMulArgs & args, device const char * src0, device const char * src1,
                           device const char * src2, device char * dst, threadgroup char * shmem, uint3 tgpig,
                           uint tiisg, uint sgitg) {
  const int row0 = (int(tgpig.x) * MM_MV_SIMDGROUPS + int(sgitg)) * MM_MV_ROWS;
  const int n = int(tgpig.y);
  device const float * x = (device const float *)(src0 + n * args.x_stride);  // [k]
  device float * out = (device float *)(dst + n * args.d_stride);             // [m]
  mv_rows_act<Q>(typename Q::ACT(), x, src1, args.w_stride, args.m, args.k, (device const float *)src2, args.has_bias,
                 out, row0, shmem, tiisg, sgitg);
}

template <typename Q>
inline void matmul_mvb_impl(constant MatMulArgs & args, device const char * src0, device const char * src1,
                            device const char * src2, device char * dst, uint3 tgpig, uint tiisg, uint sgitg) {
  const int row0 = (int(tgpig.x) * MM_MV_SIMDGROUPS + int(sgitg)) * MM_MV_ROWS;
  const int n0 = int(tgpig.y) * MM_MV_BATCH;
  const int nb = min(MM_MV_BATCH, args.n - n0);  // activation rows of this batch (uniform)
  device const float * xs[MM_MV_BATCH];          // [k] each
  for (int j = 0; j < MM_MV_BATCH; j++) xs[j] = (device const float *)(src0 + min(n0 + j, args.n - 1) * args.x_stride);
  mvb_rows<Q>(xs, nb, src1, args.w_stride, args.m, args.k, (device const float *)src2, args.has_bias, dst,
              args.d_stride, n0, row0, tiisg);
}

template <typename Q>
inline void matmul_mm_impl(constant MatMulArgs & args, device const char * src0, device const char * src1,
                           device const char * src2, device char * dst, threadgroup char * shmem, uint3 tgpig,
                           uint3 tpitg, uint sgitg) {
  typedef typename Q::STAGE S;
  threadgroup S * sw = (threadgroup S *)shmem;     // [BK][LDW]: depth x weight rows
  threadgroup S * sx = sw + MM_MM_BK * MM_MM_LDW;  // [BN][LDX]: tokens x depth
  const int m0 = int(tgpig.x) * MM_MM_BM, n0 = int(tgpig.y) * MM_MM_BN;
  const int K = args.k;
  const int tid = int(tpitg.x);
  const int wm = (int(sgitg) & 1) * 32, tn = (int(sgitg) >> 1) * 16;  // this simdgroup's 32 x 16 quarter

  // Loaders: thread tid dequantizes 16 depth values of weight row tid % BM, and copies
  // 8 depth values of token tid / 4. Rows past m / n are clamped (their results are dropped).
  const int lw = tid % MM_MM_BM, lk = (tid / MM_MM_BM) * 16;
  device const char * wrow = src1 + min(m0 + lw, args.m - 1) * args.w_stride;
  const int lt = tid / 4, lx = (tid % 4) * 8;
  device const float * xrow = (device const float *)(src0 + min(n0 + lt, args.n - 1) * args.x_stride);

  simdgroup_float8x8 acc[8];  // [token tile i][weight tile j] at 4 * i + j
  for (int i = 0; i < 8; i++) acc[i] = make_filled_simdgroup_matrix<float, 8>(0.0f);

  for (int k0 = 0; k0 < K; k0 += MM_MM_BK) {
    float wv[16];
    Q::dequant16(wrow, (k0 + lk) / 16, K, wv);
    float xv[8];
    for (int i = 0; i < 8; i++) xv[i] = k0 + lx + i < K ? mm_act<Q>(xrow[k0 + lx + i]) : 0.0f;
    threadgroup_barrier(mem_flags::mem_threadgroup);  // the previous step's tiles are consumed
    for (int i = 0; i < 16; i++) sw[(lk + i) * MM_MM_LDW + lw] = S(wv[i]);
    for (int i = 0; i < 8; i++) sx[lt * MM_MM_LDX + lx + i] = S(xv[i]);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (int kk = 0; kk < MM_MM_BK; kk += 8) {
      simdgroup_matrix<S, 8, 8> a[2], b[4];
      for (int i = 0; i < 2; i++) simdgroup_load(a[i], sx + (tn + 8 * i) * MM_MM_LDX + kk, MM_MM_LDX);
      for (int j = 0; j < 4; j++) simdgroup_load(b[j], sw + kk * MM_MM_LDW + wm + 8 * j, MM_MM_LDW);
      for (int i = 0; i < 8; i++) simdgroup_multiply_accumulate(acc[i], a[i / 4], b[i % 4], acc[i]);
    }
  }

  if (m0 + MM_MM_BM <= args.m && n0 + MM_MM_BN <= args.n && !args.has_bias && args.d_stride % 4 == 0) {
    // A full tile: straight from the accumulators to dst.
    const int ld = int(args.d_stride / 4);
    device float * out = (device float *)(dst + (n0 + tn) * args.d_stride) + m0 + wm;
    for (int i = 0; i < 8; i++) simdgroup_store(acc[i], out + (8 * (i / 4)) * ld + 8 * (i % 4), ld);
    return;
  }
  // An edge tile (or bias): stage [BN][LDO] floats, then bounded stores.
  threadgroup float * so = (threadgroup float *)shmem;
  threadgroup_barrier(mem_flags::mem_threadgroup);  // every simdgroup is done with sw / sx
  for (int i = 0; i < 8; i++)
    simdgroup_store(acc[i], so + (tn + 8 * (i / 4)) * MM_MM_LDO + wm + 8 * (i % 4), MM_MM_LDO);
  threadgroup_barrier(mem_flags::mem_threadgroup);
  device const float * bias = (device const float *)src2;  // [m]
  for (int u = tid; u < MM_MM_BN * MM_MM_BM; u += MM_MM_THREADS) {
    const int r = u / MM_MM_BM, c = u % MM_MM_BM;
    if (n0 + r < args.n && m0 + c < args.m) {
      device float * out = (device float *)(dst + (n0 + r) * args.d_stride);
      const float v = so[r * MM_MM_LDO + c];
      out[m0 + c] = args.has_bias ? v + bias[m0 + c] : v;
    }
  }
}

#define MM_MATMUL_KERNELS(SUFFIX, Q)                                                                                   \
  MM_KERNEL(matmul_mv_##SUFFIX, MatMulArgs) {                                                                          \
    matmul_mv_impl<Q>(args, src0, src1, src2, dst, shmem, tgpig, tiisg, sgitg);                                        \
  }                                                                                                                    \
  MM_KERNEL(matmul_mvb_##SUFFIX, MatMulArgs) { matmul_mvb_impl<Q>(args, src0, src1, src2, dst, tgpig, tiisg, sgitg); } \
  MM_KERNEL(matmul_mm_##SUFFIX, MatMulArgs) {                                                                          \
    matmul_mm_impl<Q>(args, src0, src1, src2, dst, shmem, tgpig, tpitg, sgitg);                                        \
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
MM_MATMUL_KERNELS(q2_K, DqQ2_K)
MM_MATMUL_KERNELS(q3_K, DqQ3_K)
MM_MATMUL_KERNELS(iq4_nl, DqIQ4_NL)
MM_MATMUL_KERNELS(iq4_xs, DqIQ4_XS)
