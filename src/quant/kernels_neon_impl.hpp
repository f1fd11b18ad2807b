// aarch64 Advanced SIMD dot kernels, written once for two levels: kernels_neon.cpp includes this
// with BANTAM_NEON_DOTPROD 0 (int8 products by smull + sadalp) and kernels_neon_dotprod.cpp with
// 1 (sdot, ARMv8.2). Everything here has internal linkage so the two copies never mix.
// Internal to src/quant.
#pragma once

#include <arm_neon.h>

#include <cstring>

#include "quant/blocks.hpp"
#include "quant/kernels.hpp"

namespace bantam::quant::kernels {
namespace {

inline float half(uint16_t h) {
  __fp16 f;  // storage-only half: converting it to float is one fcvt
  std::memcpy(&f, &h, 2);
  return static_cast<float>(f);
}

// acc + the 16 products a[j] * b[j], spread over the four int32 lanes (which lane gets which
// product differs between the two levels; callers only ever use the lane total).
inline int32x4_t dot_s8(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if BANTAM_NEON_DOTPROD
  return vdotq_s32(acc, a, b);
#else
  acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
  return vpadalq_s16(acc, vmull_high_s8(a, b));
#endif
}

// Dot of 32 signed levels (two vectors) with 32 int8 activations.
inline int32x4_t dot32(int8x16_t lo, int8x16_t hi, const int8_t* act) {
  return dot_s8(dot_s8(vdupq_n_s32(0), lo, vld1q_s8(act)), hi, vld1q_s8(act + 16));
}

inline int8x16_t as_s8(uint8x16_t v) { return vreinterpretq_s8_u8(v); }

// Lane l = products 4l..4l+3 of a and b, summed.
inline int32x4_t dot_quads(int8x16_t a, int8x16_t b) {
#if BANTAM_NEON_DOTPROD
  return vdotq_s32(vdupq_n_s32(0), a, b);
#else
  const int32x4_t low = vpaddlq_s16(vmull_s8(vget_low_s8(a), vget_low_s8(b)));
  const int32x4_t high = vpaddlq_s16(vmull_high_s8(a, b));
  return vpaddq_s32(low, high);
#endif
}

// Signed levels of a 32-block: elements 0..15 in `lo`, 16..31 in `hi`.
struct Q8_0Levels {
  using Block = BlockQ8_0;
  static void get(const Block& b, int8x16_t& lo, int8x16_t& hi) {
    lo = vld1q_s8(b.qs);
    hi = vld1q_s8(b.qs + 16);
  }
};

struct Q4_0Levels {
  using Block = BlockQ4_0;
  static void get(const Block& b, int8x16_t& lo, int8x16_t& hi) {
    const uint8x16_t q = vld1q_u8(b.qs);
    lo = vsubq_s8(as_s8(vandq_u8(q, vdupq_n_u8(0x0F))), vdupq_n_s8(8));
    hi = vsubq_s8(as_s8(vshrq_n_u8(q, 4)), vdupq_n_s8(8));
  }
};

struct Q5_0Levels {
  using Block = BlockQ5_0;
  static void get(const Block& b, int8x16_t& lo, int8x16_t& hi) {
    const uint8x16_t q = vld1q_u8(b.qs);
    // Byte j of each half tests bit j % 8 of qh byte j / 8 (of that half's two).
    const uint8x16_t bit = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t fifth_lo = vtstq_u8(vcombine_u8(vdup_n_u8(b.qh[0]), vdup_n_u8(b.qh[1])), bit);
    const uint8x16_t fifth_hi = vtstq_u8(vcombine_u8(vdup_n_u8(b.qh[2]), vdup_n_u8(b.qh[3])), bit);
    const uint8x16_t sixteen = vdupq_n_u8(16);
    lo = vsubq_s8(as_s8(vorrq_u8(vandq_u8(q, vdupq_n_u8(0x0F)), vandq_u8(fifth_lo, sixteen))), vdupq_n_s8(16));
    hi = vsubq_s8(as_s8(vorrq_u8(vshrq_n_u8(q, 4), vandq_u8(fifth_hi, sixteen))), vdupq_n_s8(16));
  }
};

struct IQ4_NLLevels {
  using Block = BlockIQ4_NL;
  static void get(const Block& b, int8x16_t& lo, int8x16_t& hi) {
    const int8x16_t table = vld1q_s8(kIQ4Values);
    const uint8x16_t q = vld1q_u8(b.qs);
    lo = vqtbl1q_s8(table, vandq_u8(q, vdupq_n_u8(0x0F)));
    hi = vqtbl1q_s8(table, vshrq_n_u8(q, 4));
  }
};

// ggml's eight-lane x86 order (see dot_in_lanes in dot_scalar.cpp): lanes 0..3 in one vector,
// 4..7 in another.
template <typename Levels>
float neon_dot_lanes(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const typename Levels::Block*>(weights);
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  float32x4_t acc_low = vdupq_n_f32(0), acc_high = vdupq_n_f32(0);
  for (int64_t i = 0; i < n / kQK; ++i) {
    int8x16_t lo, hi;
    Levels::get(w[i], lo, hi);
    const float d = half(w[i].d) * half(a[i].d);
    acc_low = vfmaq_n_f32(acc_low, vcvtq_f32_s32(dot_quads(lo, vld1q_s8(a[i].qs))), d);
    acc_high = vfmaq_n_f32(acc_high, vcvtq_f32_s32(dot_quads(hi, vld1q_s8(a[i].qs + 16))), d);
  }
  float lanes[8];
  vst1q_f32(lanes, acc_low);
  vst1q_f32(lanes + 4, acc_high);
  return hsum8(lanes);
}

// llama.cpp's repacked Q4_0 order (DotOrder::Interleaved8): four rows in the four lanes, lane r
// running row r's single FMA chain over the blocks. A short last group repeats its last row.
void neon_gemv_q4_0_chain(int64_t n, const void* weights, size_t stride, int64_t rows, const void* activations,
                          float* out) {
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  const auto* base = static_cast<const uint8_t*>(weights);
  for (int64_t r0 = 0; r0 < rows; r0 += 4) {
    const int64_t count = rows - r0 < 4 ? rows - r0 : 4;
    const BlockQ4_0* w[4];
    for (int64_t r = 0; r < 4; ++r) {
      w[r] = reinterpret_cast<const BlockQ4_0*>(base + static_cast<size_t>(r0 + (r < count ? r : count - 1)) * stride);
    }
    float32x4_t acc = vdupq_n_f32(0);
    for (int64_t i = 0; i < n / kQK; ++i) {
      int32x4_t p[4];
      for (int r = 0; r < 4; ++r) {
        int8x16_t lo, hi;
        Q4_0Levels::get(w[r][i], lo, hi);
        p[r] = dot32(lo, hi, a[i].qs);
      }
      const int32x4_t isum = vpaddq_s32(vpaddq_s32(p[0], p[1]), vpaddq_s32(p[2], p[3]));  // lane r: row r
      const float dw[4] = {half(w[0][i].d), half(w[1][i].d), half(w[2][i].d), half(w[3][i].d)};
      acc = vfmaq_f32(acc, vcvtq_f32_s32(isum), vmulq_n_f32(vld1q_f32(dw), half(a[i].d)));
    }
    float result[4];
    vst1q_f32(result, acc);
    for (int64_t r = 0; r < count; ++r) out[r0 + r] = result[r];
  }
}

float neon_dot_q4_0_chain(int64_t n, const void* weights, const void* activations) {
  float out;
  neon_gemv_q4_0_chain(n, weights, 0, 1, activations, &out);
  return out;
}

// The 8 scales and 8 mins of a Q4_K super-block (same packing as blocks.hpp's k4_scale_min).
inline void k4_unpack(const uint8_t* packed, uint8_t scales[8], uint8_t mins[8]) {
  uint32_t u[3];
  std::memcpy(u, packed, 12);
  const uint32_t s_lo = u[0] & 0x3F3F3F3F, m_lo = u[1] & 0x3F3F3F3F;
  const uint32_t s_hi = (u[2] & 0x0F0F0F0F) | (((u[0] >> 6) & 0x03030303) << 4);
  const uint32_t m_hi = ((u[2] >> 4) & 0x0F0F0F0F) | (((u[1] >> 6) & 0x03030303) << 4);
  std::memcpy(scales, &s_lo, 4);
  std::memcpy(scales + 4, &s_hi, 4);
  std::memcpy(mins, &m_lo, 4);
  std::memcpy(mins + 4, &m_hi, 4);
}

// Lane k: mins[2k] * (bsums[4k] + bsums[4k+1]) + mins[2k+1] * (bsums[4k+2] + bsums[4k+3]); pair
// sums fit int16 (|bsum| <= 16 * 128).
inline int32x4_t k4_min_lanes(const int16_t* bsums, const uint8_t mins[8]) {
  const int16x8_t pairs = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));
  const int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mins)));
  return vpaddq_s32(vmull_s16(vget_low_s16(pairs), vget_low_s16(m)), vmull_high_s16(pairs, m));
}

