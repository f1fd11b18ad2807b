// aarch64 kernels for the K-quants (Q2_K..Q6_K) and IQ4_XS, written once for both NEON levels
// (see kernels_neon_impl.hpp). Per (row, token) and super-block: the exact integer sum of every
// group's dot times its scale, kept in four int32 lanes (group dots are combined by pairwise adds,
// never a horizontal add per group), then one FMA times d * da into four float lanes; for Q2_K,
// Q4_K and Q5_K the mins' integer sum shares that FMA (its own lanes, times -dmin * da). Q3_K's
// and Q6_K's level offsets are taken out of the integer sum through the activations' block sums,
// so their levels stay unsigned. Internal to src/quant.
#pragma once

#include "quant/kernels_neon_common.hpp"

namespace bantam::quant::kernels {
namespace {

// How a type's per-group coefficients times the activations' 16-element sums (bsums) join the dot.
enum class GroupSums {
  None,
  Mins,     // minus dmin * da * sum(min[g] * bsums[g]): a float term of its own
  Offsets,  // minus sum(offset * scale[g] * bsums[g]), exact, inside the integer sum
};

// int8 scales (lanes in group order) as int32 lanes: 16 scales in four vectors.
inline void widen_scales16(int8x16_t s, int32x4_t out[4]) {
  const int16x8_t lo = vmovl_s8(vget_low_s8(s)), hi = vmovl_high_s8(s);
  out[0] = vmovl_s16(vget_low_s16(lo));
  out[1] = vmovl_high_s16(lo);
  out[2] = vmovl_s16(vget_low_s16(hi));
  out[3] = vmovl_high_s16(hi);
}

// Bits 0..1 of `v >> shift` (shift may be a loop variable: ushl takes it from a register).
inline uint8x16_t two_bits(uint8x16_t v, int shift) {
  return vandq_u8(vshlq_u8(v, vdupq_n_s8(static_cast<int8_t>(-shift))), vdupq_n_u8(3));
}

// The 8 scales and 8 mins of a Q4_K/Q5_K super-block (same packing as blocks.hpp's k4_scale_min),
// one byte each, as two 64-bit words: decoded in general registers (pipes the vector work leaves
// free), eight bytes at a time.
inline void k4_unpack(const uint8_t* packed, uint64_t& scales, uint64_t& mins) {
  uint64_t first;  // bytes 0..3: scales 0..3 (bits 0..5), 4..7: mins 0..3; bits 6, 7: the top of 4..7
  uint32_t last;   // bytes 8..11: the low four bits of scale 4..7 (low nibble) and min 4..7 (high)
  std::memcpy(&first, packed, 8);
  std::memcpy(&last, packed + 8, 4);
  const uint64_t low_four = first & 0x3F3F3F3F3F3F3F3F;  // scales 0..3, mins 0..3
  const uint64_t nibbles = (last | static_cast<uint64_t>(last) << 28) & 0x0F0F0F0F0F0F0F0F;
  const uint64_t high_four = nibbles | ((first >> 2) & 0x3030303030303030);  // scales 4..7, mins 4..7
  scales = (low_four & 0xFFFFFFFF) | high_four << 32;
  mins = (low_four >> 32) | (high_four & 0xFFFFFFFF00000000);
}

// Quad q (elements 64q..64q+63) of Q2_K's two-bit fields: bits 4(q%2) and 4(q%2)+2 of qs
// bytes 32(q/2)..32(q/2)+31.
inline void two_bit_levels(const uint8_t* qs, int q, int8x16_t v[4]) {
  const uint8x16_t x0 = vld1q_u8(qs + 32 * (q / 2)), x1 = vld1q_u8(qs + 32 * (q / 2) + 16);
  const int shift = 4 * (q % 2);
  v[0] = as_s8(two_bits(x0, shift));
  v[1] = as_s8(two_bits(x1, shift));
  v[2] = as_s8(two_bits(x0, shift + 2));
  v[3] = as_s8(two_bits(x1, shift + 2));
}

// sum(coef[g] * bsums[g]) over the 16 groups, in four int32 lanes.
inline int32x4_t bsum_products(const int16x8_t coef[2], const int16_t* bsums) {
  const int16x8_t b0 = vld1q_s16(bsums), b1 = vld1q_s16(bsums + 8);
  int32x4_t s = vmull_s16(vget_low_s16(coef[0]), vget_low_s16(b0));
  s = vmlal_high_s16(s, coef[0], b0);
  s = vmlal_s16(s, vget_low_s16(coef[1]), vget_low_s16(b1));
  return vmlal_high_s16(s, coef[1], b1);
}

// Each type gives: kGroup (elements per scale: 16 or 32), kSums, optionally kGemvRows (rows per
// gemv tile, else 1), and per super-block
//   Unpacked::Unpacked(block): scale lanes (sc, in group order) and, for Offsets, the bsums
//     coefficients (coef, one per 16 elements); for Mins, Unpacked::min_sums(bsums): the min
//     sums in four int32 lanes;
//   levels(block, q, v): the 4 * kGroup elements of quad q (four groups) as 16-byte vectors.
// Level vectors of a quad are in element order, so group g takes v[g * kGroup / 16 ...].
struct Q2_KType {
  using Block = BlockQ2_K;
  static constexpr int kGroup = 16;
  static constexpr GroupSums kSums = GroupSums::Mins;
  struct Unpacked {
    int32x4_t sc[4];
    int16x8_t coef[2];
    explicit Unpacked(const Block& b) {
      const uint8x16_t packed = vld1q_u8(b.scales);
      widen_scales16(as_s8(vandq_u8(packed, vdupq_n_u8(0x0F))), sc);
      const uint8x16_t mins = vshrq_n_u8(packed, 4);
      coef[0] = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mins)));
      coef[1] = vreinterpretq_s16_u16(vmovl_high_u8(mins));
    }
    int32x4_t min_sums(const int16_t* bsums) const { return bsum_products(coef, bsums); }
  };
  static void levels(const Block& b, int q, int8x16_t v[4]) { two_bit_levels(b.qs, q, v); }
};

