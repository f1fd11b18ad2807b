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

// Levels of a 32-block: get() gives elements 0..15 in `lo` and 16..31 in `hi` as int8, times
// 2^kFracBits (scaled levels keep the unpacking short; the integer dot is then that much larger
// and the int-to-float conversion takes the power of two back out, exactly). The types with a min
// (kMin) give unsigned levels, the min then joining as m * s with Q8_1's block sum s.
struct Q8_0Levels {
  using Block = BlockQ8_0;
  using Act = BlockQ8_0;
  static constexpr bool kMin = false;
  static constexpr int kFracBits = 0;
  static void get(const Block& b, int8x16_t& lo, int8x16_t& hi) {
    lo = vld1q_s8(b.qs);
    hi = vld1q_s8(b.qs + 16);
  }
};

struct Q4_0Levels {
  using Block = BlockQ4_0;
  using Act = BlockQ8_0;
  static constexpr bool kMin = false;
  static constexpr int kFracBits = 4;
  // Nibble x ^ 8 is x - 8 as a signed 4-bit number: in a byte's top four bits it reads as 16 (x - 8).
  static void get(const Block& b, int8x16_t& lo, int8x16_t& hi) {
    const uint8x16_t q = veorq_u8(vld1q_u8(b.qs), vdupq_n_u8(0x88));
    lo = as_s8(vshlq_n_u8(q, 4));
    hi = as_s8(vandq_u8(q, vdupq_n_u8(0xF0)));
  }
};

// Unsigned nibbles (elements j and j + 16 share byte j).
inline void nibbles(const uint8_t* qs, uint8x16_t& lo, uint8x16_t& hi) {
  const uint8x16_t q = vld1q_u8(qs);
  lo = vandq_u8(q, vdupq_n_u8(0x0F));
  hi = vshrq_n_u8(q, 4);
}

struct Q4_1Levels {
  using Block = BlockQ4_1;
  using Act = BlockQ8_1;
  static constexpr bool kMin = true;
  static constexpr int kFracBits = 0;
  static void get(const Block& b, int8x16_t& lo, int8x16_t& hi) {
    uint8x16_t l, h;
    nibbles(b.qs, l, h);
    lo = as_s8(l);
    hi = as_s8(h);
  }
};

// Byte k of kFifth[x] is kSet where bit k of x is set, else kClear: eight fifth bits spread to
// eight bytes by one load, instead of vector shuffles and tests.
template <uint8_t kSet, uint8_t kClear>
struct FifthBitBytes {
  uint64_t bytes[256] = {};
  constexpr FifthBitBytes() {
    for (int x = 0; x < 256; ++x) {
      for (int k = 0; k < 8; ++k) bytes[x] |= static_cast<uint64_t>((x >> k) & 1 ? kSet : kClear) << (8 * k);
    }
  }
};

// Nibbles ORed with the fifth-bit bytes of qh (element j's bit is bit j of the little-endian word).
template <const auto& kTable>
inline void five_bits(const uint8_t* qs, const uint8_t qh[4], int8x16_t& lo, int8x16_t& hi) {
  uint8x16_t l, h;
  nibbles(qs, l, h);
  const auto fifth = [&](int k) { return vcreate_u8(kTable.bytes[qh[k]]); };
  lo = as_s8(vorrq_u8(l, vcombine_u8(fifth(0), fifth(1))));
  hi = as_s8(vorrq_u8(h, vcombine_u8(fifth(2), fifth(3))));
}

// Q5_0: a clear fifth bit makes the byte read as nibble - 16 (0xF0 | x), a set one as the nibble.
constexpr FifthBitBytes<0x00, 0xF0> kQ5_0Fifth{};
constexpr FifthBitBytes<0x10, 0x00> kQ5_1Fifth{};

struct Q5_0Levels {
  using Block = BlockQ5_0;
  using Act = BlockQ8_0;
  static constexpr bool kMin = false;
  static constexpr int kFracBits = 0;
  static void get(const Block& b, int8x16_t& lo, int8x16_t& hi) { five_bits<kQ5_0Fifth>(b.qs, b.qh, lo, hi); }
};

struct Q5_1Levels {
  using Block = BlockQ5_1;
  using Act = BlockQ8_1;
  static constexpr bool kMin = true;
  static constexpr int kFracBits = 0;
  static void get(const Block& b, int8x16_t& lo, int8x16_t& hi) { five_bits<kQ5_1Fifth>(b.qs, b.qh, lo, hi); }
};