// K-quants in ggml's AVX2 vec_dot order (DotOrder::VecDot, see dot_scalar_kquants.cpp): lanes
// 0..3 of the eight in one vector, 4..7 in another; dot_quads puts elements 4l..4l+3 of 16 in
// lane l, so the first 16 elements of each 32-element chunk feed `low` and the rest `high`.
float neon_dot_q4_k(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ4_K*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  const uint8x16_t low4 = vdupq_n_u8(0x0F);
  float32x4_t acc_low = vdupq_n_f32(0), acc_high = vdupq_n_f32(0), acc_min = vdupq_n_f32(0);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    uint8_t scales[8], mins[8];
    k4_unpack(w[i].scales, scales, mins);
    acc_min = vfmaq_n_f32(acc_min, vcvtq_f32_s32(k4_min_lanes(a[i].bsums, mins)), -a[i].d * half(w[i].dmin));
    int32x4_t low = vdupq_n_s32(0), high = vdupq_n_s32(0);
    for (int c = 0; c < 4; ++c) {
      // 32 bytes hold 64 elements: low nibbles are elements 64c.., high ones 64c+32..
      const uint8x16_t q0 = vld1q_u8(w[i].qs + 32 * c), q1 = vld1q_u8(w[i].qs + 32 * c + 16);
      const int8_t* act = a[i].qs + 64 * c;
      low = vmlaq_n_s32(low, dot_quads(as_s8(vandq_u8(q0, low4)), vld1q_s8(act)), scales[2 * c]);
      high = vmlaq_n_s32(high, dot_quads(as_s8(vandq_u8(q1, low4)), vld1q_s8(act + 16)), scales[2 * c]);
      low = vmlaq_n_s32(low, dot_quads(as_s8(vshrq_n_u8(q0, 4)), vld1q_s8(act + 32)), scales[2 * c + 1]);
      high = vmlaq_n_s32(high, dot_quads(as_s8(vshrq_n_u8(q1, 4)), vld1q_s8(act + 48)), scales[2 * c + 1]);
    }
    const float d = a[i].d * half(w[i].d);
    acc_low = vfmaq_n_f32(acc_low, vcvtq_f32_s32(low), d);
    acc_high = vfmaq_n_f32(acc_high, vcvtq_f32_s32(high), d);
  }
  float lanes[8], mins_total[4];
  vst1q_f32(lanes, acc_low);
  vst1q_f32(lanes + 4, acc_high);
  vst1q_f32(mins_total, acc_min);
  return hsum8(lanes) + ((mins_total[0] + mins_total[2]) + (mins_total[1] + mins_total[3]));
}