struct Q3_KType {
  using Block = BlockQ3_K;
  static constexpr int kGroup = 16;
  static constexpr GroupSums kSums = GroupSums::Offsets;
  struct Unpacked {
    int32x4_t sc[4];
    int16x8_t coef[2];
    explicit Unpacked(const Block& b) {
      // Scale j: low 4 bits from byte j % 8 (low nibble for j < 8), high 2 from bits 2 (j / 4) of byte 8 + j % 4.
      const uint8x8_t low = vld1_u8(b.scales);
      uint32_t high_bytes;
      std::memcpy(&high_bytes, b.scales + 8, 4);
      const int8x16_t shifts = {0, 0, 0, 0, -2, -2, -2, -2, -4, -4, -4, -4, -6, -6, -6, -6};
      const uint8x16_t high = vandq_u8(vshlq_u8(vreinterpretq_u8_u32(vdupq_n_u32(high_bytes)), shifts), vdupq_n_u8(3));
      const uint8x16_t six = vorrq_u8(vcombine_u8(vand_u8(low, vdup_n_u8(0x0F)), vshr_n_u8(low, 4)), vshlq_n_u8(high, 4));
      const int8x16_t scales = vsubq_s8(as_s8(six), vdupq_n_s8(32));
      widen_scales16(scales, sc);
      // Levels are stored as level + 4: take 4 * scale * bsum back out.
      coef[0] = vshlq_n_s16(vmovl_s8(vget_low_s8(scales)), 2);
      coef[1] = vshlq_n_s16(vmovl_high_s8(scales), 2);
    }
  };
  // Quad q: Q2_K's two bits plus bit 2q + k / 2 of hmask byte l (k: group in the quad) as bit 2,
  // put together by one shift-insert (sli keeps the two low bits of the shifted qs byte, so they
  // need no mask of their own).
  static void levels(const Block& b, int q, int8x16_t v[4]) {
    const uint8x16_t x[2] = {vld1q_u8(b.qs + 32 * (q / 2)), vld1q_u8(b.qs + 32 * (q / 2) + 16)};
    const uint8x16_t mask[2] = {vld1q_u8(b.hmask), vld1q_u8(b.hmask + 16)};
    for (int k = 0; k < 4; ++k) {
      const uint8x16_t low = vshlq_u8(x[k % 2], vdupq_n_s8(static_cast<int8_t>(-(4 * (q % 2) + 2 * (k / 2)))));
      const uint8x16_t high = vandq_u8(vshlq_u8(mask[k % 2], vdupq_n_s8(static_cast<int8_t>(-(2 * q + k / 2)))),
                                       vdupq_n_u8(1));
      v[k] = as_s8(vsliq_n_u8(low, high, 2));
    }
  }
};

