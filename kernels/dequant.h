// Weight decoders used by matmul.metal and get_rows.metal: each type splits a
// row into CHUNK-element chunks (chunks never straddle a block) and expands
// chunk c of a row into floats, in registers. Float types guard the row end
// (their rows may have any length); block types' rows are whole blocks.
#ifndef MM_KERNELS_DEQUANT_H
#define MM_KERNELS_DEQUANT_H

#include "common.h"

struct DqF32 {
  enum { CHUNK = 4 };
  static inline void dequant(device const char * row, int c, thread float * out, int k) {
    device const float * r = (device const float *)row + c * 4;
    for (int i = 0; i < 4; i++) out[i] = c * 4 + i < k ? r[i] : 0.0f;
  }
};
struct DqF16 {
  enum { CHUNK = 4 };
  static inline void dequant(device const char * row, int c, thread float * out, int k) {
    device const half * r = (device const half *)row + c * 4;
    for (int i = 0; i < 4; i++) out[i] = c * 4 + i < k ? float(r[i]) : 0.0f;
  }
};
struct DqBF16 {
  enum { CHUNK = 4 };
  static inline void dequant(device const char * row, int c, thread float * out, int k) {
    device const ushort * r = (device const ushort *)row + c * 4;
    for (int i = 0; i < 4; i++) out[i] = c * 4 + i < k ? bf16_to_f32(r[i]) : 0.0f;
  }
};
struct DqQ8_0 {  // 4 chunks of 8 per block
  enum { CHUNK = 8 };
  static inline void dequant(device const char * row, int c, thread float * out, int) {
    device const block_q8_0 * b = (device const block_q8_0 *)row + c / 4;
    const float d = float(b->d);
    device const int8_t * q = b->qs + (c % 4) * 8;
    for (int i = 0; i < 8; i++) out[i] = d * float(q[i]);
  }
};
struct DqQ4_0 {  // chunks 0,1: low nibbles of qs[0..7], qs[8..15]; 2,3: high nibbles
  enum { CHUNK = 8 };
  static inline void dequant(device const char * row, int c, thread float * out, int) {
    device const block_q4_0 * b = (device const block_q4_0 *)row + c / 4;
    const int part = c % 4;
    const float d = float(b->d);
    device const uchar * q = b->qs + (part & 1) * 8;
    const int shift = (part >> 1) * 4;
    for (int i = 0; i < 8; i++) out[i] = d * float(int((q[i] >> shift) & 0xF) - 8);
  }
};
// Element index within a 32-element block of chunk part p (0..3) of q4/q5 types:
// parts 0, 1 are the low nibbles of qs[0..7], qs[8..15]; parts 2, 3 the high ones.
inline int q32_first(int part) { return (part >> 1) * 16 + (part & 1) * 8; }

struct DqQ4_1 {
  enum { CHUNK = 8 };
  static inline void dequant(device const char * row, int c, thread float * out, int) {
    device const block_q4_1 * b = (device const block_q4_1 *)row + c / 4;
    const int part = c % 4;
    const float d = float(b->d), m = float(b->m);
    device const uchar * q = b->qs + (part & 1) * 8;
    const int shift = (part >> 1) * 4;
    for (int i = 0; i < 8; i++) out[i] = d * float((q[i] >> shift) & 0xF) + m;
  }
};
struct DqQ5_0 {
  enum { CHUNK = 8 };
  static inline void dequant(device const char * row, int c, thread float * out, int) {
    device const block_q5_0 * b = (device const block_q5_0 *)row + c / 4;
    const int part = c % 4, e0 = q32_first(part);
    const float d = float(b->d);
    device const uchar * q = b->qs + (part & 1) * 8;
    const int shift = (part >> 1) * 4;
    for (int i = 0; i < 8; i++) {
      const int e = e0 + i;
      const int hi = (b->qh[e / 8] >> (e % 8)) & 1;
      out[i] = d * float(int(((q[i] >> shift) & 0xF) | (hi << 4)) - 16);
    }
  }
};
struct DqQ5_1 {
  enum { CHUNK = 8 };
  static inline void dequant(device const char * row, int c, thread float * out, int) {
    device const block_q5_1 * b = (device const block_q5_1 *)row + c / 4;
    const int part = c % 4, e0 = q32_first(part);
    const float d = float(b->d), m = float(b->m);
    device const uchar * q = b->qs + (part & 1) * 8;
    const int shift = (part >> 1) * 4;
    for (int i = 0; i < 8; i++) {
      const int e = e0 + i;
      const int hi = (b->qh[e / 8] >> (e % 8)) & 1;
      out[i] = d * float(int(((q[i] >> shift) & 0xF) | (hi << 4))) + m;
    }
  }
};

