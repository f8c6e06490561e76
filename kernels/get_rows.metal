// get_rows_<type>: dst[i, :] = table[ids[i], :] expanded to f32 (embedding
// lookup). One thread per 16 elements of a row (dequant16, kernels/dequant.h);
// ids outside the table give zeros (the host reports them as errors before
// dispatching).
// grid: (ceil(ceil(cols / 16) / 64), n ids), 64 threads.
#include "common.h"
#include "dequant.h"

template <typename Q>
inline void get_rows_impl(constant GetRowsArgs & args, device const char * src0, device const char * src1,
                          device char * dst, uint3 tgpig, uint3 tpitg, uint3 ntg) {
  const int c = int(tgpig.x * ntg.x + tpitg.x);
  const int i = int(tgpig.y);
  const int nchunks = (args.cols + 15) / 16;
  if (c >= nchunks) return;
  const int id = *(device const int *)(src1 + i * args.id_stride);
  device float * out = (device float *)(dst + i * args.d_stride);  // [cols]
  float v[16];
  if (id >= 0 && id < args.t_rows) {
    Q::dequant16(src0 + id * args.t_stride, c, args.cols, v);
  } else {
    for (int k = 0; k < 16; k++) v[k] = 0.0f;
  }
  for (int k = 0; k < 16; k++)
    if (16 * c + k < args.cols) out[16 * c + k] = v[k];
}

#define MM_GET_ROWS_KERNEL(SUFFIX, Q) \
  MM_KERNEL(get_rows_##SUFFIX, GetRowsArgs) { get_rows_impl<Q>(args, src0, src1, dst, tgpig, tpitg, ntg); }

MM_GET_ROWS_KERNEL(f32, DqF32)
MM_GET_ROWS_KERNEL(f16, DqF16)
MM_GET_ROWS_KERNEL(bf16, DqBF16)
MM_GET_ROWS_KERNEL(q8_0, DqQ8_0)
MM_GET_ROWS_KERNEL(q4_0, DqQ4_0)
MM_GET_ROWS_KERNEL(q4_1, DqQ4_1)
MM_GET_ROWS_KERNEL(q5_0, DqQ5_0)
MM_GET_ROWS_KERNEL(q5_1, DqQ5_1)
MM_GET_ROWS_KERNEL(q4_K, DqQ4_K)
MM_GET_ROWS_KERNEL(q5_K, DqQ5_K)
MM_GET_ROWS_KERNEL(q6_K, DqQ6_K)
MM_GET_ROWS_KERNEL(q2_K, DqQ2_K)
MM_GET_ROWS_KERNEL(q3_K, DqQ3_K)
MM_GET_ROWS_KERNEL(iq4_nl, DqIQ4_NL)
MM_GET_ROWS_KERNEL(iq4_xs, DqIQ4_XS)