// Byte k of the low half of a vector as int32 lane k - 4 * kFirst, by one table lookup (indices
// out of range give zero bytes).
template <int kFirst>
inline int32x4_t byte_lanes(uint8x16_t bytes) {
  constexpr uint8_t x = 0xFF, k = 4 * kFirst;
  const uint8x16_t index = {k, x, x, x, k + 1, x, x, x, k + 2, x, x, x, k + 3, x, x, x};
  return vreinterpretq_s32_u8(vqtbl1q_u8(bytes, index));
}

template <typename Block>
struct K4Unpacked {
  int32x4_t sc[2];
  int16x8_t mins;
  explicit K4Unpacked(const Block& b) {
    uint64_t scales, min_bytes;
    k4_unpack(b.scales, scales, min_bytes);
    uint8x16_t s;  // the upper half is never looked up: one fmov, no vector op to clear it
    asm("fmov %d0, %x1" : "=w"(s) : "r"(scales));
    sc[0] = byte_lanes<0>(s);
    sc[1] = byte_lanes<1>(s);
    mins = vreinterpretq_s16_u16(vmovl_u8(vcreate_u8(min_bytes)));
  }
  // sum(min[j] * (bsums[2j] + bsums[2j + 1])) in four int32 lanes: one min per 32 elements.
  int32x4_t min_sums(const int16_t* bsums) const {
    const int16x8_t pairs = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));  // |sum| <= 32 * 128
    return vmlal_high_s16(vmull_s16(vget_low_s16(mins), vget_low_s16(pairs)), mins, pairs);
  }
};

// Quad q of a Q4_K/Q5_K super-block: sub-blocks 4q..4q+3, the low then the high nibbles of qs
// bytes 64q..64q+31, then of 64q+32..64q+63.
inline void k4_nibbles(const uint8_t* qs, int q, int8x16_t v[8]) {
  const uint8x16_t low4 = vdupq_n_u8(0x0F);
  for (int half_quad = 0; half_quad < 2; ++half_quad) {
    const uint8x16_t x0 = vld1q_u8(qs + 64 * q + 32 * half_quad), x1 = vld1q_u8(qs + 64 * q + 32 * half_quad + 16);
    int8x16_t* out = v + 4 * half_quad;
    out[0] = as_s8(vandq_u8(x0, low4));
    out[1] = as_s8(vandq_u8(x1, low4));
    out[2] = as_s8(vshrq_n_u8(x0, 4));
    out[3] = as_s8(vshrq_n_u8(x1, 4));
  }
}

struct Q4_KType {
  using Block = BlockQ4_K;
  // Two rows per gemv tile: the second row's work fills the first's latencies on in-order cores,
  // and the two share one conversion and FMA per super-block (llvm-mca, cycles per 256: Cortex-A55
  // 119 -> 99, Neoverse N1 29.6 -> 27.1); other types gain nothing or lose.
  static constexpr int kGemvRows = 2;
  static constexpr int kGroup = 32;
  static constexpr GroupSums kSums = GroupSums::Mins;
  using Unpacked = K4Unpacked<Block>;
  static void levels(const Block& b, int q, int8x16_t v[8]) { k4_nibbles(b.qs, q, v); }
};

