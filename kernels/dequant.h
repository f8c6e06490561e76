// Weight types: one struct per type, used by matmul.metal (decode and
// prefill) and get_rows.metal. Adding a type = its block struct in common.h
// plus one struct here with:
//
//   ACT               the 8-bit grid its activations are rounded to first
//                     (act_quant.h; ActNone for float weights)
//   STAGE             the threadgroup type the GEMM stages its weight tile in
//                     (and the activations with it): half for f16 (exact, as
//                     are its f16-rounded activations); float for f32 / bf16,
//                     whose range or mantissa half would cut, and for the
//                     quantized types, whose d * q and q8-grid activations q * d
//                     half would round (float keeps every product exact, as
//                     the CPU's integer dot: docs/apple-silicon.md)
//   dequant16(row, c, k, out)
//                     elements [16c, 16c + 16) of a row as floats (zeros past
//                     k: float rows may have any length; block rows are whole
//                     blocks, so k is a multiple of 16 there)
//   The decode fast path (matmul_mv, one activation row): a row is split into
//   parts of PART values (16 or 32), part p handled by one lane.
//   PART, parts(k)    values per part, parts per row
//   X                 the part's activations in registers, pre-scaled the way
//                     vec_dot() wants them, with the sums that fold zero points in
//   load_x(x, p, k, xv)
//                     x: a device const float * row, or any type with x + i and
//                     x[i] (matmul_fused.metal's views compute the input as they
//                     load it)
//   vec_dot(row, p, k, xv)
//                     the part's weights read with 16/32-bit loads, decoded
//                     without branches, dotted with xv; the block scale is
//                     read once per part.
//
// docs/apple-silicon.md gives each path's arithmetic (bytes and ALU operations
// per weight).
//
// Loads: q4_0, q5_0, q8_0 and q6_K blocks (18, 22, 34, 210 bytes) are only
// 2-byte aligned, so their bits are read as ushort (and combined into uint
// for SWAR decoding); q4_1, q5_1, q4_K and q5_K blocks are 4-byte aligned.
#ifndef MM_KERNELS_DEQUANT_H
#define MM_KERNELS_DEQUANT_H

#include "act_quant.h"
#include "common.h"

// ---- helpers -------------------------------------------------------------------------
// Two consecutive ushorts (2-byte aligned) as one little-endian uint.
inline uint load_u32_from_u16(device const ushort * p) { return uint(p[0]) | (uint(p[1]) << 16); }
// The 4 bytes of v as floats (v holds 4 small unsigned values, one per byte).
inline float4 bytes_to_float4(uint v) { return float4(as_type<uchar4>(v)); }
// Bits 0..3 of n moved to bit 4 of bytes 0..3 (the 5th bit of 4 quants): one
// multiply places copies of n at bits 0, 7, 14, 21 without carries; bit j of
// copy j lands on bit 8j.
inline uint spread_bits4(uint n) { return ((n * 0x00204081u) & 0x01010101u) << 4; }

// ---- float types: 16 contiguous values per part, tail guarded ---------------------------
// 16 activations starting at element e0 (zeros past k).
template <typename P>  // P: device const float *, or an input view (matmul_fused.metal)
inline void load_x16(P x, int e0, int k, thread float4 * v) {
  if (e0 + 16 <= k) {
    for (int i = 0; i < 4; i++) v[i] = float4(x[e0 + 4 * i], x[e0 + 4 * i + 1], x[e0 + 4 * i + 2], x[e0 + 4 * i + 3]);
  } else {
    for (int i = 0; i < 4; i++) {
      float4 t = float4(0.0f);
      for (int j = 0; j < 4; j++) t[j] = e0 + 4 * i + j < k ? x[e0 + 4 * i + j] : 0.0f;
      v[i] = t;
    }
  }
}

template <typename T>  // T: float, half or ushort (bf16 bits)
inline float float_weight(T v) {
  return float(v);
}
template <>
inline float float_weight<ushort>(ushort v) {
  return bf16_to_f32(v);
}

// Activations as the float-weight kernels multiply them: rounded to the
// weights' type for f16 / bf16 (ggml's vec_dot_type, as the CPU backend does;
// llama.cpp's greedy output on F16 models depends on it), as they are for f32.
template <typename T>  // T: float, half or ushort (bf16 bits)
inline float float_act(float x) {
  return x;
}
template <>
inline float float_act<half>(float x) {
  return float(half(x));
}
template <>
inline float float_act<ushort>(float x) {
  return bf16_to_f32(f32_to_bf16(x));
}

