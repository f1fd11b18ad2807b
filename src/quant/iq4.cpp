// IQ4_NL (32-blocks) and IQ4_XS (256-blocks of eight 32-groups with 6-bit scales): 4-bit indices
// into a fixed non-uniform table of 16 levels.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/blocks.hpp"
#include "quant/formats.hpp"
#include "quant/quant.hpp"

namespace bantam::quant::formats {
namespace {

constexpr float kTinyGroup = 1e-15f;
// Scales tried on each side of the max-based one.
constexpr int kScaleTries = 7;

// Index of the table level nearest to v (the lower one on ties).
int nearest_level(float v) {
  if (v <= kIQ4Values[0]) return 0;
  if (v >= kIQ4Values[15]) return 15;
  int lo = 0, hi = 15;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (v < kIQ4Values[mid]) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return v - kIQ4Values[lo] < kIQ4Values[hi] - v ? lo : hi;
}

// Best scale for one 32-group, weights x^2: tries inverse scales around the one that maps the
// extreme to the end level and keeps the least-squares scale of the best level assignment.
float group_scale(const float* x) {
  float amax = 0, max = 0;
  for (int j = 0; j < 32; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  if (amax < kTinyGroup) return 0;
  const auto fit = [&](float inv, float& sum_qx, float& sum_q2) {
    sum_qx = 0;
    sum_q2 = 0;
    for (int j = 0; j < 32; ++j) {
      const float q = kIQ4Values[nearest_level(inv * x[j])];
      const float w = x[j] * x[j];
      sum_qx += w * q * x[j];
      sum_q2 += w * q * q;
    }
  };
  float sum_qx, sum_q2;
  fit(1 / (-max / kIQ4Values[0]), sum_qx, sum_q2);
  float d = sum_qx / sum_q2;
  float best = d * sum_qx;
  for (int t = -kScaleTries; t <= kScaleTries; ++t) {
    fit((static_cast<float>(t) + kIQ4Values[0]) / max, sum_qx, sum_q2);
    if (sum_q2 > 0 && sum_qx * sum_qx > best * sum_q2) {
      d = sum_qx / sum_q2;
      best = d * sum_qx;
    }
  }
  return d;
}

void pack_levels(const float* x, float d, uint8_t qs[16]) {
  const float inv = d != 0 ? 1 / d : 0.0f;
  for (int j = 0; j < 16; ++j) {
    qs[j] = static_cast<uint8_t>(nearest_level(inv * x[j]) | (nearest_level(inv * x[j + 16]) << 4));
  }
}

}  // namespace

void dequantize_iq4_nl(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ4_NL*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < 16; ++j) {
      dst[j] = d * kIQ4Values[b[i].qs[j] & 0xF];
      dst[j + 16] = d * kIQ4Values[b[i].qs[j] >> 4];
    }
  }
}

void dequantize_iq4_xs(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ4_XS*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    for (int ib = 0; ib < 8; ++ib, dst += 32) {
      const float dl = d * static_cast<float>(iq4xs_scale(b[i], ib));
      const uint8_t* q = b[i].qs + 16 * ib;
      for (int j = 0; j < 16; ++j) {
        dst[j] = dl * kIQ4Values[q[j] & 0xF];
        dst[j + 16] = dl * kIQ4Values[q[j] >> 4];
      }
    }
  }
}

void quantize_iq4_nl(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockIQ4_NL*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    const float d = group_scale(src);
    b[i].d = fp32_to_fp16(d);
    // Levels are chosen against the unrounded scale, as llama-quantize does.
    pack_levels(src, d, b[i].qs);
  }
}

void quantize_iq4_xs(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockIQ4_XS*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    float scales[8];
    float max_scale = 0, amax = 0;
    for (int ib = 0; ib < 8; ++ib) {
      scales[ib] = group_scale(src + 32 * ib);
      if (std::fabs(scales[ib]) > amax) {
        amax = std::fabs(scales[ib]);
        max_scale = scales[ib];
      }
    }
    // The largest scale maps to -32, the end of the 6-bit signed range.
    const float d = -max_scale / 32;
    const float inv = d != 0 ? 1 / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    b[i].scales_h = 0;
    std::memset(b[i].scales_l, 0, 4);
    for (int ib = 0; ib < 8; ++ib) {
      const int l = std::clamp(nearest_int(inv * scales[ib]), -32, 31);
      pack_levels(src + 32 * ib, d * static_cast<float>(l), b[i].qs + 16 * ib);
      const int stored = l + 32;
      b[i].scales_l[ib / 2] |= static_cast<uint8_t>((stored & 0xF) << (4 * (ib % 2)));
      b[i].scales_h |= static_cast<uint16_t>((stored >> 4) << (2 * ib));
    }
  }
}

}  // namespace bantam::quant::formats
