// The activation layout shared by every panel kernel (gemm_panel.h): plain
// C++, compiled for any CPU.
#include "gemm_panel.h"

#include <cstring>

#include "../../kernels/quant_blocks.h"

namespace mm {

size_t panel_act_row_bytes(int64_t k) { return static_cast<size_t>(k) + static_cast<size_t>(k / 32) * 12; }

void panel_layout_act_row(DType w, int64_t k, const void* quantized, uint8_t* dst) {
  const int64_t nb = k / 32;
  int8_t* qs = reinterpret_cast<int8_t*>(dst);   // [k]
  float* d = reinterpret_cast<float*>(dst + k);  // [nb]
  if (w == DType::Q2_K || w == DType::Q3_K || w == DType::IQ4_XS) {
    const block_q8_K* y = static_cast<const block_q8_K*>(quantized);
    int32_t* si = reinterpret_cast<int32_t*>(d + nb);  // [nb][2], see gemm_panel.h
    for (int64_t sb = 0; sb < k / QK_K; sb++) {
      std::memcpy(qs + QK_K * sb, y[sb].qs, QK_K);
      int32_t total = 0;
      for (int j = 0; j < 8; j++) {
        const int64_t b = 8 * sb + j;
        const int32_t lo = y[sb].bsums[2 * j], hi = y[sb].bsums[2 * j + 1];
        d[b] = y[sb].d;
        total += lo + hi;
        si[2 * b] = w == DType::IQ4_XS ? -128 * (lo + hi) : 0;
        // (int16 pair: low half sum of 16 2j, high half 2j+1; as madd reads it)
        si[2 * b + 1] =
            w == DType::Q2_K ? static_cast<int32_t>(static_cast<uint16_t>(lo) | (static_cast<uint32_t>(hi) << 16)) : 0;
      }
      if (w == DType::Q3_K) si[2 * 8 * sb] = -128 * total;
    }
    return;
  }
  if (w == DType::Q4_K || w == DType::Q5_K || w == DType::Q6_K) {
    const block_q8_K* y = static_cast<const block_q8_K*>(quantized);
    float* sf = d + nb;                                // q4_K, q5_K: [nb][2] scale * sum, 0
    int32_t* si = reinterpret_cast<int32_t*>(d + nb);  // q6_K: [nb][2] -32 * sum of each 16
    for (int64_t sb = 0; sb < k / QK_K; sb++) {
      std::memcpy(qs + QK_K * sb, y[sb].qs, QK_K);
      for (int j = 0; j < 8; j++) {
        const int64_t b = 8 * sb + j;
        d[b] = y[sb].d;
        if (w != DType::Q6_K) {
          sf[2 * b] = y[sb].d * static_cast<float>(y[sb].bsums[2 * j] + y[sb].bsums[2 * j + 1]);
          sf[2 * b + 1] = 0;
        } else {
          si[2 * b] = -32 * y[sb].bsums[2 * j];
          si[2 * b + 1] = -32 * y[sb].bsums[2 * j + 1];
        }
      }
    }
    return;
  }
  if (w == DType::Q4_1 || w == DType::Q5_1) {
    const block_q8_1* y = static_cast<const block_q8_1*>(quantized);
    float* s = d + nb;  // [nb][2] the block's stored s = d * sum, 0
    for (int64_t b = 0; b < nb; b++) {
      std::memcpy(qs + 32 * b, y[b].qs, 32);
      d[b] = fp16_to_fp32(y[b].d);
      s[2 * b] = fp16_to_fp32(y[b].s);
      s[2 * b + 1] = 0;
    }
    return;
  }
  const block_q8_0* y = static_cast<const block_q8_0*>(quantized);
  int32_t* s = reinterpret_cast<int32_t*>(d + nb);                                // [nb][2] -zero_point * sum, 0
  const int32_t zero_point = w == DType::Q4_0 ? 8 : w == DType::Q5_0 ? 16 : 128;  // (q8_0, iq4_nl: 128)
  for (int64_t b = 0; b < nb; b++) {
    std::memcpy(qs + 32 * b, y[b].qs, 32);
    d[b] = fp16_to_fp32(y[b].d);
    int32_t sum = 0;
    for (int i = 0; i < 32; i++) sum += y[b].qs[i];
    s[2 * b] = -zero_point * sum;
    s[2 * b + 1] = 0;
  }
}

bool panel_supports(DType w, int64_t k) {
  switch (w) {
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q8_0:
    case DType::IQ4_NL: return k > 0 && k % 32 == 0;
    case DType::Q2_K:
    case DType::Q3_K:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
    case DType::IQ4_XS: return k > 0 && k % QK_K == 0;
    case DType::F32:
    case DType::F16:
    case DType::BF16: return k > 0;
    default: return false;
  }
}

size_t panel_bytes_for(int rows, DType w, int64_t k) {
  if (panel_float_weights(w)) return panel_float_bytes(rows, k);
  const bool two_regions =
      w == DType::Q4_1 || w == DType::Q5_1 || w == DType::Q4_K || w == DType::Q5_K || w == DType::Q6_K;
  const size_t nb = static_cast<size_t>(k / 32), r = static_cast<size_t>(rows);
  if (panel_superblock_weights(w)) {
    const size_t nsb = nb / 8;
    return nb * 32 * r + nsb * r * sizeof(float) * (w == DType::Q2_K ? 2 + 8 : 1);
  }
  return nb * 32 * r + nb * r * sizeof(float) * (two_regions ? 2 : 1);
}

size_t panel_float_bytes(int rows, int64_t k) { return static_cast<size_t>(k) * rows * sizeof(float); }

void pack_float_panel(DType w, int64_t k, const uint8_t* src, size_t row_stride, int nr, int rows, float* panel) {
  for (int r = 0; r < rows; r++) {
    float* dst = panel + r;  // column c at dst[c * rows]
    if (r >= nr) {
      for (int64_t c = 0; c < k; c++) dst[c * rows] = 0.0f;
      continue;
    }
    const uint8_t* row = src + row_stride * r;
    if (w == DType::F32) {
      const float* x = reinterpret_cast<const float*>(row);
      for (int64_t c = 0; c < k; c++) dst[c * rows] = x[c];
    } else if (w == DType::F16) {
      const uint16_t* x = reinterpret_cast<const uint16_t*>(row);
      for (int64_t c = 0; c < k; c++) dst[c * rows] = fp16_to_fp32(x[c]);
    } else {
      const uint16_t* x = reinterpret_cast<const uint16_t*>(row);
      for (int64_t c = 0; c < k; c++) dst[c * rows] = bf16_to_fp32(x[c]);
    }
  }
}

}  // namespace mm
