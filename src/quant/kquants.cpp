// K-quants: 256-element super-blocks with quantized per-group scales (Q2_K..Q6_K) and Q8_K,
// the activation format their dot products use. Quantizers follow llama-quantize's reference
// (no importance matrix) choices: per-group scale search, then 4/6/8-bit scales of the scales.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/blocks.hpp"
#include "quant/formats.hpp"
#include "quant/quant.hpp"
#include "quant/scale_search.hpp"

namespace bantam::quant::formats {
namespace {

constexpr float kTinyGroup = 1e-15f;

int clamp_level(int l, int lo, int hi) { return std::max(lo, std::min(hi, l)); }

// Packs 2-bit levels: byte l of each 32-byte quarter holds elements l, l+32, l+64, l+96 of a
// 128-element half (Q2_K and Q3_K share this layout).
void pack_2bit(const uint8_t* L, uint8_t* qs) {
  for (int half = 0; half < kQK_K; half += 128) {
    for (int l = 0; l < 32; ++l) {
      qs[half / 4 + l] = static_cast<uint8_t>(L[half + l] | (L[half + l + 32] << 2) |
                                              (L[half + l + 64] << 4) | (L[half + l + 96] << 6));
    }
  }
}

// Q4_K/Q5_K: 8 groups of 32 with a 6-bit scale and a 6-bit min each, weighted by
// rms(group) + |x| so large values count more without ignoring small ones.
void quantize_k4_groups(const float* x, const AffineSearch& search, uint8_t scales_out[12], uint16_t& d_out,
                        uint16_t& dmin_out, uint8_t L[kQK_K]) {
  float scales[8], mins[8], weights[32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    const float* g = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += g[l] * g[l];
    const float rms = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = rms + std::fabs(g[l]);
    scales[j] = search_affine(search, 32, g, weights, L + 32 * j, mins[j]);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  std::memset(scales_out, 0, 12);
  for (int j = 0; j < 8; ++j) {
    const auto ls = static_cast<uint8_t>(std::min(63, nearest_int(inv_scale * scales[j])));
    const auto lm = static_cast<uint8_t>(std::min(63, nearest_int(inv_min * mins[j])));
    if (j < 4) {
      scales_out[j] |= ls;
      scales_out[j + 4] |= lm;
    } else {
      scales_out[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
      scales_out[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      scales_out[j] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
  d_out = fp32_to_fp16(max_scale / 63.0f);
  dmin_out = fp32_to_fp16(max_min / 63.0f);
  // Re-round every value against the scales as stored.
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    k4_scale_min(j, scales_out, sc, m);
    const float d = fp16_to_fp32(d_out) * sc;
    if (d == 0) continue;
    const float dm = fp16_to_fp32(dmin_out) * m;
    for (int l = 0; l < 32; ++l) {
      L[32 * j + l] = static_cast<uint8_t>(clamp_level(nearest_int((x[32 * j + l] + dm) / d), 0, search.nmax));
    }
  }
}

}  // namespace

void quantize_q2_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ2_K*>(dst);
  const AffineSearch search{3, -0.5f, 0.1f, 15, true};
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    uint8_t L[kQK_K];
    float scales[16], mins[16], weights[16];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(src[16 * j + l]);
      scales[j] = search_affine(search, 16, src + 16 * j, weights, L + 16 * j, mins[j]);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    for (int j = 0; j < 16; ++j) {
      const int ls = max_scale > 0 ? nearest_int(15.0f / max_scale * scales[j]) : 0;
      const int lm = max_min > 0 ? nearest_int(15.0f / max_min * mins[j]) : 0;
      b[i].scales[j] = static_cast<uint8_t>(ls | (lm << 4));
    }
    b[i].d = fp32_to_fp16(max_scale > 0 ? max_scale / 15.0f : 0.0f);
    b[i].dmin = fp32_to_fp16(max_min > 0 ? max_min / 15.0f : 0.0f);
    for (int j = 0; j < 16; ++j) {
      const float d = fp16_to_fp32(b[i].d) * static_cast<float>(b[i].scales[j] & 0xF);
      if (d == 0) continue;
      const float dm = fp16_to_fp32(b[i].dmin) * static_cast<float>(b[i].scales[j] >> 4);
      for (int l = 0; l < 16; ++l) {
        L[16 * j + l] = static_cast<uint8_t>(clamp_level(nearest_int((src[16 * j + l] + dm) / d), 0, 3));
      }
    }
    pack_2bit(L, b[i].qs);
  }
}

void dequantize_q2_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ2_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
    for (int e = 0; e < kQK_K; ++e) {
      const int level = (b[i].qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3;
      const uint8_t sc = b[i].scales[e / 16];
      *dst++ = d * static_cast<float>(sc & 0xF) * static_cast<float>(level) - dmin * static_cast<float>(sc >> 4);
    }
  }
}

void quantize_q3_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ3_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    int8_t L[kQK_K];
    float scales[16];
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; ++j) {
      scales[j] = search_symmetric_refine(16, 4, src + 16 * j, L + 16 * j);
      if (std::fabs(scales[j]) > amax) {
        amax = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    std::memset(b[i].scales, 0, 12);
    if (max_scale != 0) {
      const float inv = -32.0f / max_scale;
      for (int j = 0; j < 16; ++j) {
        const int l = clamp_level(nearest_int(inv * scales[j]), -32, 31) + 32;
        if (j < 8) {
          b[i].scales[j] = static_cast<uint8_t>(l & 0xF);
        } else {
          b[i].scales[j - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
        }
        b[i].scales[8 + j % 4] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
      }
      b[i].d = fp32_to_fp16(1 / inv);
    } else {
      b[i].d = fp32_to_fp16(0.0f);
    }
    int8_t sc[16];
    q3k_scales(b[i].scales, sc);
    for (int j = 0; j < 16; ++j) {
      const float d = fp16_to_fp32(b[i].d) * static_cast<float>(sc[j]);
      if (d == 0) continue;
      for (int l = 0; l < 16; ++l) {
        L[16 * j + l] = static_cast<int8_t>(clamp_level(nearest_int(src[16 * j + l] / d), -4, 3) + 4);
      }
    }
    // Levels 0..7: bit 2 goes to hmask (bit e/32 of byte e%32), the low 2 bits to qs.
    std::memset(b[i].hmask, 0, 32);
    uint8_t low[kQK_K];
    for (int e = 0; e < kQK_K; ++e) {
      if (L[e] > 3) b[i].hmask[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
      low[e] = static_cast<uint8_t>(L[e] & 3);
    }
    pack_2bit(low, b[i].qs);
  }
}

void dequantize_q3_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ3_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    int8_t sc[16];
    q3k_scales(b[i].scales, sc);
    for (int e = 0; e < kQK_K; ++e) {
      const int low = (b[i].qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3;
      const int high = (b[i].hmask[e % 32] >> (e / 32)) & 1;
      *dst++ = d * static_cast<float>(sc[e / 16]) * static_cast<float>(low - (high ? 0 : 4));
    }
  }
}

void quantize_q4_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_K*>(dst);
  const AffineSearch search{15, -1.0f, 0.1f, 20, false};
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    uint8_t L[kQK_K];
    quantize_k4_groups(src, search, b[i].scales, b[i].d, b[i].dmin, L);
    // Byte l of each 32-byte chunk c: element 64c+l low, 64c+32+l high.
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        b[i].qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
      }
    }
  }
}

