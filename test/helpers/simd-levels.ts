/**
 * The CPU kernel levels the kernel tests run through (native().setCpuSimd), this
 * architecture's: x86-64 'avx-vnni' (no AVX-512) and 'avx2'; arm64
 * 'neon-dotprod' (sdot panels, no i8mm) and 'neon' (row kernels only). On a
 * CPU without an extension its level is the same as 'auto'.
 */
export const CPU_SIMD_LEVELS =
  process.arch === 'arm64'
    ? (['auto', 'neon-dotprod', 'neon', 'scalar'] as const)
    : (['auto', 'avx-vnni', 'avx2', 'scalar'] as const);