float neon_dot_q6_k(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ6_K*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  const uint8x16_t low4 = vdupq_n_u8(0x0F), two_bits = vdupq_n_u8(3);
  const int8x16_t offset = vdupq_n_s8(32);
  float32x4_t acc_low = vdupq_n_f32(0), acc_high = vdupq_n_f32(0);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const int8_t* sc = w[i].scales;
    int32x4_t lanes[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
    for (int h = 0; h < 2; ++h) {
      // Half h holds 128 elements in four quarters of 32; each quarter is two 16-element groups
      // (k), with its own scale. Quarter q takes the low (q < 2) or high nibble of ql bytes
      // 32 * (q % 2) + l and bits 2q..2q+1 of qh byte l.
      for (int k = 0; k < 2; ++k) {
        const uint8x16_t qh = vld1q_u8(w[i].qh + 32 * h + 16 * k);
        const uint8x16_t ql0 = vld1q_u8(w[i].ql + 64 * h + 16 * k);
        const uint8x16_t ql1 = vld1q_u8(w[i].ql + 64 * h + 32 + 16 * k);
        const uint8x16_t low[4] = {vandq_u8(ql0, low4), vandq_u8(ql1, low4), vshrq_n_u8(ql0, 4),
                                   vshrq_n_u8(ql1, 4)};
        const uint8x16_t high[4] = {vandq_u8(qh, two_bits), vandq_u8(vshrq_n_u8(qh, 2), two_bits),
                                    vandq_u8(vshrq_n_u8(qh, 4), two_bits), vshrq_n_u8(qh, 6)};
        for (int q = 0; q < 4; ++q) {
          const int8x16_t level = vsubq_s8(as_s8(vorrq_u8(low[q], vshlq_n_u8(high[q], 4))), offset);
          const int32x4_t p = dot_quads(level, vld1q_s8(a[i].qs + 128 * h + 32 * q + 16 * k));
          lanes[k] = vmlaq_n_s32(lanes[k], p, sc[8 * h + 2 * q + k]);
        }
      }
    }
    const float d = a[i].d * half(w[i].d);
    acc_low = vfmaq_n_f32(acc_low, vcvtq_f32_s32(lanes[0]), d);
    acc_high = vfmaq_n_f32(acc_high, vcvtq_f32_s32(lanes[1]), d);
  }
  float out[8];
  vst1q_f32(out, acc_low);
  vst1q_f32(out + 4, acc_high);
  return hsum8(out);
}