template <typename T, typename S>
struct DqFloat {
  typedef S STAGE;
  typedef ActNone ACT;
  enum { PART = 16 };
  static int parts(int k) { return (k + 15) / 16; }
  struct X {
    float4 v[4];
  };
  static void dequant16(device const char * row, int c, int k, thread float * out) {
    device const T * r = (device const T *)row + 16 * c;
    if (16 * c + 16 <= k) {
      for (int i = 0; i < 16; i++) out[i] = float_weight<T>(r[i]);
    } else {
      for (int i = 0; i < 16; i++) out[i] = 16 * c + i < k ? float_weight<T>(r[i]) : 0.0f;
    }
  }
  static float act(float x) { return float_act<T>(x); }
  template <typename P>
  static void load_x(P x, int p, int k, thread X & xv) {
    load_x16(x, 16 * p, k, xv.v);
    for (int i = 0; i < 4; i++) xv.v[i] = float4(act(xv.v[i][0]), act(xv.v[i][1]), act(xv.v[i][2]), act(xv.v[i][3]));
  }
  static float vec_dot(device const char * row, int p, int k, thread const X & xv) {
    float w[16];
    dequant16(row, p, k, w);
    float4 s = float4(0.0f);
    for (int i = 0; i < 4; i++) s += float4(w[4 * i], w[4 * i + 1], w[4 * i + 2], w[4 * i + 3]) * xv.v[i];
    return s[0] + s[1] + s[2] + s[3];
  }
};
typedef DqFloat<float, float> DqF32;
typedef DqFloat<half, half> DqF16;
typedef DqFloat<ushort, float> DqBF16;

// ---- q4_0 / q4_1: 16 values per part, masks on ushort loads, pre-scaled activations ------
// Part p = half h = p % 2 of block p / 2: qs bytes [8h, 8h + 8) read as 4 ushorts. Byte
// 8h + j holds element 8h + j (low nibble) and 16 + 8h + j (high nibble). Masking a ushort
// with 0x000F, 0x0F00, 0x00F0, 0xF000 leaves each quant times 1, 256, 16, 4096, so the
// activations are stored times 1, 1/256, 1/16, 1/4096 instead of shifting every weight.
struct Q4X {
  float v[16];  // v[2i], v[2i+1]: low nibbles of ushort i; v[8+2i], v[9+2i]: high nibbles
  float sum;    // sum of the 16 activations (for the zero point / min)
};
template <typename P>
inline void q4_load_x(P x, int p, thread Q4X & xv) {
  const P xb = x + (p >> 1) * 32 + (p & 1) * 8;
  float s = 0.0f;
  for (int i = 0; i < 8; i += 2) {
    const float a = xb[i], b = xb[i + 1], c = xb[i + 16], d = xb[i + 17];
    s += (a + b) + (c + d);
    xv.v[i] = a;
    xv.v[i + 1] = b * (1.0f / 256.0f);
    xv.v[i + 8] = c * (1.0f / 16.0f);
    xv.v[i + 9] = d * (1.0f / 4096.0f);
  }
  xv.sum = s;
}
// Sum of quant * activation over the part (quants 0..15, unscaled).
inline float q4_dot(device const ushort * q, thread const Q4X & xv) {
  float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
  for (int i = 0; i < 4; i++) {
    const ushort u = q[i];
    a0 += xv.v[2 * i] * float(u & 0x000F);
    a1 += xv.v[2 * i + 1] * float(u & 0x0F00);
    a2 += xv.v[2 * i + 8] * float(u & 0x00F0);
    a3 += xv.v[2 * i + 9] * float(u & 0xF000);
  }
  return (a0 + a1) + (a2 + a3);
}
// Elements [16c, 16c + 16) of a 32-element q4 block: low (c even) or high nibbles of qs.
inline void q4_nibbles16(device const uchar * qs, int c, thread float * out) {
  const int shift = (c & 1) * 4;
  for (int i = 0; i < 16; i++) out[i] = float((qs[i] >> shift) & 0xF);
}

struct DqQ4_0 {
  typedef float STAGE;
  typedef ActQ8_0 ACT;
  enum { PART = 16 };
  static int parts(int k) { return k / 16; }
  typedef Q4X X;
  template <typename P>
  static void load_x(P x, int p, int, thread X & xv) {
    q4_load_x(x, p, xv);
  }
  static float vec_dot(device const char * row, int p, int, thread const X & xv) {
    device const block_q4_0 * b = (device const block_q4_0 *)row + (p >> 1);
    const float d = float(b->d);
    return d * (q4_dot((device const ushort *)(b->qs + (p & 1) * 8), xv) - 8.0f * xv.sum);
  }
  static void dequant16(device const char * row, int c, int, thread float * out) {
    device const block_q4_0 * b = (device const block_q4_0 *)row + (c >> 1);
    const float d = float(b->d);
    q4_nibbles16(b->qs, c, out);
    for (int i = 0; i < 16; i++) out[i] = d * (out[i] - 8.0f);
  }
};
struct DqQ4_1 {
  typedef float STAGE;
  typedef ActQ8_0 ACT;
  enum { PART = 16 };
  static int parts(int k) { return k / 16; }
  typedef Q4X X;
  template <typename P>
  static void load_x(P x, int p, int, thread X & xv) {
    q4_load_x(x, p, xv);
  }
  static float vec_dot(device const char * row, int p, int, thread const X & xv) {
    device const block_q4_1 * b = (device const block_q4_1 *)row + (p >> 1);
    const float d = float(b->d), m = float(b->m);
    return d * q4_dot((device const ushort *)(b->qs + (p & 1) * 8), xv) + m * xv.sum;
  }
  static void dequant16(device const char * row, int c, int, thread float * out) {
    device const block_q4_1 * b = (device const block_q4_1 *)row + (c >> 1);
    const float d = float(b->d), m = float(b->m);
    q4_nibbles16(b->qs, c, out);
    for (int i = 0; i < 16; i++) out[i] = d * out[i] + m;
  }
};