struct Q5_KType {
  using Block = BlockQ5_K;
  static constexpr int kGroup = 32;
  static constexpr GroupSums kSums = GroupSums::Mins;
  using Unpacked = K4Unpacked<Block>;
  // k4_nibbles' order; the fifth bit of element 32j + l is bit j of qh byte l. Each vector by one
  // shift-insert: sli puts the bit above a low nibble (keeping the qs byte's low four bits, no
  // mask), sri puts a high nibble under the bit.
  static void levels(const Block& b, int q, int8x16_t v[8]) {
    const uint8x16_t qh[2] = {vld1q_u8(b.qh), vld1q_u8(b.qh + 16)};
    for (int k = 0; k < 8; ++k) {
      const int j = 4 * q + k / 2;  // the sub-block
      const uint8x16_t x = vld1q_u8(b.qs + 64 * q + 32 * (k / 4) + 16 * (k % 2));
      const uint8x16_t h = qh[k % 2];
      if ((k / 2) % 2 == 0) {
        const uint8x16_t bit = vandq_u8(vshlq_u8(h, vdupq_n_s8(static_cast<int8_t>(-j))), vdupq_n_u8(1));
        v[k] = as_s8(vsliq_n_u8(x, bit, 4));
      } else {
        const uint8x16_t bit = vandq_u8(vshlq_u8(h, vdupq_n_s8(static_cast<int8_t>(4 - j))), vdupq_n_u8(0x10));
        v[k] = as_s8(vsriq_n_u8(bit, x, 4));
      }
    }
  }
};

struct Q6_KType {
  using Block = BlockQ6_K;
  static constexpr int kGroup = 16;
  static constexpr GroupSums kSums = GroupSums::Offsets;
  struct Unpacked {
    int32x4_t sc[4];
    int16x8_t coef[2];
    explicit Unpacked(const Block& b) {
      const int8x16_t scales = vld1q_s8(b.scales);
      widen_scales16(scales, sc);
      // Levels are stored as level + 32: take 32 * scale * bsum back out.
      coef[0] = vshlq_n_s16(vmovl_s8(vget_low_s8(scales)), 5);
      coef[1] = vshlq_n_s16(vmovl_high_s8(scales), 5);
    }
  };
  // Half h = q / 2 holds 128 elements in quarters of 32; quad q takes quarters 2 (q % 2) and
  // 2 (q % 2) + 1. Quarter Q is the low (Q < 2) or high nibble of ql bytes 64h + 32 (Q % 2) + l
  // and bits 2Q, 2Q + 1 of qh byte 32h + l. Each level vector is put together by one shift-insert
  // (sli keeps ql's low nibble under the two bits shifted in; sri puts ql's high nibble under
  // them) from the two bits alone: one more operation each, qh >> 2 shared by quarters 1 and 3.
  static void levels(const Block& b, int q, int8x16_t v[4]) {
    const int h = q / 2;
    for (int k = 0; k < 4; ++k) {
      const int quarter = 2 * (q % 2) + k / 2;
      const uint8x16_t ql = vld1q_u8(b.ql + 64 * h + 32 * (k / 2) + 16 * (k % 2));
      const uint8x16_t qh = vld1q_u8(b.qh + 32 * h + 16 * (k % 2));
      const uint8x16_t three = vdupq_n_u8(3);
      uint8x16_t level;
      switch (quarter) {
        case 0: level = vsliq_n_u8(ql, vandq_u8(qh, three), 4); break;
        case 1: level = vsliq_n_u8(ql, vandq_u8(vshrq_n_u8(qh, 2), three), 4); break;
        case 2: level = vsriq_n_u8(vandq_u8(qh, vdupq_n_u8(0x30)), ql, 4); break;
        default: level = vsriq_n_u8(vshrq_n_u8(qh, 2), ql, 4); break;
      }
      v[k] = as_s8(level);
    }
  }
};

