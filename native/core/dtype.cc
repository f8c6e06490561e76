#include "dtype.h"

#include <cmath>
#include <string>
#include <vector>

#include "../../kernels/quant_blocks.h"

namespace mm {

namespace {
struct Entry {
  int32_t id;
  TypeTraits traits;
};
const Entry kTypes[] = {
    {0, {"f32", 1, 4, false}},
    {1, {"f16", 1, 2, false}},
    {2, {"q4_0", QK4_0, sizeof(block_q4_0), true}},
    {3, {"q4_1", QK4_1, sizeof(block_q4_1), true}},
    {6, {"q5_0", QK5_0, sizeof(block_q5_0), true}},
    {7, {"q5_1", QK5_1, sizeof(block_q5_1), true}},
    {8, {"q8_0", QK8_0, sizeof(block_q8_0), true}},
    {9, {"q8_1", QK8_1, sizeof(block_q8_1), true}},
    {10, {"q2_K", QK_K, sizeof(block_q2_K), true}},
    {11, {"q3_K", QK_K, sizeof(block_q3_K), true}},
    {12, {"q4_K", QK_K, sizeof(block_q4_K), true}},
    {13, {"q5_K", QK_K, sizeof(block_q5_K), true}},
    {14, {"q6_K", QK_K, sizeof(block_q6_K), true}},
    {15, {"q8_K", QK_K, sizeof(block_q8_K), true}},
    {20, {"iq4_nl", QK4_NL, sizeof(block_iq4_nl), true}},
    {23, {"iq4_xs", QK_K, sizeof(block_iq4_xs), true}},
    {26, {"i32", 1, 4, false}},
    {30, {"bf16", 1, 2, false}},
};
thread_local std::string unknown_name;
}  // namespace

const std::vector<int32_t>& known_types() {
  static const std::vector<int32_t> ids = [] {
    std::vector<int32_t> v;
    for (const Entry& e : kTypes) v.push_back(e.id);
    return v;
  }();
  return ids;
}

const TypeTraits* type_traits(int32_t t) {
  for (const Entry& e : kTypes)
    if (e.id == t) return &e.traits;
  return nullptr;
}

const char* type_name(int32_t t) {
  if (const TypeTraits* tt = type_traits(t)) return tt->name;
  unknown_name = "unknown(" + std::to_string(t) + ")";
  return unknown_name.c_str();
}

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: value = mant * 2^-24
      float f = std::ldexp(static_cast<float>(mant), -24);
      std::memcpy(&bits, &f, 4);
      bits |= sign;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

uint16_t fp32_to_fp16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000;
  uint32_t absx = x & 0x7fffffff;
  if (absx >= 0x7f800000) return static_cast<uint16_t>(sign | 0x7c00 | (absx > 0x7f800000 ? 0x200 : 0));
  if (absx >= 0x477ff000) return static_cast<uint16_t>(sign | 0x7c00);  // rounds to inf
  if (absx < 0x38800000) {                                              // result is subnormal or zero
    float a;
    std::memcpy(&a, &absx, 4);
    // 2^-24 units, round to nearest even via float rounding
    float scaled = a * 16777216.0f;
    uint32_t m = static_cast<uint32_t>(std::nearbyint(scaled));
    return static_cast<uint16_t>(sign | m);
  }
  uint32_t mant = absx & 0x7fffff;
  uint32_t exp = (absx >> 23) - 112;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
  return static_cast<uint16_t>(sign | h);
}

uint16_t fp32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((u >> 16) | 64);
  return static_cast<uint16_t>((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

}  // namespace mm