void dequantize_q4_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      k4_scale_min(j, b[i].scales, sc, m);
      const float scale = d * sc, min = dmin * m;
      const uint8_t* q = b[i].qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      for (int l = 0; l < 32; ++l) *dst++ = scale * static_cast<float>((q[l] >> shift) & 0xF) - min;
    }
  }
}

void quantize_q5_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_K*>(dst);
  const AffineSearch search{31, -0.5f, 0.1f, 15, false};
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    uint8_t L[kQK_K];
    quantize_k4_groups(src, search, b[i].scales, b[i].d, b[i].dmin, L);
    // As Q4_K for the low 4 bits; bit 4 of element 32j+l is bit j of qh[l].
    std::memset(b[i].qh, 0, 32);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
        b[i].qs[32 * c + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
        b[i].qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      }
    }
  }
}

void dequantize_q5_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      k4_scale_min(j, b[i].scales, sc, m);
      const float scale = d * sc, min = dmin * m;
      const uint8_t* q = b[i].qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      for (int l = 0; l < 32; ++l) {
        const int level = ((q[l] >> shift) & 0xF) | (((b[i].qh[l] >> j) & 1) << 4);
        *dst++ = scale * static_cast<float>(level) - min;
      }
    }
  }
}

void quantize_q6_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ6_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    int8_t L[kQK_K];
    float scales[16];
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; ++j) {
      scales[j] = search_symmetric(16, 32, src + 16 * j, L + 16 * j);
      if (std::fabs(scales[j]) > amax) {
        amax = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    if (amax < kTinyGroup) {
      std::memset(&b[i], 0, sizeof(BlockQ6_K));
      continue;
    }
    const float inv = -128.0f / max_scale;
    b[i].d = fp32_to_fp16(1 / inv);
    for (int j = 0; j < 16; ++j) b[i].scales[j] = static_cast<int8_t>(std::min(127, nearest_int(inv * scales[j])));
    for (int j = 0; j < 16; ++j) {
      const float d = fp16_to_fp32(b[i].d) * static_cast<float>(b[i].scales[j]);
      if (d == 0) continue;
      for (int l = 0; l < 16; ++l) {
        L[16 * j + l] = static_cast<int8_t>(clamp_level(nearest_int(src[16 * j + l] / d), -32, 31) + 32);
      }
    }
    // Per 128-element half h: ql[64h+l] = e(l) | e(l+64) << 4, ql[64h+32+l] = e(l+32) | e(l+96) << 4,
    // qh[32h+l] = the high 2 bits of e(l), e(l+32), e(l+64), e(l+96).
    for (int h = 0; h < 2; ++h) {
      const int8_t* e = L + 128 * h;
      for (int l = 0; l < 32; ++l) {
        b[i].ql[64 * h + l] = static_cast<uint8_t>((e[l] & 0xF) | ((e[l + 64] & 0xF) << 4));
        b[i].ql[64 * h + 32 + l] = static_cast<uint8_t>((e[l + 32] & 0xF) | ((e[l + 96] & 0xF) << 4));
        b[i].qh[32 * h + l] = static_cast<uint8_t>((e[l] >> 4) | ((e[l + 32] >> 4) << 2) | ((e[l + 64] >> 4) << 4) |
                                                   ((e[l + 96] >> 4) << 6));
      }
    }
  }
}

