// ggml's quantized block layouts, byte for byte (GGUF tensor data is read in
// place through these structs). Scales are IEEE half (uint16_t) unless noted.
#pragma once
#include <cstdint>

namespace mm {

constexpr int QK4_0 = 32, QK4_1 = 32, QK5_0 = 32, QK5_1 = 32, QK8_0 = 32, QK8_1 = 32, QK4_NL = 32;
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
struct block_q2_K {           // 16 sub-blocks of 16: x = d * (sc & 15) * q - dmin * (sc >> 4), q 2 bits
  uint8_t scales[QK_K / 16];  // 4-bit scale (low nibble) and min (high nibble) per sub-block
  uint8_t qs[QK_K / 4];       // bits 2j, 2j+1 of qs[32h + l]: value 128h + 32j + l
  uint16_t d, dmin;
};
struct block_q3_K {         // 16 sub-blocks of 16: x = d * (sc - 32) * (q - 4), q 3 bits, sc 6 bits
  uint8_t hmask[QK_K / 8];  // bit 4h+j of hmask[l]: the third bit of value 128h + 32j + l
  uint8_t qs[QK_K / 4];     // low 2 bits, laid out as q2_K's
  uint8_t scales[12];       // low nibbles: sub-block s in scales[s % 8] (s >= 8: high nibble);
                            // high 2 bits: bits 2(s/4).. of scales[8 + s % 4]
  uint16_t d;
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
struct block_iq4_nl {  // x = d * kIq4nlValues[q]; element j: low nibble of qs[j], j+16: high nibble
  uint16_t d;
  uint8_t qs[QK4_NL / 2];
};
struct block_iq4_xs {  // 8 sub-blocks of 32: x = d * (ls - 32) * kIq4nlValues[q], ls 6 bits
  uint16_t d;
  uint16_t scales_h;            // bits 2s..2s+1: high 2 bits of ls of sub-block s
  uint8_t scales_l[QK_K / 64];  // nibble s % 2 of scales_l[s / 2]: low 4 bits of ls
  uint8_t qs[QK_K / 2];         // 16 bytes per sub-block, nibbles as iq4_nl
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
static_assert(sizeof(block_q2_K) == 84, "q2_K layout");
static_assert(sizeof(block_q3_K) == 110, "q3_K layout");
static_assert(sizeof(block_q4_K) == 144, "q4_K layout");
static_assert(sizeof(block_q5_K) == 176, "q5_K layout");
static_assert(sizeof(block_q6_K) == 210, "q6_K layout");
static_assert(sizeof(block_iq4_nl) == 18, "iq4_nl layout");
static_assert(sizeof(block_iq4_xs) == 136, "iq4_xs layout");
static_assert(sizeof(block_q8_K) == 292, "q8_K layout");

// The 16 non-uniform levels of IQ4_NL / IQ4_XS (ggml's kvalues_iq4nl).
constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

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

// The signed 6-bit scale (-32..31) of sub-block s (0..15) of a Q3_K block.
inline int q3_K_scale(const uint8_t* sc, int s) {
  const int lo = s < 8 ? sc[s] & 0xF : sc[s - 8] >> 4;
  const int hi = (sc[8 + s % 4] >> (2 * (s / 4))) & 3;
  return (lo | (hi << 4)) - 32;
}

// The signed 6-bit scale (-32..31) of sub-block s (0..7) of an IQ4_XS block.
inline int iq4_xs_scale(const block_iq4_xs& b, int s) {
  const int lo = (b.scales_l[s / 2] >> (4 * (s % 2))) & 0xF;
  const int hi = (b.scales_h >> (2 * s)) & 3;
  return (lo | (hi << 4)) - 32;
}

}  // namespace mm