// ---- q5_0 / q5_1: 16 values per part, SWAR assembly of the 5-bit quants -------------------
// Part p = half h of block p / 2 as for q4 (elements 8h..8h+7 and 16+8h..16+8h+7); the 5th
// bit of element e is bit e of qh. Four quants at a time: nibbles masked out of a uint, the
// four matching qh bits spread to bit 4 of each byte, then the bytes converted to float4.
struct Q5X {
  float4 v[4];  // x[8h .. 8h+7], x[16+8h .. 16+8h+7]
  float sum;
};
template <typename P>
inline void q5_load_x(P x, int p, thread Q5X & xv) {
  const P xb = x + (p >> 1) * 32 + (p & 1) * 8;
  xv.v[0] = float4(xb[0], xb[1], xb[2], xb[3]);
  xv.v[1] = float4(xb[4], xb[5], xb[6], xb[7]);
  xv.v[2] = float4(xb[16], xb[17], xb[18], xb[19]);
  xv.v[3] = float4(xb[20], xb[21], xb[22], xb[23]);
  const float4 t = (xv.v[0] + xv.v[1]) + (xv.v[2] + xv.v[3]);
  xv.sum = (t[0] + t[1]) + (t[2] + t[3]);
}
// qs: the part's 8 bytes as ushorts; qh: the block's 32 high bits; h: the half.
inline float q5_dot(device const ushort * qs, uint qh, int h, thread const Q5X & xv) {
  const uint u0 = load_u32_from_u16(qs), u1 = load_u32_from_u16(qs + 2);
  const uint hl = qh >> (8 * h), hh = qh >> (16 + 8 * h);
  const uint q0 = (u0 & 0x0F0F0F0Fu) | spread_bits4(hl & 0xF);
  const uint q1 = (u1 & 0x0F0F0F0Fu) | spread_bits4((hl >> 4) & 0xF);
  const uint q2 = ((u0 >> 4) & 0x0F0F0F0Fu) | spread_bits4(hh & 0xF);
  const uint q3 = ((u1 >> 4) & 0x0F0F0F0Fu) | spread_bits4((hh >> 4) & 0xF);
  return (dot(bytes_to_float4(q0), xv.v[0]) + dot(bytes_to_float4(q1), xv.v[1])) +
         (dot(bytes_to_float4(q2), xv.v[2]) + dot(bytes_to_float4(q3), xv.v[3]));
}
inline void q5_values16(device const uchar * qs, uint qh, int c, thread float * out) {
  const int shift = (c & 1) * 4;
  for (int i = 0; i < 16; i++) out[i] = float(((qs[i] >> shift) & 0xF) | (((qh >> (16 * (c & 1) + i)) & 1) << 4));
}

struct DqQ5_0 {
  typedef float STAGE;
  typedef ActQ8_0 ACT;
  enum { PART = 16 };
  static int parts(int k) { return k / 16; }
  typedef Q5X X;
  template <typename P>
  static void load_x(P x, int p, int, thread X & xv) {
    q5_load_x(x, p, xv);
  }
  static float vec_dot(device const char * row, int p, int, thread const X & xv) {
    device const block_q5_0 * b = (device const block_q5_0 *)row + (p >> 1);
    const uint qh = load_u32_from_u16((device const ushort *)b->qh);
    const float d = float(b->d);
    return d * (q5_dot((device const ushort *)(b->qs + (p & 1) * 8), qh, p & 1, xv) - 16.0f * xv.sum);
  }
  static void dequant16(device const char * row, int c, int, thread float * out) {
    device const block_q5_0 * b = (device const block_q5_0 *)row + (c >> 1);
    const float d = float(b->d);
    q5_values16(b->qs, load_u32_from_u16((device const ushort *)b->qh), c, out);
    for (int i = 0; i < 16; i++) out[i] = d * (out[i] - 16.0f);
  }
};
struct DqQ5_1 {
  typedef float STAGE;
  typedef ActQ8_0 ACT;
  enum { PART = 16 };
  static int parts(int k) { return k / 16; }
  typedef Q5X X;
  template <typename P>
  static void load_x(P x, int p, int, thread X & xv) {
    q5_load_x(x, p, xv);
  }
  static float vec_dot(device const char * row, int p, int, thread const X & xv) {
    device const block_q5_1 * b = (device const block_q5_1 *)row + (p >> 1);
    const uint qh = load_u32_from_u16((device const ushort *)b->qh);
    const float d = float(b->d), m = float(b->m);
    return d * q5_dot((device const ushort *)(b->qs + (p & 1) * 8), qh, p & 1, xv) + m * xv.sum;
  }
  static void dequant16(device const char * row, int c, int, thread float * out) {
    device const block_q5_1 * b = (device const block_q5_1 *)row + (c >> 1);
    const float d = float(b->d), m = float(b->m);
    q5_values16(b->qs, load_u32_from_u16((device const ushort *)b->qh), c, out);
    for (int i = 0; i < 16; i++) out[i] = d * out[i] + m;
  }
};