// Float rows: four accumulators of four lanes hide the FMA latency; a scalar loop does the tail.
template <typename Load, typename Scalar>
float dot_floats(int64_t n, Load load, Scalar scalar) {
  float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int k = 0; k < 4; ++k) acc[k] = vfmaq_f32(acc[k], load.weights(i + 4 * k), load.activations(i + 4 * k));
  }
  for (; i + 4 <= n; i += 4) acc[0] = vfmaq_f32(acc[0], load.weights(i), load.activations(i));
  float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
  for (; i < n; ++i) sum += scalar(i);
  return sum;
}

struct F32Loads {
  const float* w;
  const float* a;
  float32x4_t weights(int64_t i) const { return vld1q_f32(w + i); }
  float32x4_t activations(int64_t i) const { return vld1q_f32(a + i); }
};

struct F16Loads {
  const uint16_t* w;
  const uint16_t* a;
  static float32x4_t widen(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
  float32x4_t weights(int64_t i) const { return widen(w + i); }
  float32x4_t activations(int64_t i) const { return widen(a + i); }
};

float neon_dot_f32(int64_t n, const void* weights, const void* activations) {
  const F32Loads load{static_cast<const float*>(weights), static_cast<const float*>(activations)};
  return dot_floats(n, load, [&](int64_t i) { return load.w[i] * load.a[i]; });
}

float neon_dot_f16(int64_t n, const void* weights, const void* activations) {
  const F16Loads load{static_cast<const uint16_t*>(weights), static_cast<const uint16_t*>(activations)};
  return dot_floats(n, load, [&](int64_t i) { return half(load.w[i]) * half(load.a[i]); });
}

void add_neon_kernels(Table& table) {
  add_row_kernel<neon_dot_f32>(table, GgmlType::F32);
  add_row_kernel<neon_dot_f16>(table, GgmlType::F16);
  add_row_kernel<neon_dot_lanes<Q8_0Levels>>(table, GgmlType::Q8_0);
  add_row_kernel<neon_dot_lanes<Q4_0Levels>>(table, GgmlType::Q4_0);
  add_row_kernel<neon_dot_lanes<Q5_0Levels>>(table, GgmlType::Q5_0);
  add_row_kernel<neon_dot_lanes<IQ4_NLLevels>>(table, GgmlType::IQ4_NL);
  table.set_dot(GgmlType::Q4_0, neon_dot_q4_0_chain, DotOrder::Interleaved8);
  table.set_gemv(GgmlType::Q4_0, neon_gemv_q4_0_chain, DotOrder::Interleaved8);
  add_row_kernel<neon_dot_q4_k>(table, GgmlType::Q4_K);
  add_row_kernel<neon_dot_q6_k>(table, GgmlType::Q6_K);
}

}  // namespace
}  // namespace bantam::quant::kernels
