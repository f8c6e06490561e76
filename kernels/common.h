// Shared by every kernels/*.metal file: the kernel signature convention
// (MM_KERNEL), ggml's block layouts (quant_blocks.h, shared with the host),
// conversions and threadgroup reductions. Compiled by Metal on macOS and, through
// native/metal_sim/msl_shim.h, as C++ everywhere (metal-sim).
#ifndef MM_KERNELS_COMMON_H
#define MM_KERNELS_COMMON_H

#include "args.h"

#if defined(__METAL_VERSION__)
#include <metal_stdlib>
using namespace metal;
// The ONE kernel signature (metal-sim's MM_KERNEL binds the same names to the
// same builtins; see msl_shim.h). Unused buffers are bound to dst by the host.
#define MM_KERNEL(NAME, ARGS)                                                                                    \
  kernel void NAME(constant ARGS & args [[buffer(0)]], device const char * src0 [[buffer(1)]],                   \
                   device const char * src1 [[buffer(2)]], device const char * src2 [[buffer(3)]],               \
                   device char * dst [[buffer(4)]], threadgroup char * shmem [[threadgroup(0)]],                 \
                   uint3 tgpig [[threadgroup_position_in_grid]], uint3 tpitg [[thread_position_in_threadgroup]], \
                   uint3 ntg [[threads_per_threadgroup]], uint3 tgpg [[threadgroups_per_grid]],                  \
                   uint tiisg [[thread_index_in_simdgroup]], uint sgitg [[simdgroup_index_in_threadgroup]])
#endif

// ggml's block layouts (the one definition shared with the host)
#include "quant_blocks.h"

// ---- conversions ------------------------------------------------------------------
inline float bf16_to_f32(ushort h) { return as_type<float>(uint(h) << 16); }
// Round to nearest even, NaN kept quiet: the CPU backend's fp32_to_bf16.
inline ushort f32_to_bf16(float f) {
  const uint u = as_type<uint>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return ushort((u >> 16) | 64u);
  return ushort((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

// ---- gated activations (elementwise.metal's swiglu / geglu, matmul_fused.metal's glu
// input: one expression, so fused and unfused round alike). precise::exp: Metal
// compiles with fast math, whose exp is only within 3 + 2|x| ulp.
inline float mm_silu(float a) { return a / (1.0f + precise::exp(-a)); }
// gelu_tanh(a) = a * sigmoid(2u), u = sqrt(2/pi) (a + 0.044715 a^3), as the CPU's vector form.
inline float mm_gelu_tanh(float a) {
  return a / (1.0f + precise::exp(-1.5957691216057308f * a * (1.0f + 0.044715f * a * a)));
}

// ---- threadgroup reductions (every thread of the group must call them) --------------
// scratch: >= one float per simdgroup of threadgroup memory.
inline float tg_sum(float v, threadgroup float * scratch, uint tiisg, uint sgitg, uint nsg) {
  v = simd_sum(v);
  if (tiisg == 0) scratch[sgitg] = v;
  threadgroup_barrier(mem_flags::mem_threadgroup);
  float t = 0.0f;
  for (uint s = 0; s < nsg; s++) t += scratch[s];
  threadgroup_barrier(mem_flags::mem_threadgroup);  // scratch may be reused right after
  return t;
}
inline float tg_max(float v, threadgroup float * scratch, uint tiisg, uint sgitg, uint nsg) {
  v = simd_max(v);
  if (tiisg == 0) scratch[sgitg] = v;
  threadgroup_barrier(mem_flags::mem_threadgroup);
  float t = scratch[0];
  for (uint s = 1; s < nsg; s++) t = fmax(t, scratch[s]);
  threadgroup_barrier(mem_flags::mem_threadgroup);
  return t;
}

#endif  // MM_KERNELS_COMMON_H