// ---- q8_0: 16 values per part, two int8 per ushort load --------------------------------
struct DqQ8_0 {
  typedef float STAGE;
  typedef ActQ8_0 ACT;
  enum { PART = 16 };
  static int parts(int k) { return k / 16; }
  struct X {
    float v[16];  // x[16h .. 16h+15] of block p / 2
  };
  template <typename P>
  static void load_x(P x, int p, int, thread X & xv) {
    const P xb = x + 16 * p;
    for (int i = 0; i < 16; i++) xv.v[i] = xb[i];
  }
  static float vec_dot(device const char * row, int p, int, thread const X & xv) {
    device const block_q8_0 * b = (device const block_q8_0 *)row + (p >> 1);
    device const ushort * q = (device const ushort *)(b->qs + (p & 1) * 16);
    float a0 = 0.0f, a1 = 0.0f;
    for (int i = 0; i < 8; i++) {
      const char2 c = as_type<char2>(q[i]);
      a0 += xv.v[2 * i] * float(c[0]);
      a1 += xv.v[2 * i + 1] * float(c[1]);
    }
    return float(b->d) * (a0 + a1);
  }
  static void dequant16(device const char * row, int c, int, thread float * out) {
    device const block_q8_0 * b = (device const block_q8_0 *)row + (c >> 1);
    const float d = float(b->d);
    device const int8_t * q = b->qs + (c & 1) * 16;
    for (int i = 0; i < 16; i++) out[i] = d * float(q[i]);
  }
};

// ---- q4_K / q5_K: 32 values per part, 8 parts per 256-value super-block ------------------
// Part p of super-block p / 8: iq = (p % 8) / 4, ir = p % 4. It covers qs bytes
// 32*iq + 8*ir .. +7 (64-value group iq: low nibbles sub-block 2iq, high 2iq+1) and the
// same bytes of group iq+2 (sub-blocks 2iq+4, 2iq+5), elements l = 8*ir .. 8*ir+7 of each
// of those four 32-value sub-blocks. Pairing group iq with iq+2 makes one lane need
// exactly one "simple" and one "packed" 6-bit scale/min pair: decoded from three ushort
// loads with masks, no branch.
struct QKScales {
  float sc[4];  // sub-blocks 2iq, 2iq+1, 2iq+4, 2iq+5
  float mn[4];
};
inline void k4_scales(device const uchar * scales, int iq, thread QKScales & s) {
  device const ushort * s16 = (device const ushort *)scales;
  const ushort a = s16[iq], b = s16[iq + 2], c = s16[iq + 4];
  const ushort sc_lo = a & 0x3F3F, mn_lo = b & 0x3F3F;
  const ushort sc_hi = (c & 0x0F0F) | ((a & 0xC0C0) >> 2);
  const ushort mn_hi = ((c >> 4) & 0x0F0F) | ((b & 0xC0C0) >> 2);
  s.sc[0] = float(sc_lo & 0xFF);
  s.sc[1] = float(sc_lo >> 8);
  s.sc[2] = float(sc_hi & 0xFF);
  s.sc[3] = float(sc_hi >> 8);
  s.mn[0] = float(mn_lo & 0xFF);
  s.mn[1] = float(mn_lo >> 8);
  s.mn[2] = float(mn_hi & 0xFF);
  s.mn[3] = float(mn_hi >> 8);
}
// Scale and min of sub-block j (0..7), for dequant16.
inline void k4_scale_min(device const uchar * s, int j, thread float & sc, thread float & mn) {
  QKScales t;
  k4_scales(s, (j >> 1) & 1, t);
  const int i = (j & 1) + ((j >> 2) << 1);
  sc = t.sc[i];
  mn = t.mn[i];
}
struct QKX {
  float v[32];  // q4_K: pre-scaled as Q4X per sub-block piece; q5_K: plain
  float sum[4];
};
// Activations of part p: pieces [0..7] sub-block 2iq, [8..15] 2iq+1, [16..23] 2iq+4, [24..31] 2iq+5.
template <typename P>
inline void qk_load_x(P x, int p, bool prescale, thread QKX & xv) {
  const int iq = (p & 7) >> 2, ir = p & 3;
  const P xb = x + (p >> 3) * 256 + 64 * iq + 8 * ir;
  for (int g = 0; g < 4; g++) {
    const P xs = xb + 32 * g + 64 * (g >> 1);  // 0, 32, 128, 160
    float s = 0.0f;
    for (int i = 0; i < 8; i++) {
      const float v = xs[i];
      s += v;
      // q4_K: low-nibble pieces (g even) x1 / x1/256, high-nibble pieces x1/16 / x1/4096
      const float f = (i & 1 ? 1.0f / 256.0f : 1.0f) * (g & 1 ? 1.0f / 16.0f : 1.0f);
      xv.v[8 * g + i] = prescale ? v * f : v;
    }
    xv.sum[g] = s;
  }
}

