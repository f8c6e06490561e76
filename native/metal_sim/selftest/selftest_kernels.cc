// Kernels that exercise the emulator itself (not part of the Metal library):
// barrier and SIMD-group semantics, simdgroup matrices, and the faults the
// emulator must report. Built only into the selftest binary.
#include "../msl_shim.h"

struct SelfTestArgs {
  int32_t n;
  int32_t mode;
};

// dst[g * T + t] = src[g * T + (T - 1 - t)] through threadgroup memory: wrong
// without real barrier semantics (fibers run one after another).
MM_KERNEL(st_reverse, SelfTestArgs) {
  threadgroup float* s = (threadgroup float*)shmem;
  const uint t = tpitg.x, T = ntg.x, base = tgpig.x * T;
  s[t] = ((device const float*)src0)[base + t];
  threadgroup_barrier(mem_flags::mem_threadgroup);
  ((device float*)dst)[base + t] = s[T - 1 - t];
}

// Every SIMD-group function on v = lane + 1 + 100 * simdgroup.
MM_KERNEL(st_simd, SelfTestArgs) {
  const uint t = tpitg.x;
  const float v = float(tiisg + 1 + 100 * sgitg);
  device float* o = (device float*)dst + t * 8;
  o[0] = simd_sum(v);
  o[1] = simd_max(v);
  o[2] = simd_min(v);
  o[3] = simd_shuffle_down(v, 1);
  o[4] = simd_shuffle_up(v, 2);
  o[5] = simd_shuffle_xor(v, 3);
  o[6] = simd_broadcast(v, 5);
  o[7] = float(simd_sum(int(tiisg)));
}

// dst[8x8] = A * B + A * B^T (A = src0, B = src1, row-major 8x8): load from
// device memory, load transposed, multiply-accumulate, store.
MM_KERNEL(st_matrix, SelfTestArgs) {
  simdgroup_float8x8 a, b, bt, c = make_filled_simdgroup_matrix<float, 8>(0.0f);
  simdgroup_load(a, (device const float*)src0, 8);
  simdgroup_load(b, (device const float*)src1, 8);
  simdgroup_load(bt, (device const float*)src1, 8, ulong2(0, 0), true);
  simdgroup_multiply_accumulate(c, a, b, c);
  simdgroup_multiply_accumulate(c, a, bt, c);
  simdgroup_store(c, (device float*)dst, 8);
}

// Broken kernels: the emulator must refuse them.
MM_KERNEL(st_bad_barrier, SelfTestArgs) {
  if (tpitg.x >= 32) return;  // the second simdgroup skips the barrier
  threadgroup_barrier(mem_flags::mem_threadgroup);
}
MM_KERNEL(st_divergent_simd, SelfTestArgs) {
  float v = 1.0f;
  if (tiisg < 16) v = simd_sum(v);  // half the lanes
  ((device float*)dst)[tpitg.x] = v;
}
MM_KERNEL(st_fault, SelfTestArgs) {
  if (tgpig.x == 3 && tpitg.x == 7) ::mm::msim::kernel_fault("deliberate fault");
  threadgroup_barrier(mem_flags::mem_threadgroup);
}
