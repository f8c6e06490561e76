// AVX-VNNI (vpdpbusd on 256-bit vectors: maddubs + madd in one instruction, no
// int16 saturation): Intel Alder Lake+/Sapphire Rapids+, AMD Zen 5. Compiled
// per function with target("avxvnni") (GCC 11 / clang 12; older compilers
// build without it) and chosen at run time (cpu_use_avx_vnni()).
#pragma once

#if !defined(_MSC_VER) && \
    ((defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11))
#define MM_HAVE_VNNI 1
#define MM_TARGET_VNNI __attribute__((target("avx2,fma,f16c,avxvnni")))
#else
#define MM_HAVE_VNNI 0
#define MM_TARGET_VNNI
#endif