struct DqQ4_K {
  typedef float STAGE;
  typedef ActQ8_K ACT;
  enum { PART = 32 };
  static int parts(int k) { return k / 32; }
  typedef QKX X;
  template <typename P>
  static void load_x(P x, int p, int, thread X & xv) {
    qk_load_x(x, p, true, xv);
  }
  static float vec_dot(device const char * row, int p, int, thread const X & xv) {
    device const block_q4_K * b = (device const block_q4_K *)row + (p >> 3);
    const int iq = (p & 7) >> 2, ir = p & 3;
    QKScales s;
    k4_scales(b->scales, iq, s);
    device const ushort * q1 = (device const ushort *)(b->qs + 32 * iq + 8 * ir);
    device const ushort * q2 = q1 + 32;  // group iq + 2
    float a[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < 4; i++) {
      const ushort u = q1[i], w = q2[i];
      a[0] += xv.v[2 * i] * float(u & 0x000F) + xv.v[2 * i + 1] * float(u & 0x0F00);
      a[1] += xv.v[8 + 2 * i] * float(u & 0x00F0) + xv.v[9 + 2 * i] * float(u & 0xF000);
      a[2] += xv.v[16 + 2 * i] * float(w & 0x000F) + xv.v[17 + 2 * i] * float(w & 0x0F00);
      a[3] += xv.v[24 + 2 * i] * float(w & 0x00F0) + xv.v[25 + 2 * i] * float(w & 0xF000);
    }
    const float d = float(b->d), dmin = float(b->dmin);
    return d * ((s.sc[0] * a[0] + s.sc[1] * a[1]) + (s.sc[2] * a[2] + s.sc[3] * a[3])) -
           dmin * ((s.mn[0] * xv.sum[0] + s.mn[1] * xv.sum[1]) + (s.mn[2] * xv.sum[2] + s.mn[3] * xv.sum[3]));
  }
  // Chunk c = 16 values: sub-block j = (c % 16) / 2, elements 16 * (c % 2) .. +15 of it.
  static void dequant16(device const char * row, int c, int, thread float * out) {
    device const block_q4_K * b = (device const block_q4_K *)row + (c >> 4);
    const int j = (c & 15) >> 1;
    float sc, mn;
    k4_scale_min(b->scales, j, sc, mn);
    const float d = float(b->d) * sc, m = float(b->dmin) * mn;
    device const uchar * q = b->qs + 32 * (j >> 1) + 16 * (c & 1);
    const int shift = (j & 1) * 4;
    for (int i = 0; i < 16; i++) out[i] = d * float((q[i] >> shift) & 0xF) - m;
  }
};
struct DqQ5_K {
  typedef float STAGE;
  typedef ActQ8_K ACT;
  enum { PART = 32 };
  static int parts(int k) { return k / 32; }
  typedef QKX X;
  template <typename P>
  static void load_x(P x, int p, int, thread X & xv) {
    qk_load_x(x, p, false, xv);
  }
  // The 5th bit of element l of sub-block s is bit s of qh[l]: with qh bytes 8ir..8ir+7
  // read as two uints, (qh >> s) & 0x01010101 gives four of them at bit 0 of each byte.
  static float vec_dot(device const char * row, int p, int, thread const X & xv) {
    device const block_q5_K * b = (device const block_q5_K *)row + (p >> 3);
    const int iq = (p & 7) >> 2, ir = p & 3;
    QKScales s;
    k4_scales(b->scales, iq, s);
    device const uint * q1 = (device const uint *)(b->qs + 32 * iq + 8 * ir);
    device const uint * q2 = q1 + 16;  // group iq + 2
    device const uint * qh = (device const uint *)(b->qh + 8 * ir);
    float a[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < 2; i++) {
      const uint u = q1[i], w = q2[i], h = qh[i];
      const uint s0 = 2 * uint(iq);
      const uint v0 = (u & 0x0F0F0F0Fu) | (((h >> s0) & 0x01010101u) << 4);
      const uint v1 = ((u >> 4) & 0x0F0F0F0Fu) | (((h >> (s0 + 1)) & 0x01010101u) << 4);
      const uint v2 = (w & 0x0F0F0F0Fu) | (((h >> (s0 + 4)) & 0x01010101u) << 4);
      const uint v3 = ((w >> 4) & 0x0F0F0F0Fu) | (((h >> (s0 + 5)) & 0x01010101u) << 4);
      const int o = 4 * i;
      a[0] += dot(bytes_to_float4(v0), float4(xv.v[o], xv.v[o + 1], xv.v[o + 2], xv.v[o + 3]));
      a[1] += dot(bytes_to_float4(v1), float4(xv.v[8 + o], xv.v[9 + o], xv.v[10 + o], xv.v[11 + o]));
      a[2] += dot(bytes_to_float4(v2), float4(xv.v[16 + o], xv.v[17 + o], xv.v[18 + o], xv.v[19 + o]));
      a[3] += dot(bytes_to_float4(v3), float4(xv.v[24 + o], xv.v[25 + o], xv.v[26 + o], xv.v[27 + o]));
    }
    const float d = float(b->d), dmin = float(b->dmin);
    return d * ((s.sc[0] * a[0] + s.sc[1] * a[1]) + (s.sc[2] * a[2] + s.sc[3] * a[3])) -
           dmin * ((s.mn[0] * xv.sum[0] + s.mn[1] * xv.sum[1]) + (s.mn[2] * xv.sum[2] + s.mn[3] * xv.sum[3]));
  }
  static void dequant16(device const char * row, int c, int, thread float * out) {
    device const block_q5_K * b = (device const block_q5_K *)row + (c >> 4);
    const int j = (c & 15) >> 1;
    float sc, mn;
    k4_scale_min(b->scales, j, sc, mn);
    const float d = float(b->d) * sc, m = float(b->dmin) * mn;
    device const uchar * q = b->qs + 32 * (j >> 1) + 16 * (c & 1);
    device const uchar * qh = b->qh + 16 * (c & 1);
    const int shift = (j & 1) * 4;
    for (int i = 0; i < 16; i++) out[i] = d * float(((q[i] >> shift) & 0xF) | (((qh[i] >> j) & 1) << 4)) - m;
  }
};