struct IQ4_XSType {
  using Block = BlockIQ4_XS;
  static constexpr int kGroup = 32;
  static constexpr GroupSums kSums = GroupSums::None;
  struct Unpacked {
    int32x4_t sc[2];
    explicit Unpacked(const Block& b) {
      int32_t scales[8];
      for (int ib = 0; ib < 8; ++ib) scales[ib] = iq4xs_scale(b, ib);
      sc[0] = vld1q_s32(scales);
      sc[1] = vld1q_s32(scales + 4);
    }
  };
  // Quad q: blocks 4q..4q+3, each 16 bytes of nibbles (low: elements 0..15, high: 16..31).
  static void levels(const Block& b, int q, int8x16_t v[8]) {
    const int8x16_t table = vld1q_s8(kIQ4Values);
    for (int g = 0; g < 4; ++g) {
      const uint8x16_t x = vld1q_u8(b.qs + 64 * q + 16 * g);
      v[2 * g] = vqtbl1q_s8(table, vandq_u8(x, vdupq_n_u8(0x0F)));
      v[2 * g + 1] = vqtbl1q_s8(table, vshrq_n_u8(x, 4));
    }
  }
};

// A type's kGemvRows where it gives one, else 1.
template <typename Type>
constexpr int gemv_rows() {
  if constexpr (requires { Type::kGemvRows; }) {
    return Type::kGemvRows;
  } else {
    return 1;
  }
}

template <typename Type>
struct KQuants {
  // Rows one after the other in a gemv tile (a super-block's scales, level vectors and
  // activations fill the registers: rows side by side spill); a gemm tile dots each unpacked quad
  // with two tokens.
  static constexpr int kGemvRows = gemv_rows<Type>(), kRows = 1, kTokens = 2;
  static constexpr int kQuads = kQK_K / (4 * Type::kGroup);  // four groups per quad
  static constexpr int kVecs = 4 * Type::kGroup / 16;       // 16-byte level vectors per quad
  using Block = typename Type::Block;