struct IQ4_NLLevels {
  using Block = BlockIQ4_NL;
  using Act = BlockQ8_0;
  static constexpr bool kMin = false;
  static constexpr int kFracBits = 0;
  static void get(const Block& b, int8x16_t& lo, int8x16_t& hi) {
    const int8x16_t table = vld1q_s8(kIQ4Values);
    const uint8x16_t q = vld1q_u8(b.qs);
    lo = vqtbl1q_s8(table, vandq_u8(q, vdupq_n_u8(0x0F)));
    hi = vqtbl1q_s8(table, vshrq_n_u8(q, 4));
  }
};

template <int kFracBits>
inline float32x4_t to_float(int32x4_t v) {
  if constexpr (kFracBits == 0) {
    return vcvtq_f32_s32(v);
  } else {
    return vcvtq_n_f32_s32(v, kFracBits);  // v / 2^kFracBits, exact for these small integers
  }
}

// 32-blocks. The (row, token) pairs of a tile go four to a vector: lane l of group g is pair
// p = 4g + l, row p % R, token p / R. Per pair and block: the exact integer dot, converted and
// added by one FMA (times dw * da) into the pair's float lane; a min's m * s joins a second lane
// chain; the row's result is the two lanes' sum. Each pair's integer dot runs on in four int32
// lanes across blocks (wrapping, never reset); the block's dot is the group's lane totals minus
// those of the block before, exact modulo 2^32. Each block's levels are unpacked once per tile
// and dotted with T tokens.
template <typename Levels>
struct Blocks32 {
  static constexpr int kGemvRows = 8, kRows = 2, kTokens = 2;
  using Block = typename Levels::Block;
  using Act = typename Levels::Act;

  template <int R, int T>
  static void tile(int64_t n, const uint8_t* weights, size_t stride, const uint8_t* activations, size_t act_stride,
                   float* out, size_t out_stride) {
    constexpr int kPairs = R * T, kGroups = (kPairs + 3) / 4;
    const Block* w[R];
    tile_rows(weights, stride, w);
    const Act* a[T];
    tile_rows(activations, act_stride, a);
    int32x4_t running[kPairs];
    int32x4_t before[kGroups];
    float32x4_t acc[kGroups], mins[kGroups];
    for (int p = 0; p < kPairs; ++p) running[p] = vdupq_n_s32(0);
    for (int g = 0; g < kGroups; ++g) {
      before[g] = vdupq_n_s32(0);
      acc[g] = mins[g] = vdupq_n_f32(0);
    }
    for (int64_t i = 0; i < n / kQK; ++i) {
      int8x16_t act_lo[T], act_hi[T];
      for (int t = 0; t < T; ++t) {
        act_lo[t] = vld1q_s8(a[t][i].qs);
        act_hi[t] = vld1q_s8(a[t][i].qs + 16);
      }
      for (int r = 0; r < R; ++r) {
        int8x16_t lo, hi;
        Levels::get(w[r][i], lo, hi);
        for (int t = 0; t < T; ++t) running[t * R + r] = dot_s8(dot_s8(running[t * R + r], lo, act_lo[t]), hi, act_hi[t]);
      }
      for (int g = 0; g < kGroups; ++g) {
        int32x4_t lanes[4];
        uint16_t dw[4] = {}, da[4] = {}, m[4] = {}, s[4] = {};
        for (int l = 0; l < 4; ++l) {
          const int p = 4 * g + l;
          lanes[l] = p < kPairs ? running[p] : vdupq_n_s32(0);
          if (p >= kPairs) continue;
          dw[l] = w[p % R][i].d;
          da[l] = a[p / R][i].d;
          if constexpr (Levels::kMin) {
            m[l] = w[p % R][i].m;
            s[l] = a[p / R][i].s;
          }
        }
        const int32x4_t totals = group_totals(lanes);
        const int32x4_t block = vsubq_s32(totals, before[g]);
        before[g] = totals;
        // One token (gemv): its scale converted once, as a scalar (the same product per lane).
        const float32x4_t weight_scales = halves4(dw[0], dw[1], dw[2], dw[3]);
        const float32x4_t scale = T == 1 ? vmulq_n_f32(weight_scales, half(a[0][i].d))
                                         : vmulq_f32(weight_scales, halves4(da[0], da[1], da[2], da[3]));
        acc[g] = vfmaq_f32(acc[g], to_float<Levels::kFracBits>(block), scale);
        if constexpr (Levels::kMin) {
          mins[g] = vfmaq_f32(mins[g], halves4(m[0], m[1], m[2], m[3]), halves4(s[0], s[1], s[2], s[3]));
        }
      }
    }
    float sums[4 * kGroups];
    for (int g = 0; g < kGroups; ++g) vst1q_f32(sums + 4 * g, vaddq_f32(acc[g], mins[g]));
    for (int p = 0; p < kPairs; ++p) out[static_cast<size_t>(p / R) * out_stride + p % R] = sums[p];
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
