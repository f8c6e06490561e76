// ggml's quantized block layouts, byte for byte (GGUF tensor data is read in
// place through these structs). Scales are IEEE half (uint16_t) unless noted.
#pragma once
#include <cstdint>

namespace mm {

constexpr int QK4_0 = 32, QK4_1 = 32, QK5_0 = 32, QK5_1 = 32, QK8_0 = 32, QK8_1 = 32;
constexpr int QK_K = 256;         // super-block size of the K-quants
constexpr int K_SCALE_SIZE = 12;  // packed 6-bit scales/mins of Q4_K/Q5_K

#pragma pack(push, 1)
struct block_q4_0 {  // x = d * (q - 8)
  uint16_t d;
  uint8_t qs[QK4_0 / 2];  // element j in low nibble of qs[j], j+16 in high nibble
};
struct block_q4_1 {  // x = d * q + m
  uint16_t d, m;
  uint8_t qs[QK4_1 / 2];
};
struct block_q5_0 {  // x = d * (q - 16), 5th bit of element j in bit j of qh
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[QK5_0 / 2];
};
struct block_q5_1 {  // x = d * q + m
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[QK5_1 / 2];
};
struct block_q8_0 {  // x = d * q
  uint16_t d;
  int8_t qs[QK8_0];
};
struct block_q8_1 {  // activations for q4_1/q5_1: s = d * sum(qs)
  uint16_t d, s;
  int8_t qs[QK8_1];
};
struct block_q4_K {  // 8 sub-blocks of 32: x = d*sc*q - dmin*m
  uint16_t d, dmin;
  uint8_t scales[K_SCALE_SIZE];
  uint8_t qs[QK_K / 2];
};
struct block_q5_K {
  uint16_t d, dmin;
  uint8_t scales[K_SCALE_SIZE];
  uint8_t qh[QK_K / 8];
  uint8_t qs[QK_K / 2];
};
struct block_q6_K {  // 16 sub-blocks of 16: x = d * sc * (q - 32)
  uint8_t ql[QK_K / 2];
  uint8_t qh[QK_K / 4];
  int8_t scales[QK_K / 16];
  uint16_t d;
};
struct block_q8_K {  // activations for the K-quants; d is a float here
  float d;
  int8_t qs[QK_K];
  int16_t bsums[QK_K / 16];  // sums of groups of 16
};
#pragma pack(pop)

static_assert(sizeof(block_q4_0) == 18, "q4_0 layout");
static_assert(sizeof(block_q4_1) == 20, "q4_1 layout");
static_assert(sizeof(block_q5_0) == 22, "q5_0 layout");
static_assert(sizeof(block_q5_1) == 24, "q5_1 layout");
static_assert(sizeof(block_q8_0) == 34, "q8_0 layout");
static_assert(sizeof(block_q8_1) == 36, "q8_1 layout");
static_assert(sizeof(block_q4_K) == 144, "q4_K layout");
static_assert(sizeof(block_q5_K) == 176, "q5_K layout");
static_assert(sizeof(block_q6_K) == 210, "q6_K layout");
static_assert(sizeof(block_q8_K) == 292, "q8_K layout");

// Unpacks sub-block j's 6-bit scale and min of a Q4_K/Q5_K block.
inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
  }
}

}  // namespace mm