// ---- q6_K: 16 values per part, 16 parts per super-block ---------------------------------
// Part p of super-block p / 16: ip = (p % 16) / 8 (128-value half), l0 = 4 * (p % 8). It
// covers l = l0..l0+3 of the half's four 32-value quarters: ql bytes [64ip + l0, +4) hold
// quarter 0 (low nibbles) and 2 (high), ql bytes [64ip + 32 + l0, +4) quarters 1 and 3, qh
// bytes [32ip + l0, +4) the top 2 bits of all four (bits 2qq, 2qq+1). Assembled four quants
// per uint (SWAR); the block is 2-byte aligned, so each uint is two ushort loads.
struct DqQ6_K {
  typedef float STAGE;
  typedef ActQ8_K ACT;
  enum { PART = 16 };
  static int parts(int k) { return k / 16; }
  struct X {
    float4 v[4];  // quarter qq: x[128ip + 32qq + l0 .. +3]
    float sum[4];
  };
  template <typename P>
  static void load_x(P x, int p, int, thread X & xv) {
    const P xb = x + (p >> 4) * 256 + 128 * ((p & 15) >> 3) + 4 * (p & 7);
    for (int qq = 0; qq < 4; qq++) {
      const P xs = xb + 32 * qq;
      xv.v[qq] = float4(xs[0], xs[1], xs[2], xs[3]);
      xv.sum[qq] = (xs[0] + xs[1]) + (xs[2] + xs[3]);
    }
  }
  static float vec_dot(device const char * row, int p, int, thread const X & xv) {
    device const block_q6_K * b = (device const block_q6_K *)row + (p >> 4);
    const int ip = (p & 15) >> 3, l0 = 4 * (p & 7);
    device const ushort * ql = (device const ushort *)(b->ql + 64 * ip + l0);
    const uint u1 = load_u32_from_u16(ql), u2 = load_u32_from_u16(ql + 16);
    const uint h = load_u32_from_u16((device const ushort *)(b->qh + 32 * ip + l0));
    const uint q0 = (u1 & 0x0F0F0F0Fu) | ((h & 0x03030303u) << 4);
    const uint q1 = (u2 & 0x0F0F0F0Fu) | ((h & 0x0C0C0C0Cu) << 2);
    const uint q2 = ((u1 >> 4) & 0x0F0F0F0Fu) | (h & 0x30303030u);
    const uint q3 = ((u2 >> 4) & 0x0F0F0F0Fu) | ((h >> 2) & 0x30303030u);
    device const int8_t * sc = b->scales + 8 * ip + (l0 >> 4);
    const float s = float(sc[0]) * (dot(bytes_to_float4(q0), xv.v[0]) - 32.0f * xv.sum[0]) +
                    float(sc[2]) * (dot(bytes_to_float4(q1), xv.v[1]) - 32.0f * xv.sum[1]) +
                    float(sc[4]) * (dot(bytes_to_float4(q2), xv.v[2]) - 32.0f * xv.sum[2]) +
                    float(sc[6]) * (dot(bytes_to_float4(q3), xv.v[3]) - 32.0f * xv.sum[3]);
    return float(b->d) * s;
  }
  // Chunk c = 16 values: half ip = (c % 16) / 8, quarter qq = (c % 8) / 2, l = 16 * (c % 2) .. +15.
  static void dequant16(device const char * row, int c, int, thread float * out) {
    device const block_q6_K * b = (device const block_q6_K *)row + (c >> 4);
    const int ip = (c & 15) >> 3, qq = (c & 7) >> 1, l0 = (c & 1) * 16;
    device const uchar * ql = b->ql + 64 * ip + (qq & 1) * 32 + l0;
    device const uchar * qh = b->qh + 32 * ip + l0;
    const int shift_l = (qq >> 1) * 4, shift_h = 2 * qq;
    const float d = float(b->d) * float(b->scales[8 * ip + 2 * qq + (l0 >> 4)]);
    for (int i = 0; i < 16; i++) {
      const int q = int((ql[i] >> shift_l) & 0xF) | (int((qh[i] >> shift_h) & 3) << 4);
      out[i] = d * float(q - 32);
    }
  }
};

