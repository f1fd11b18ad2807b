// aarch64 Advanced SIMD dot kernels for the quantized types, written once for two levels:
// kernels_neon.cpp includes this with BANTAM_NEON_DOTPROD 0 (int8 products by smull + sadalp) and
// kernels_neon_dotprod.cpp with 1 (sdot, ARMv8.2). This file holds the 32-element blocks; the
// K-quants and IQ4_XS are in kernels_neon_kquants_impl.hpp, the summation order and the
// vec_dot/gemv/gemm drivers in kernels_neon_common.hpp. Internal to src/quant.
#pragma once

#include "quant/kernels_neon_common.hpp"
#include "quant/kernels_neon_kquants_impl.hpp"

namespace bantam::quant::kernels {
namespace {

// Levels of a 32-block: get() gives elements 0..15 in `lo` and 16..31 in `hi`, signed, or for the
// types with a min (kMin) unsigned, the min then joining as m * s with Q8_1's block sum s.
struct Q8_0Levels {
  using Block = BlockQ8_0;
  using Act = BlockQ8_0;
  static constexpr bool kMin = false;
  static void get(const Block& b, int8x16_t& lo, int8x16_t& hi) {
    lo = vld1q_s8(b.qs);
    hi = vld1q_s8(b.qs + 16);
  }
};

// Nibbles minus `offset` (elements j and j + 16 share byte j).
inline void nibbles(const uint8_t* qs, int8_t offset, int8x16_t& lo, int8x16_t& hi) {
  const uint8x16_t q = vld1q_u8(qs);
  lo = vsubq_s8(as_s8(vandq_u8(q, vdupq_n_u8(0x0F))), vdupq_n_s8(offset));
  hi = vsubq_s8(as_s8(vshrq_n_u8(q, 4)), vdupq_n_s8(offset));
}

// Five-bit levels minus `offset`: byte j of each half tests bit j % 8 of qh byte j / 8.
inline void five_bits(const uint8_t* qs, const uint8_t qh[4], int8_t offset, int8x16_t& lo, int8x16_t& hi) {
  const uint8x16_t q = vld1q_u8(qs);
  const uint8x16_t bit = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  const uint8x16_t sixteen = vdupq_n_u8(16);
  const uint8x16_t fifth_lo = vandq_u8(vtstq_u8(vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1])), bit), sixteen);
  const uint8x16_t fifth_hi = vandq_u8(vtstq_u8(vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3])), bit), sixteen);
  lo = vsubq_s8(as_s8(vorrq_u8(vandq_u8(q, vdupq_n_u8(0x0F)), fifth_lo)), vdupq_n_s8(offset));
  hi = vsubq_s8(as_s8(vorrq_u8(vshrq_n_u8(q, 4), fifth_hi)), vdupq_n_s8(offset));
}

struct Q4_0Levels {
  using Block = BlockQ4_0;
  using Act = BlockQ8_0;
  static constexpr bool kMin = false;
  static void get(const Block& b, int8x16_t& lo, int8x16_t& hi) { nibbles(b.qs, 8, lo, hi); }
};

struct Q4_1Levels {
  using Block = BlockQ4_1;
  using Act = BlockQ8_1;
  static constexpr bool kMin = true;
  static void get(const Block& b, int8x16_t& lo, int8x16_t& hi) { nibbles(b.qs, 0, lo, hi); }
};

struct Q5_0Levels {
  using Block = BlockQ5_0;
  using Act = BlockQ8_0;
  static constexpr bool kMin = false;
  static void get(const Block& b, int8x16_t& lo, int8x16_t& hi) { five_bits(b.qs, b.qh, 16, lo, hi); }
};

struct Q5_1Levels {
  using Block = BlockQ5_1;
  using Act = BlockQ8_1;
  static constexpr bool kMin = true;
  static void get(const Block& b, int8x16_t& lo, int8x16_t& hi) { five_bits(b.qs, b.qh, 0, lo, hi); }
};

struct IQ4_NLLevels {
  using Block = BlockIQ4_NL;
  using Act = BlockQ8_0;
  static constexpr bool kMin = false;
  static void get(const Block& b, int8x16_t& lo, int8x16_t& hi) {
    const int8x16_t table = vld1q_s8(kIQ4Values);
    const uint8x16_t q = vld1q_u8(b.qs);
    lo = vqtbl1q_s8(table, vandq_u8(q, vdupq_n_u8(0x0F)));
    hi = vqtbl1q_s8(table, vshrq_n_u8(q, 4));
  }
};

// 32-blocks: per (row, token) and block, the exact integer dot in four int32 lanes, converted and
// added by one FMA (times dw * da) into four float lanes; a min's m * s joins a scalar FMA chain.
// The row's result is the float lanes' sum plus that chain. Each block's levels are unpacked once
// per tile and dotted with T tokens.
template <typename Levels>
struct Blocks32 {
  static constexpr int kGemvRows = 4, kRows = 2, kTokens = 2;
  using Block = typename Levels::Block;
  using Act = typename Levels::Act;

  template <int R, int T>
  static void tile(int64_t n, const uint8_t* weights, size_t stride, const uint8_t* activations, size_t act_stride,
                   float* out, size_t out_stride) {
    const Block* w[R];
    tile_rows(weights, stride, w);
    const Act* a[T];
    tile_rows(activations, act_stride, a);
    float32x4_t acc[R][T];
    float mins[R][T] = {};
    for (int r = 0; r < R; ++r) {
      for (int t = 0; t < T; ++t) acc[r][t] = vdupq_n_f32(0);
    }
    for (int64_t i = 0; i < n / kQK; ++i) {
      int8x16_t act_lo[T], act_hi[T];
      float da[T];
      for (int t = 0; t < T; ++t) {
        act_lo[t] = vld1q_s8(a[t][i].qs);
        act_hi[t] = vld1q_s8(a[t][i].qs + 16);
        da[t] = half(a[t][i].d);
      }
      for (int r = 0; r < R; ++r) {
        int8x16_t lo, hi;
        Levels::get(w[r][i], lo, hi);
        const float dw = half(w[r][i].d);
        for (int t = 0; t < T; ++t) {
          const int32x4_t isum = dot_s8(dot_s8(vdupq_n_s32(0), lo, act_lo[t]), hi, act_hi[t]);
          acc[r][t] = vfmaq_n_f32(acc[r][t], vcvtq_f32_s32(isum), dw * da[t]);
          if constexpr (Levels::kMin) mins[r][t] = std::fma(half(w[r][i].m), half(a[t][i].s), mins[r][t]);
        }
      }
    }
    for (int r = 0; r < R; ++r) {
      for (int t = 0; t < T; ++t) out[static_cast<size_t>(t) * out_stride + r] = vaddvq_f32(acc[r][t]) + mins[r][t];
    }
  }
};

void add_neon_kernels(Table& table) {
  add_tile_kernels<Blocks32<Q4_0Levels>>(table, GgmlType::Q4_0);
  add_tile_kernels<Blocks32<Q4_1Levels>>(table, GgmlType::Q4_1);
  add_tile_kernels<Blocks32<Q5_0Levels>>(table, GgmlType::Q5_0);
  add_tile_kernels<Blocks32<Q5_1Levels>>(table, GgmlType::Q5_1);
  add_tile_kernels<Blocks32<Q8_0Levels>>(table, GgmlType::Q8_0);
  add_tile_kernels<Blocks32<IQ4_NLLevels>>(table, GgmlType::IQ4_NL);
  add_kquant_kernels(table);
}

}  // namespace
}  // namespace bantam::quant::kernels
