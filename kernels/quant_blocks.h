// ggml's quantized block layouts, byte for byte: the ONE definition shared by
// the host (native/core, native/cpu: GGUF tensor data is read in place through
// these structs) and the Metal shaders (kernels/*.metal, and metal-sim's C++
// build of them through native/metal_sim/msl_shim.h), as ggml-common.h is for
// ggml. Scales are IEEE half unless noted. Every layout is naturally packed
// (no padding in any of the three compilers); the sizes are asserted below.
#ifndef MM_KERNELS_QUANT_BLOCKS_H
#define MM_KERNELS_QUANT_BLOCKS_H

// Elements per block.
#define MM_QK4_0 32
#define MM_QK4_1 32
#define MM_QK5_0 32
#define MM_QK5_1 32
#define MM_QK8_0 32
#define MM_QK8_1 32
#define MM_QK4_NL 32
#define MM_QK_K 256         // super-block of the K-quants
#define MM_K_SCALE_SIZE 12  // packed 6-bit scales/mins of q4_K/q5_K

#if defined(__METAL_VERSION__) || defined(MM_MSL_SHIM)
// Shaders: scales are `half` (Metal's, or the shim's binary16 storage type).
#define MM_BLOCK_HALF half
#define MM_BLOCKS_BEGIN
#define MM_BLOCKS_END
#else
// Host: scales are the raw binary16 bits (converted with fp16_to_fp32); byte
// alignment, so a block may start at any address of a mapped file.
#include <cstdint>
#define MM_BLOCK_HALF uint16_t
#define MM_BLOCKS_BEGIN namespace mm {
#define MM_BLOCKS_END }
#pragma pack(push, 1)
#endif

MM_BLOCKS_BEGIN

struct block_q4_0 {  // x = d * (q - 8); element j: low nibble of qs[j], j+16: high nibble
  MM_BLOCK_HALF d;
  uint8_t qs[MM_QK4_0 / 2];
};
struct block_q4_1 {  // x = d * q + m; nibbles as q4_0
  MM_BLOCK_HALF d;
  MM_BLOCK_HALF m;
  uint8_t qs[MM_QK4_1 / 2];
};
struct block_q5_0 {  // x = d * (q - 16); bit 4 of element j is bit j of qh (little-endian)
  MM_BLOCK_HALF d;
  uint8_t qh[4];
  uint8_t qs[MM_QK5_0 / 2];
};
struct block_q5_1 {  // x = d * q + m; bits as q5_0
  MM_BLOCK_HALF d;
  MM_BLOCK_HALF m;
  uint8_t qh[4];
  uint8_t qs[MM_QK5_1 / 2];
};
struct block_q8_0 {  // x = d * q
  MM_BLOCK_HALF d;
  int8_t qs[MM_QK8_0];
};
struct block_q8_1 {  // activations for q4_1/q5_1: s = d * sum(qs)
  MM_BLOCK_HALF d;
  MM_BLOCK_HALF s;
  int8_t qs[MM_QK8_1];
};
struct block_q2_K {              // 16 sub-blocks of 16: x = d * (sc & 15) * q - dmin * (sc >> 4), q 2 bits
  uint8_t scales[MM_QK_K / 16];  // 4-bit scale (low nibble) and min (high nibble) per sub-block
  uint8_t qs[MM_QK_K / 4];       // bits 2j, 2j+1 of qs[32h + l]: value 128h + 32j + l
  MM_BLOCK_HALF d;
  MM_BLOCK_HALF dmin;
};
struct block_q3_K {            // 16 sub-blocks of 16: x = d * (sc - 32) * (q - 4), q 3 bits, sc 6 bits
  uint8_t hmask[MM_QK_K / 8];  // bit 4h+j of hmask[l]: the third bit of value 128h + 32j + l
  uint8_t qs[MM_QK_K / 4];     // low 2 bits, laid out as q2_K's
  uint8_t scales[12];          // low nibbles: sub-block s in scales[s % 8] (s >= 8: high nibble);
                               // high 2 bits: bits 2(s/4).. of scales[8 + s % 4]
  MM_BLOCK_HALF d;
};
struct block_q4_K {  // 8 sub-blocks of 32: x = d * sc * q - dmin * m (6-bit sc, m)
  MM_BLOCK_HALF d;
  MM_BLOCK_HALF dmin;
  uint8_t scales[MM_K_SCALE_SIZE];
  uint8_t qs[MM_QK_K / 2];
};
struct block_q5_K {  // q4_K plus a 5th bit: bit s of qh[l] for sub-block s
  MM_BLOCK_HALF d;
  MM_BLOCK_HALF dmin;
  uint8_t scales[MM_K_SCALE_SIZE];
  uint8_t qh[MM_QK_K / 8];
  uint8_t qs[MM_QK_K / 2];
};
struct block_q6_K {  // 16 sub-blocks of 16: x = d * sc * (q - 32)
  uint8_t ql[MM_QK_K / 2];
  uint8_t qh[MM_QK_K / 4];
  int8_t scales[MM_QK_K / 16];
  MM_BLOCK_HALF d;
};
struct block_iq4_nl {  // x = d * kvalues_iq4nl[q]; element j: low nibble of qs[j], j+16: high nibble
  MM_BLOCK_HALF d;
  uint8_t qs[MM_QK4_NL / 2];
};
struct block_iq4_xs {  // 8 sub-blocks of 32: x = d * (ls - 32) * kvalues_iq4nl[q], ls 6 bits
  MM_BLOCK_HALF d;
  uint16_t scales_h;               // bits 2s, 2s+1: high 2 bits of ls of sub-block s
  uint8_t scales_l[MM_QK_K / 64];  // nibble s % 2 of scales_l[s / 2]: low 4 bits of ls
  uint8_t qs[MM_QK_K / 2];         // 16 bytes per sub-block, nibbles as iq4_nl
};
struct block_q8_K {  // activations for the K-quants; d is a float here
  float d;
  int8_t qs[MM_QK_K];
  int16_t bsums[MM_QK_K / 16];  // sums of groups of 16
};

