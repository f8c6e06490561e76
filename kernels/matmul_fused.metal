// Decode matmuls with the node that produces their input fused in, so that
// input ([n, k] f32) is never written to memory nor read back, and its node
// costs no dispatch of its own (native/metal/plan.cc decides when a graph
// allows it; docs/apple-silicon.md gives the arithmetic):
//
// matmul_mv_rms_<type>: x -> rms_norm(x) * nw -> . W^T. Every simdgroup
//   first sums x^2 over the row itself (k floats from cache, one simd_sum),
//   then loads x[i] * scale * nw[i] where the plain kernel loads x[i]: the
//   same expression as rms_norm_f32, so the f16 / bf16 rounding of the
//   activations (mm_act) sees the same values as unfused.
// matmul_mv_glu_<type>: gate, up -> act(gate) * up -> . W^T (silu or
//   gelu_tanh, common.h's expressions, as elementwise.metal's swiglu / geglu).
//
// Quantized weights: the CPU backend rounds the norm's / activation's output to
// the weights' 8-bit activation grid (act_quant.h) before its integer dot, so the
// fused kernels do too, after computing it (matvec.h's mv_rows_act: one more pass
// over the row's inputs, computed again, an exp per value for glu).
// shmem: 8 bytes per block (k / 32 or k / 256 blocks).
//
// One activation row (decode) only: the body is matvec.h's mv_rows reading
// through a view (NormIn, GluIn) instead of a device pointer, so each
// activation is computed once per part and simdgroup and shared by its 4
// weight rows. Batched rows (mvb_rows) re-read every activation once per
// weight row and batch row: a fused activation would be recomputed 4 times
// as often (an exp per 4 weights per row for glu), so 2-8 rows run unfused.
//   grid and threads: as matmul_mv_* (matmul.metal).
#include "common.h"
#include "dequant.h"
#include "matvec.h"

// An rms_norm's output row as a matmul loads it: x[i] * scale * nw[i].
struct NormIn {
  device const float * x;   // [k] the norm's input row (from element 0 of this view)
  device const float * nw;  // [k] the norm's weight
  float scale;              // 1 / sqrt(mean(x^2) + eps) of the whole row
  NormIn operator+(int o) const {
    NormIn v = {x + o, nw + o, scale};
    return v;
  }
  float operator[](int i) const { return x[i] * scale * nw[i]; }
};

// A gated activation's output row: act(gate[i]) * up[i].
struct GluIn {
  device const float * g;  // [k] gate row
  device const float * u;  // [k] up row
  int geglu;               // 0: silu, 1: gelu_tanh (uniform)
  GluIn operator+(int o) const {
    GluIn v = {g + o, u + o, geglu};
    return v;
  }
  float operator[](int i) const {
    const float a = g[i];
    return (geglu ? mm_gelu_tanh(a) : mm_silu(a)) * u[i];
  }
};

// rms_norm_f32's scale of one row, computed by one simdgroup (every lane gets it).
inline float rms_row_scale(device const float * x, int k, float eps, uint tiisg) {
  float ss = 0.0f;
  for (int i = int(tiisg); i < k; i += MM_SIMD_WIDTH) ss += x[i] * x[i];
  ss = simd_sum(ss);
  return 1.0f / precise::sqrt(ss / float(k) + eps);
}

inline device const float * fused_row(device const char * base, int64_t stride, int r) {
  return (device const float *)(base + r * stride);
}

template <typename Q>
inline void matmul_mv_rms_impl(constant MatMulFusedArgs & args, device const char * src0, device const char * src1,
                               device const char * src2, device char * dst, threadgroup char * shmem, uint3 tgpig,
                               uint tiisg, uint sgitg) {
  const int row0 = (int(tgpig.x) * MM_MV_SIMDGROUPS + int(sgitg)) * MM_MV_ROWS;
  const int n = int(tgpig.y);
  device const float * x = fused_row(src0, args.x_stride, n);  // [k]
  const NormIn in = {x, (device const float *)src2, rms_row_scale(x, args.k, args.eps, tiisg)};
  device float * out = (device float *)(dst + n * args.d_stride);  // [m]
  mv_rows_act<Q>(typename Q::ACT(), in, src1, args.w_stride, args.m, args.k, (device const float *)src2, 0, out, row0,
                 shmem, tiisg, sgitg);
}

template <typename Q>
inline void matmul_mv_glu_impl(constant MatMulFusedArgs & args, device const char * src0, device const char * src1,
                               device const char * src2, device char * dst, threadgroup char * shmem, uint3 tgpig,
                               uint tiisg, uint sgitg) {
  const int row0 = (int(tgpig.x) * MM_MV_SIMDGROUPS + int(sgitg)) * MM_MV_ROWS;
  const int n = int(tgpig.y);
  const GluIn in = {fused_row(src0, args.x_stride, n), fused_row(src2, args.u_stride, n), args.act};
  device float * out = (device float *)(dst + n * args.d_stride);  // [m]
  mv_rows_act<Q>(typename Q::ACT(), in, src1, args.w_stride, args.m, args.k, (device const float *)src2, 0, out, row0,
                 shmem, tiisg, sgitg);
}

#define MM_MATMUL_FUSED_KERNELS(SUFFIX, Q)                                          \
  MM_KERNEL(matmul_mv_rms_##SUFFIX, MatMulFusedArgs) {                              \
    matmul_mv_rms_impl<Q>(args, src0, src1, src2, dst, shmem, tgpig, tiisg, sgitg); \
  }                                                                                 \
  MM_KERNEL(matmul_mv_glu_##SUFFIX, MatMulFusedArgs) {                              \
    matmul_mv_glu_impl<Q>(args, src0, src1, src2, dst, shmem, tgpig, tiisg, sgitg); \
  }

MM_MATMUL_FUSED_KERNELS(f32, DqF32)
MM_MATMUL_FUSED_KERNELS(f16, DqF16)
MM_MATMUL_FUSED_KERNELS(bf16, DqBF16)
MM_MATMUL_FUSED_KERNELS(q8_0, DqQ8_0)
MM_MATMUL_FUSED_KERNELS(q4_0, DqQ4_0)
MM_MATMUL_FUSED_KERNELS(q4_1, DqQ4_1)
MM_MATMUL_FUSED_KERNELS(q5_0, DqQ5_0)
MM_MATMUL_FUSED_KERNELS(q5_1, DqQ5_1)
MM_MATMUL_FUSED_KERNELS(q4_K, DqQ4_K)
MM_MATMUL_FUSED_KERNELS(q5_K, DqQ5_K)
MM_MATMUL_FUSED_KERNELS(q6_K, DqQ6_K)
MM_MATMUL_FUSED_KERNELS(q2_K, DqQ2_K)
MM_MATMUL_FUSED_KERNELS(q3_K, DqQ3_K)
MM_MATMUL_FUSED_KERNELS(iq4_nl, DqIQ4_NL)
MM_MATMUL_FUSED_KERNELS(iq4_xs, DqIQ4_XS)