// ---- q2_K / q3_K: 16 values per part, one 16-value sub-block each -----------------------
// Part p = sub-block s = p % 16 of super-block p / 16: half h = s / 8, bit plane j = (s % 8) / 2,
// bytes i = s % 2: qs bytes [32h + 16i, +16) hold it in bits 2j, 2j+1 (read as 4 uints:
// q2_K's blocks are 4-byte aligned, q3_K's 2-byte, so two ushorts each). q2_K: masking a
// uint with 0x03030303 << 2j leaves each quant times 4^j, so its activations are stored
// times 4^-j instead of shifting every weight. q3_K's third bit is bit s / 2 of
// hmask[16i + l]: the plane is shifted down and the bit put beside it (activations plain).
struct QK16X {
  float4 v[4];  // x[16s .. 16s+15] (q2_K: times 4^-j)
  float sum;    // their plain sum (for q2_K's min and q3_K's -4)
};
template <typename P>
inline void qk16_load_x(P x, int p, bool prescale, thread QK16X & xv) {
  const P xb = x + 16 * p;
  const float f = prescale ? 1.0f / float(1 << (2 * ((p & 7) >> 1))) : 1.0f;
  float s = 0.0f;
  for (int i = 0; i < 4; i++) {
    const float4 t = float4(xb[4 * i], xb[4 * i + 1], xb[4 * i + 2], xb[4 * i + 3]);
    s += (t[0] + t[1]) + (t[2] + t[3]);
    xv.v[i] = t * f;
  }
  xv.sum = s;
}

struct DqQ2_K {
  typedef float STAGE;
  typedef ActQ8_K ACT;
  enum { PART = 16 };
  static int parts(int k) { return k / 16; }
  typedef QK16X X;
  template <typename P>
  static void load_x(P x, int p, int, thread X & xv) {
    qk16_load_x(x, p, true, xv);
  }
  static float vec_dot(device const char * row, int p, int, thread const X & xv) {
    device const block_q2_K * b = (device const block_q2_K *)row + (p >> 4);
    const int s = p & 15;
    device const uint * q = (device const uint *)(b->qs + 32 * (s >> 3) + 16 * (s & 1));
    const uint mask = 0x03030303u << (2 * ((s & 7) >> 1));
    float a = 0.0f;
    for (int i = 0; i < 4; i++) a += dot(bytes_to_float4(q[i] & mask), xv.v[i]);
    const uint sc = b->scales[s];
    return float(b->d) * float(sc & 0xF) * a - float(b->dmin) * float(sc >> 4) * xv.sum;
  }
  // Chunk c = sub-block c % 16 of super-block c / 16.
  static void dequant16(device const char * row, int c, int, thread float * out) {
    device const block_q2_K * b = (device const block_q2_K *)row + (c >> 4);
    const int s = c & 15, shift = 2 * ((s & 7) >> 1);
    device const uchar * q = b->qs + 32 * (s >> 3) + 16 * (s & 1);
    const float d = float(b->d) * float(b->scales[s] & 0xF), m = float(b->dmin) * float(b->scales[s] >> 4);
    for (int i = 0; i < 16; i++) out[i] = d * float((q[i] >> shift) & 3) - m;
  }
};

// The signed 6-bit scale of sub-block s of a q3_K block (see kernels/quant_blocks.h).
inline float q3k_scale(device const uchar * sc, int s) {
  const int lo = (sc[s & 7] >> (4 * (s >> 3))) & 0xF;
  const int hi = (sc[8 + (s & 3)] >> (2 * (s >> 2))) & 3;
  return float((lo | (hi << 4)) - 32);
}
struct DqQ3_K {
  typedef float STAGE;
  typedef ActQ8_K ACT;
  enum { PART = 16 };
  static int parts(int k) { return k / 16; }
  typedef QK16X X;
  template <typename P>
  static void load_x(P x, int p, int, thread X & xv) {
    qk16_load_x(x, p, false, xv);
  }
  // sum (q2 + 4 * hbit - 4) * x: the q2 part pre-scaled, the hbit part times 4 * 4^j.
  static float vec_dot(device const char * row, int p, int, thread const X & xv) {
    device const block_q3_K * b = (device const block_q3_K *)row + (p >> 4);
    const int s = p & 15, j = (s & 7) >> 1, t = s >> 1;
    device const ushort * q = (device const ushort *)(b->qs + 32 * (s >> 3) + 16 * (s & 1));
    device const ushort * hm = (device const ushort *)(b->hmask + 16 * (s & 1));
    // Four 3-bit quants per uint (SWAR): bit plane j of qs in bits 0-1 of each byte,
    // hmask bit t beside them in bit 2: q + 4h, one conversion and one dot.
    float a = 0.0f;
    for (int i = 0; i < 4; i++) {
      const uint lo = (load_u32_from_u16(q + 2 * i) >> (2 * j)) & 0x03030303u;
      const uint hi = ((load_u32_from_u16(hm + 2 * i) >> t) & 0x01010101u) << 2;
      a += dot(bytes_to_float4(lo | hi), xv.v[i]);
    }
    return float(b->d) * q3k_scale(b->scales, s) * (a - 4.0f * xv.sum);
  }
  static void dequant16(device const char * row, int c, int, thread float * out) {
    device const block_q3_K * b = (device const block_q3_K *)row + (c >> 4);
    const int s = c & 15, shift = 2 * ((s & 7) >> 1), t = s >> 1;
    device const uchar * q = b->qs + 32 * (s >> 3) + 16 * (s & 1);
    device const uchar * hm = b->hmask + 16 * (s & 1);
    const float d = float(b->d) * q3k_scale(b->scales, s);
    for (int i = 0; i < 16; i++) out[i] = d * float(int((q[i] >> shift) & 3) + 4 * int((hm[i] >> t) & 1) - 4);
  }
};