void dequantize_q6_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ6_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    for (int e = 0; e < kQK_K; ++e) {
      const int h = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
      const uint8_t ql = b[i].ql[64 * h + 32 * (quarter % 2) + l];
      const int low = quarter < 2 ? ql & 0xF : ql >> 4;
      const int high = (b[i].qh[32 * h + l] >> (2 * quarter)) & 3;
      *dst++ = d * static_cast<float>(b[i].scales[e / 16]) * static_cast<float>((low | (high << 4)) - 32);
    }
  }
}

namespace {

// Levels -127..127 at -127 / max (so `max`, the extreme chosen, maps to -127), and group sums.
void quantize_q8_k_block(const float* src, float max, BlockQ8_K& b) {
  if (max == 0) {
    std::memset(&b, 0, sizeof(BlockQ8_K));
    return;
  }
  const float inv = -127.0f / max;
  for (int j = 0; j < kQK_K; ++j) b.qs[j] = static_cast<int8_t>(std::min(127, nearest_int(inv * src[j])));
  for (int g = 0; g < 16; ++g) {
    int sum = 0;
    for (int l = 0; l < 16; ++l) sum += b.qs[16 * g + l];
    b.bsums[g] = static_cast<int16_t>(sum);
  }
  b.d = 1 / inv;
}

}  // namespace

void quantize_q8_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    float amax = 0, max = 0;
    for (int j = 0; j < kQK_K; ++j) {
      if (std::fabs(src[j]) > amax) {
        amax = std::fabs(src[j]);
        max = src[j];
      }
    }
    // The first extreme maps to -127 exactly (its sign flipped), so every level fits in int8.
    quantize_q8_k_block(src, max, b[i]);
  }
}

void quantize_q8_k_positive_extreme(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    float amax = 0;
    for (int j = 0; j < kQK_K; ++j) amax = std::max(amax, std::fabs(src[j]));
    bool positive = false;
    for (int j = 0; j < kQK_K; ++j) positive = positive || src[j] == amax;
    quantize_q8_k_block(src, positive ? amax : -amax, b[i]);
  }
}

void dequantize_q8_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    for (int j = 0; j < kQK_K; ++j) *dst++ = b[i].d * static_cast<float>(b[i].qs[j]);
  }
}

}  // namespace bantam::quant::formats