// 6-bit scale and min of sub-block `sub` of a q4_K/q5_K block (ggml's get_scale_min_k4).
inline void k4_scale_min(device const uchar * s, int sub, thread uint & sc, thread uint & mn) {
  if (sub < 4) {
    sc = s[sub] & 63;
    mn = s[sub + 4] & 63;
  } else {
    sc = (s[sub + 4] & 0xF) | ((s[sub - 4] >> 6) << 4);
    mn = (s[sub + 4] >> 4) | ((s[sub] >> 6) << 4);
  }
}

struct DqQ4_K {  // 16 chunks of 16 per super-block; chunk pairs share a 32-element sub-block
  enum { CHUNK = 16 };
  static inline void dequant(device const char * row, int c, thread float * out, int) {
    device const block_q4_K * b = (device const block_q4_K *)row + c / 16;
    const int cc = c % 16, sub = cc / 2, h = cc % 2;
    uint sc, mn;
    k4_scale_min(b->scales, sub, sc, mn);
    const float d = float(b->d) * float(sc), m = float(b->dmin) * float(mn);
    // 64-element group sub/2: low nibbles = sub-block 2j, high nibbles = 2j+1
    device const uchar * q = b->qs + 32 * (sub / 2) + 16 * h;
    const int shift = (sub & 1) * 4;
    for (int i = 0; i < 16; i++) out[i] = d * float((q[i] >> shift) & 0xF) - m;
  }
};
struct DqQ5_K {  // chunks as q4_K; the 5th bit of element l of sub-block s is bit s of qh[l]
  enum { CHUNK = 16 };
  static inline void dequant(device const char * row, int c, thread float * out, int) {
    device const block_q5_K * b = (device const block_q5_K *)row + c / 16;
    const int cc = c % 16, sub = cc / 2, h = cc % 2;
    uint sc, mn;
    k4_scale_min(b->scales, sub, sc, mn);
    const float d = float(b->d) * float(sc), m = float(b->dmin) * float(mn);
    device const uchar * q = b->qs + 32 * (sub / 2) + 16 * h;
    device const uchar * qh = b->qh + 16 * h;
    const int shift = (sub & 1) * 4;
    for (int i = 0; i < 16; i++) out[i] = d * float(((q[i] >> shift) & 0xF) + (((qh[i] >> sub) & 1) << 4)) - m;
  }
};
struct DqQ6_K {  // 16 chunks of 16 per super-block, one int8 scale each
  enum { CHUNK = 16 };
  static inline void dequant(device const char * row, int c, thread float * out, int) {
    device const block_q6_K * b = (device const block_q6_K *)row + c / 16;
    const int cc = c % 16, half_ = cc / 8, quarter = (cc % 8) / 2, l0 = (cc % 2) * 16;
    device const uchar * ql = b->ql + 64 * half_ + (quarter & 1) * 32 + l0;
    device const uchar * qh = b->qh + 32 * half_ + l0;
    const int shift_l = (quarter >> 1) * 4, shift_h = 2 * quarter;
    const float d = float(b->d) * float(b->scales[8 * half_ + 2 * quarter + l0 / 16]);
    for (int i = 0; i < 16; i++) {
      const int q = int((ql[i] >> shift_l) & 0xF) | (int((qh[i] >> shift_h) & 3) << 4);
      out[i] = d * float(q - 32);
    }
  }
};

#endif  // MM_KERNELS_DEQUANT_H