static_assert(sizeof(block_q4_0) == 18, "q4_0 layout");
static_assert(sizeof(block_q4_1) == 20, "q4_1 layout");
static_assert(sizeof(block_q5_0) == 22, "q5_0 layout");
static_assert(sizeof(block_q5_1) == 24, "q5_1 layout");
static_assert(sizeof(block_q8_0) == 34, "q8_0 layout");
static_assert(sizeof(block_q8_1) == 36, "q8_1 layout");
static_assert(sizeof(block_q2_K) == 84, "q2_K layout");
static_assert(sizeof(block_q3_K) == 110, "q3_K layout");
static_assert(sizeof(block_q4_K) == 144, "q4_K layout");
static_assert(sizeof(block_q5_K) == 176, "q5_K layout");
static_assert(sizeof(block_q6_K) == 210, "q6_K layout");
static_assert(sizeof(block_iq4_nl) == 18, "iq4_nl layout");
static_assert(sizeof(block_iq4_xs) == 136, "iq4_xs layout");
static_assert(sizeof(block_q8_K) == 292, "q8_K layout");

MM_BLOCKS_END

#if !defined(__METAL_VERSION__) && !defined(MM_MSL_SHIM)
#pragma pack(pop)

namespace mm {

constexpr int QK4_0 = MM_QK4_0, QK4_1 = MM_QK4_1, QK5_0 = MM_QK5_0, QK5_1 = MM_QK5_1, QK8_0 = MM_QK8_0,
              QK8_1 = MM_QK8_1, QK4_NL = MM_QK4_NL;
constexpr int QK_K = MM_QK_K;
constexpr int K_SCALE_SIZE = MM_K_SCALE_SIZE;

// Unpacks sub-block j's 6-bit scale and min of a q4_K/q5_K block.
inline void get_scale_min_k4(int j, const uint8_t * q, uint8_t * sc, uint8_t * m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
  }
}

// The 16 non-uniform levels of IQ4_NL / IQ4_XS (ggml's kvalues_iq4nl).
constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// The signed 6-bit scale (-32..31) of sub-block s (0..15) of a q3_K block.
inline int q3_K_scale(const uint8_t * sc, int s) {
  const int lo = s < 8 ? sc[s] & 0xF : sc[s - 8] >> 4;
  const int hi = (sc[8 + s % 4] >> (2 * (s / 4))) & 3;
  return (lo | (hi << 4)) - 32;
}

// The signed 6-bit scale (-32..31) of sub-block s (0..7) of an iq4_xs block.
inline int iq4_xs_scale(const block_iq4_xs & b, int s) {
  const int lo = (b.scales_l[s / 2] >> (4 * (s % 2))) & 0xF;
  const int hi = (b.scales_h >> (2 * s)) & 3;
  return (lo | (hi << 4)) - 32;
}

}  // namespace mm
#endif

#endif  // MM_KERNELS_QUANT_BLOCKS_H