// ---- iq4_nl / iq4_xs: 4-bit indices into 16 non-uniform levels ------------------------
constant float kIq4Levels[16] = {-127.0f, -104.0f, -83.0f, -65.0f, -49.0f, -35.0f, -22.0f, -10.0f,
                                 1.0f,    13.0f,   25.0f,  38.0f,  53.0f,  69.0f,  89.0f,  113.0f};
// Byte j of a 32-value block holds element j (low nibble) and 16 + j (high). Sum over 8
// bytes (4 ushorts) of level(lo) * xl[j] + level(hi) * xh[j].
inline float iq4_dot8(device const ushort * q, thread const float * xl, thread const float * xh) {
  float a = 0.0f, b = 0.0f;
  for (int i = 0; i < 4; i++) {
    const uint u = q[i];
    a += kIq4Levels[u & 0xF] * xl[2 * i] + kIq4Levels[(u >> 8) & 0xF] * xl[2 * i + 1];
    b += kIq4Levels[(u >> 4) & 0xF] * xh[2 * i] + kIq4Levels[u >> 12] * xh[2 * i + 1];
  }
  return a + b;
}

// iq4_nl: part p = half h = p % 2 of block p / 2 (as q4_0): qs bytes [8h, 8h + 8).
struct DqIQ4_NL {
  typedef float STAGE;
  typedef ActQ8_0 ACT;
  enum { PART = 16 };
  static int parts(int k) { return k / 16; }
  struct X {
    float v[16];  // x[8h .. 8h+7], x[16+8h .. 16+8h+7] of block p / 2
  };
  template <typename P>
  static void load_x(P x, int p, int, thread X & xv) {
    const P xb = x + (p >> 1) * 32 + (p & 1) * 8;
    for (int i = 0; i < 8; i++) {
      xv.v[i] = xb[i];
      xv.v[8 + i] = xb[16 + i];
    }
  }
  static float vec_dot(device const char * row, int p, int, thread const X & xv) {
    device const block_iq4_nl * b = (device const block_iq4_nl *)row + (p >> 1);
    return float(b->d) * iq4_dot8((device const ushort *)(b->qs + (p & 1) * 8), xv.v, xv.v + 8);
  }
  static void dequant16(device const char * row, int c, int, thread float * out) {
    device const block_iq4_nl * b = (device const block_iq4_nl *)row + (c >> 1);
    const float d = float(b->d);
    const int shift = (c & 1) * 4;
    for (int i = 0; i < 16; i++) out[i] = d * kIq4Levels[(b->qs[i] >> shift) & 0xF];
  }
};

// iq4_xs: part p = sub-block s = p % 8 of super-block p / 8, 32 values, its 16 qs bytes
// read as 8 ushorts (two iq4_dot8 halves), scale d * (ls - 32).
struct DqIQ4_XS {
  typedef float STAGE;
  typedef ActQ8_K ACT;
  enum { PART = 32 };
  static int parts(int k) { return k / 32; }
  struct X {
    float v[32];  // x[0..7], x[16..23], x[8..15], x[24..31] of sub-block p (iq4_dot8's order)
  };
  static float scale(device const block_iq4_xs * b, int s) {
    const int ls = ((b->scales_l[s >> 1] >> (4 * (s & 1))) & 0xF) | (((b->scales_h >> (2 * s)) & 3) << 4);
    return float(b->d) * float(ls - 32);
  }
  template <typename P>
  static void load_x(P x, int p, int, thread X & xv) {
    const P xb = x + 32 * p;
    for (int i = 0; i < 8; i++) {
      xv.v[i] = xb[i];
      xv.v[8 + i] = xb[16 + i];
      xv.v[16 + i] = xb[8 + i];
      xv.v[24 + i] = xb[24 + i];
    }
  }
  static float vec_dot(device const char * row, int p, int, thread const X & xv) {
    device const block_iq4_xs * b = (device const block_iq4_xs *)row + (p >> 3);
    const int s = p & 7;
    device const ushort * q = (device const ushort *)(b->qs + 16 * s);
    return scale(b, s) * (iq4_dot8(q, xv.v, xv.v + 8) + iq4_dot8(q + 4, xv.v + 16, xv.v + 24));
  }
  // Chunk c: sub-block (c % 16) / 2, elements 16 * (c % 2) .. +15 (low / high nibbles).
  static void dequant16(device const char * row, int c, int, thread float * out) {
    device const block_iq4_xs * b = (device const block_iq4_xs *)row + (c >> 4);
    const int s = (c & 15) >> 1, shift = (c & 1) * 4;
    const float d = scale(b, s);
    device const uchar * q = b->qs + 16 * s;
    for (int i = 0; i < 16; i++) out[i] = d * kIq4Levels[(q[i] >> shift) & 0xF];
  }
};

#endif  // MM_KERNELS_DEQUANT_H