  template <int R, int T>
  static void tile(int64_t n, const uint8_t* weights, size_t stride, const uint8_t* activations, size_t act_stride,
                   float* out, size_t out_stride) {
    const Block* w[R];
    tile_rows(weights, stride, w);
    const BlockQ8_K* a[T];
    tile_rows(activations, act_stride, a);
    float32x4_t acc[R][T];
    // Q2_K, Q4_K, Q5_K: the scaled group dots and the min sums of a (row, token) pair in one
    // vector, so that one conversion and one FMA (times d * da and -dmin * da) serve both. With
    // two-row gemv tiles two pairs share a vector (lanes I, M of pair 2m, then of pair 2m + 1,
    // I and M the totals; an odd last pair's lanes 2, 3 are scaled by zero and never read), else
    // one pair has it all (lanes 0, 1: dots, 2, 3: mins). Either way a pair's operations are the
    // same in every tile shape.
    constexpr bool kMins = Type::kSums == GroupSums::Mins;
    constexpr int kPerVector = kGemvRows > 1 ? 2 : 1;
    constexpr int kPairs = R * T, kPairVectors = (kPairs + kPerVector - 1) / kPerVector;
    float32x4_t pair_acc[kPairVectors];
    int32x4_t dots_and_mins[R][T];
    for (int m = 0; m < kPairVectors; ++m) pair_acc[m] = vdupq_n_f32(0);
    // Four integer dots per (row, token), one per group of the quad, run on across quads and
    // super-blocks (wrapping, never reset: no zeroing per quad); a quad's group dots are their
    // lane totals minus the totals after the quad before, exact modulo 2^32.
    int32x4_t running[R][T][4], before[R][T];
    for (int r = 0; r < R; ++r) {
      for (int t = 0; t < T; ++t) {
        acc[r][t] = vdupq_n_f32(0);
        before[r][t] = vdupq_n_s32(0);
        for (int g = 0; g < 4; ++g) running[r][t][g] = vdupq_n_s32(0);
      }
    }
    for (int64_t i = 0; i < n / kQK_K; ++i) {
      for (int r = 0; r < R; ++r) {  // rows one after the other: each needs its own registers
        const Block& b = w[r][i];
        const typename Type::Unpacked u(b);
        int32x4_t isum[T];
        for (int t = 0; t < T; ++t) isum[t] = vdupq_n_s32(0);
        // Unrolled: the quad decides shifts and scale lanes, constants once unrolled.
#pragma GCC unroll 4
        for (int q = 0; q < kQuads; ++q) {
          int8x16_t v[kVecs];
          Type::levels(b, q, v);
          for (int t = 0; t < T; ++t) {
            const int8_t* act = a[t][i].qs + q * 4 * Type::kGroup;
            int32x4_t* p = running[r][t];
            for (int g = 0; g < 4; ++g) {
              for (int k = g * kVecs / 4; k < (g + 1) * kVecs / 4; ++k) p[g] = dot_s8(p[g], v[k], vld1q_s8(act + 16 * k));
            }
            const int32x4_t totals = group_totals(p);
            const int32x4_t group_dots = vsubq_s32(totals, before[r][t]);
            before[r][t] = totals;
            isum[t] = vmlaq_s32(isum[t], group_dots, u.sc[q]);
          }
        }
        if constexpr (kMins) {
          for (int t = 0; t < T; ++t) dots_and_mins[r][t] = vpaddq_s32(isum[t], u.min_sums(a[t][i].bsums));
        } else {
          const float dw = half(b.d);
          for (int t = 0; t < T; ++t) {
            if constexpr (Type::kSums == GroupSums::Offsets) isum[t] = vsubq_s32(isum[t], bsum_products(u.coef, a[t][i].bsums));
            acc[r][t] = vfmaq_n_f32(acc[r][t], vcvtq_f32_s32(isum[t]), dw * a[t][i].d);
          }
        }
      }
      if constexpr (kMins) {
        for (int m = 0; m < kPairVectors; ++m) {
          const int first = kPerVector * m;
          const int second = kPerVector == 2 && first + 1 < kPairs ? first + 1 : first;
          const bool two = second != first;
          const Block& b = w[first % R][i];
          const Block& b2 = w[second % R][i];
          // -dmin: a sign bit flipped in a general register.
          const auto minus_dmin = static_cast<uint16_t>(b.dmin ^ 0x8000);
          const int32x4_t& dots = dots_and_mins[first % R][first / R];
          int32x4_t x = dots;
          float32x4_t dw = halves4(b.d, b.d, minus_dmin, minus_dmin);
          if constexpr (kPerVector == 2) {
            x = vpaddq_s32(dots, dots_and_mins[second % R][second / R]);
            dw = halves4(b.d, minus_dmin, two ? b2.d : uint16_t{0},
                         two ? static_cast<uint16_t>(b2.dmin ^ 0x8000) : uint16_t{0});
          }
          float32x4_t scale;
          if constexpr (T == 1) {
            scale = vmulq_n_f32(dw, a[0][i].d);
          } else {
            const float da = a[first / R][i].d, da2 = kPerVector == 2 ? (two ? a[second / R][i].d : 0.0f) : da;
            scale = vmulq_f32(dw, vcombine_f32(vdup_n_f32(da), vdup_n_f32(da2)));
          }
          pair_acc[m] = vfmaq_f32(pair_acc[m], vcvtq_f32_s32(x), scale);
        }
      }
    }
    for (int p = 0; p < kPairs; ++p) {
      float& result = out[static_cast<size_t>(p / R) * out_stride + p % R];
      if constexpr (kMins && kPerVector == 2) {
        float lanes[4];
        vst1q_f32(lanes, pair_acc[p / 2]);
        result = lanes[2 * (p % 2)] + lanes[2 * (p % 2) + 1];
      } else if constexpr (kMins) {
        result = vaddvq_f32(pair_acc[p]);
      } else {
        result = vaddvq_f32(acc[p % R][p / R]);
      }
    }
  }
};

void add_kquant_kernels(Table& table) {
  add_tile_kernels<KQuants<Q2_KType>>(table, GgmlType::Q2_K);
  add_tile_kernels<KQuants<Q3_KType>>(table, GgmlType::Q3_K);
  add_tile_kernels<KQuants<Q4_KType>>(table, GgmlType::Q4_K);
  add_tile_kernels<KQuants<Q5_KType>>(table, GgmlType::Q5_K);
  add_tile_kernels<KQuants<Q6_KType>>(table, GgmlType::Q6_K);
  add_tile_kernels<KQuants<IQ4_XSType>>(table, GgmlType::IQ4_XS);
}

}  // namespace
}  // namespace bantam::quant::kernels
