// One-token (decoding) AVX-512 kernels that prepare the token's activations once per gemv in the
// layout their weight loads meet: IQ4_XS in its own order (exact super-block integer dots, one
// FMA per super-block, as dot_scalar.cpp's kernel) and the 32-element block types in ggml's
// eight-lane order, bit for bit. Included after kernels_avx512_impl.hpp by both AVX-512 levels
// (same rules: the includer sets the target and BANTAM_AVX512_VNNI). Internal to src/quant.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <vector>

#include "quant/blocks.hpp"
#include "quant/kernels.hpp"

namespace bantam::quant::kernels {
namespace {

// IQ4_XS: the low nibbles of qs bytes 64h..64h+63 are elements 0..15 of sub-blocks 4h..4h+3 (one
// sub-block per 128-bit lane), the high nibbles their elements 16..31. A token's activations are
// rearranged once to match, so each row's 64 bytes meet them with two lookups and two dot steps.
struct alignas(64) Iq4XsActivation {
  int8_t lo[2][64];       // [h], 128-bit lane k: elements 0..15 of sub-block 4h + k
  int8_t hi[2][64];       // elements 16..31
  int32_t offset[2][16];  // VNNI: -128 * the sum of the activations meeting dword lane j of [h]
  float d;
};

// With VNNI the levels are looked up as level + 128 (unsigned, for vpdpbusd), which `offset`
// takes back; without it they stay signed and go through dot_s8s8 (|level| <= 127, no saturation).
constexpr std::array<int8_t, 16> iq4_lookup_table() {
  std::array<int8_t, 16> table{};
  for (int j = 0; j < 16; ++j) table[j] = static_cast<int8_t>(kVnni ? kIQ4Values[j] + 128 : kIQ4Values[j]);
  return table;
}
alignas(16) constexpr std::array<int8_t, 16> kIq4Lookup = iq4_lookup_table();

inline void prepare_iq4_xs_activation(const BlockQ8_K& a, Iq4XsActivation& out) {
  for (int h = 0; h < 2; ++h) {
    for (int k = 0; k < 4; ++k) {
      std::memcpy(out.lo[h] + 16 * k, a.qs + 32 * (4 * h + k), 16);
      std::memcpy(out.hi[h] + 16 * k, a.qs + 32 * (4 * h + k) + 16, 16);
    }
    const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));  // 128 as unsigned bytes
    const __m512i sums = dot_u8s8(dot_u8s8(_mm512_setzero_si512(), bias, load512(out.lo[h])), bias, load512(out.hi[h]));
    _mm512_store_si512(out.offset[h], _mm512_sub_epi32(_mm512_setzero_si512(), sums));
  }
  out.d = a.d;
}

// Dword lanes 4k..4k+3 of scales[h]: the scale (minus 32) of sub-block 4h + k.
inline void iq4_xs_scales(const BlockIQ4_XS& b, __m512i scales[2]) {
  uint32_t low;
  std::memcpy(&low, b.scales_l, 4);
  // Byte ib: low nibble ib of scales_l, high bits 2ib..2ib+1 of scales_h above it.
  const uint64_t packed = _pdep_u64(low, 0x0F0F0F0F0F0F0F0FULL) | _pdep_u64(b.scales_h, 0x3030303030303030ULL);
  const __m128i s8 = _mm_sub_epi8(_mm_cvtsi64_si128(static_cast<int64_t>(packed)), _mm_set1_epi8(32));
  const __m128i spread0 = _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  const __m128i spread1 = _mm_add_epi8(spread0, _mm_set1_epi8(4));
  scales[0] = _mm512_cvtepi8_epi32(_mm_shuffle_epi8(s8, spread0));
  scales[1] = _mm512_cvtepi8_epi32(_mm_shuffle_epi8(s8, spread1));
}

// Lane r: the total of v[r]'s sixteen lanes.
inline __m128i row_totals(const __m512i (&v)[4]) {
  const __m512i t0 = _mm512_add_epi32(_mm512_unpacklo_epi32(v[0], v[1]), _mm512_unpackhi_epi32(v[0], v[1]));
  const __m512i t1 = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2], v[3]), _mm512_unpackhi_epi32(v[2], v[3]));
  // 128-bit lane m: its four lanes' totals of v[0..3].
  const __m512i u = _mm512_add_epi32(_mm512_unpacklo_epi64(t0, t1), _mm512_unpackhi_epi64(t0, t1));
  const __m256i s = _mm256_add_epi32(_mm512_castsi512_si256(u), _mm512_extracti64x4_epi64(u, 1));
  return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

// Rows [0, R) (R <= 4): per super-block each row's exact integer dot, then
// acc = fma(isum, dw * da, acc) lane by lane.
template <int R>
void iq4_xs_rows(int64_t blocks, const uint8_t* weights, size_t stride, const Iq4XsActivation* act, float* out) {
  const BlockIQ4_XS* w[R];
  row_pointers(weights, stride, w);
  const __m512i table = _mm512_broadcast_i32x4(load128(kIq4Lookup.data()));
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  __m128 acc = _mm_setzero_ps();
  for (int64_t i = 0; i < blocks; ++i) {
    for (int r = 0; r < R; ++r) prefetch_ahead(&w[r][i], sizeof(BlockIQ4_XS), stride);
    const Iq4XsActivation& x = act[i];
    __m512i isum[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
    uint64_t d_halves = 0;  // row r's scale in bits 16r.. (not four float stores read back as one)
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const BlockIQ4_XS& b = w[r][i];
      __m512i scales[2];
      iq4_xs_scales(b, scales);
      for (int h = 0; h < 2; ++h) {
        const __m512i q = load512(b.qs + 64 * h);
        const __m512i lo = _mm512_shuffle_epi8(table, _mm512_and_si512(q, low4));
        const __m512i hi = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(q, 4), low4));
        __m512i sub;  // dword lane 4k + m: part of sub-block 4h + k's dot
        if constexpr (kVnni) {
          sub = dot_u8s8(dot_u8s8(load512(x.offset[h]), lo, load512(x.lo[h])), hi, load512(x.hi[h]));
        } else {
          sub = dot_s8s8(dot_s8s8(_mm512_setzero_si512(), lo, load512(x.lo[h])), hi, load512(x.hi[h]));
        }
        isum[r] = _mm512_add_epi32(isum[r], _mm512_mullo_epi32(sub, scales[h]));
      }
      d_halves |= static_cast<uint64_t>(b.d) << (16 * r);
    }
    const __m128 d = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi64_si128(static_cast<int64_t>(d_halves))), _mm_set1_ps(x.d));
    acc = _mm_fmadd_ps(_mm_cvtepi32_ps(row_totals(isum)), d, acc);
  }
  alignas(16) float result[4];
  _mm_store_ps(result, acc);
  for (int r = 0; r < R; ++r) out[r] = result[r];
}

void avx512_iq4_xs_gemv(int64_t n, const void* weights, size_t stride, int64_t rows, const void* activations,
                        float* out) {
  const int64_t blocks = n / kQK_K;
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  thread_local std::vector<Iq4XsActivation> prepared;
  prepared.resize(static_cast<size_t>(blocks));
  for (int64_t i = 0; i < blocks; ++i) prepare_iq4_xs_activation(a[i], prepared[static_cast<size_t>(i)]);
  const auto* base = static_cast<const uint8_t*>(weights);
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) iq4_xs_rows<4>(blocks, base + static_cast<size_t>(r) * stride, stride, prepared.data(), out + r);
  for (; r < rows; ++r) iq4_xs_rows<1>(blocks, base + static_cast<size_t>(r) * stride, stride, prepared.data(), out + r);
}

float avx512_iq4_xs_dot(int64_t n, const void* weights, const void* activations) {
  float out;
  avx512_iq4_xs_gemv(n, weights, 0, 1, activations, &out);
  return out;
}

// 32-element blocks in ggml's eight-lane order (see dot_in_lanes in dot_scalar.cpp), bit for bit
// as avx512_lane_rows, with a layout that needs no cross-lane shuffles: a vector holds one block
// of two rows, each row's 16 quant bytes in two 128-bit lanes (low nibbles = elements 0..15,
// high nibbles = 16..31), so its int32 lanes are already both rows' eight lane sums, against the
// block's 32 activations repeated. Without shuffles the kernel is limited by loads, not by the
// one shuffle unit (Zen 4).

// A token's activation block, as the pair vectors meet it.
struct alignas(64) LanePairActivation {
  int8_t qs[64];    // the block's 32 quants, twice
  int32_t neg[16];  // dword lane l: -bias * the sum of the four quants it meets
};

// Per weight type: the levels as unsigned bytes (level + kBias) of two rows' blocks, from the
// vector holding their quant bytes (row a's in 128-bit lanes 0 and 1, row b's in 2 and 3).
// The nibbles of two rows' 16-byte quants: low nibbles in 128-bit lanes 0 and 2, high ones in 1 and 3.
inline __m512i lane_nibbles(__m512i q) {
  return _mm512_and_si512(_mm512_mask_srli_epi16(q, 0xFF00FF00, q, 4), _mm512_set1_epi8(0x0F));
}

struct LaneQ4_0 {
  using Block = BlockQ4_0;
  using Act = BlockQ8_0;
  static constexpr int kBias = 8;
  static constexpr bool kMin = false;
  static __m512i levels(__m512i q, const Block&, const Block&) { return lane_nibbles(q); }
};

struct LaneIQ4_NL {
  using Block = BlockIQ4_NL;
  using Act = BlockQ8_0;
  static constexpr int kBias = 128;
  static constexpr bool kMin = false;
  static __m512i levels(__m512i q, const Block&, const Block&) {
    const __m512i nibbles = lane_nibbles(q);
    const __m128i table = _mm_add_epi8(load128(kIQ4Values), _mm_set1_epi8(static_cast<char>(0x80)));
    return _mm512_shuffle_epi8(_mm512_broadcast_i32x4(table), nibbles);
  }
};

// Q5_0 (bias 16) and Q5_1 (bias 0, with a min): nibble + 16 * fifth bit. Bit j of qh is element
// j's, and elements 0..31 are bytes 0..31 of the row's half of the vector.
template <typename BlockType, typename ActType, int kBiasValue, bool kHasMin>
struct LaneQ5 {
  using Block = BlockType;
  using Act = ActType;
  static constexpr int kBias = kBiasValue;
  static constexpr bool kMin = kHasMin;
  static __m512i levels(__m512i q, const Block& a, const Block& b) {
    uint32_t qa, qb;
    std::memcpy(&qa, a.qh, 4);
    std::memcpy(&qb, b.qh, 4);
    const auto fifth = static_cast<__mmask64>(qa | (static_cast<uint64_t>(qb) << 32));
    const __m512i nibbles = LaneQ4_0::levels(q, BlockQ4_0{}, BlockQ4_0{});
    return _mm512_mask_add_epi8(nibbles, fifth, nibbles, _mm512_set1_epi8(0x10));
  }
};
using LaneQ5_0 = LaneQ5<BlockQ5_0, BlockQ8_0, 16, false>;
using LaneQ5_1 = LaneQ5<BlockQ5_1, BlockQ8_1, 0, true>;

template <typename Levels>
inline void prepare_lane_pairs(const typename Levels::Act* a, int64_t blocks, std::vector<LanePairActivation>& acts,
                               std::vector<float>& scales, std::vector<float>& sums) {
  acts.resize(static_cast<size_t>(blocks));
  scales.resize(static_cast<size_t>(blocks));
  sums.resize(static_cast<size_t>(blocks));
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(Levels::kBias));
  for (int64_t i = 0; i < blocks; ++i) {
    LanePairActivation& x = acts[static_cast<size_t>(i)];
    const __m512i q = _mm512_broadcast_i64x4(load256(a[i].qs));
    _mm512_store_si512(x.qs, q);
    _mm512_store_si512(x.neg, _mm512_sub_epi32(_mm512_setzero_si512(), dot_u8s8(_mm512_setzero_si512(), bias, q)));
    scales[static_cast<size_t>(i)] = half(a[i].d);
    if constexpr (Levels::kMin) sums[static_cast<size_t>(i)] = half(a[i].s);
  }
}

// acc + the exact integer lane sums of unsigned levels `u` (level + kBias) with activations `a`;
// `neg` is -kBias * the activation sums of each lane.
template <int kBias>
inline __m512i lane_part(__m512i u, __m512i a, __m512i neg) {
  if constexpr (kBias == 0) {
    return dot_u8s8(_mm512_setzero_si512(), u, a);
  } else if constexpr (kVnni) {
    return dot_u8s8(neg, u, a);
  } else {
    return dot_s8s8(_mm512_setzero_si512(), _mm512_sub_epi8(u, _mm512_set1_epi8(static_cast<char>(kBias))), a);
  }
}

// Lane 4j + k (j < 4): the scale of block i + k of row w[j], zero for k >= nb. Built in
// registers: 16-bit stores read back as one vector would stall on store forwarding.
template <typename Block>
inline __m512 row_scales(const Block* const* w, int64_t i, int nb) {
  int64_t packed[4];
  for (int j = 0; j < 4; ++j) {
    uint64_t v = 0;
    for (int k = 0; k < nb; ++k) v |= static_cast<uint64_t>(w[j][i + k].d) << (16 * k);
    packed[j] = static_cast<int64_t>(v);
  }
  return _mm512_cvtph_ps(_mm256_set_epi64x(packed[3], packed[2], packed[1], packed[0]));
}

// Rows w[0..R) (R a multiple of 4) over all blocks, four blocks per step: acc[p] holds rows 2p
// (lanes 0..7) and 2p+1 (8..15).
template <typename Levels, int R>
void lane_pair_rows(int64_t blocks, const typename Levels::Block* const (&w)[R], size_t stride,
                    const LanePairActivation* act, const float* scales, const float* sums, float* out, int count) {
  using Block = typename Levels::Block;
  constexpr int kPairs = R / 2;
  __m512 acc[kPairs];
  for (auto& v : acc) v = _mm512_setzero_ps();
  float mins[R] = {};
  __m512i scale_index[2][4];  // [p % 2][k]: lanes 0..7 from lane 8 * (p % 2) + k, 8..15 from 4 more
  for (int h = 0; h < 2; ++h) {
    for (int k = 0; k < 4; ++k) {
      scale_index[h][k] = _mm512_mask_blend_epi32(0xFF00, _mm512_set1_epi32(8 * h + k), _mm512_set1_epi32(8 * h + 4 + k));
    }
  }
  for (int64_t i0 = 0; i0 < blocks; i0 += 4) {
    const int nb = static_cast<int>(std::min<int64_t>(4, blocks - i0));
    for (int r = 0; r < R; ++r) prefetch_ahead(w[r] + i0, 4 * sizeof(Block), stride);
    // d[g], lane 4j + k: dw * da of row 4g + j's block i0 + k.
    __m512 d[R / 4];
    const __m512 da = _mm512_broadcast_f32x4(_mm_maskz_loadu_ps(static_cast<__mmask8>((1u << nb) - 1), scales + i0));
    for (int g = 0; g < R / 4; ++g) d[g] = _mm512_mul_ps(row_scales(w + 4 * g, i0, nb), da);
    for (int k = 0; k < nb; ++k) {
      const int64_t i = i0 + k;
      const __m512i a = _mm512_load_si512(act[i].qs), neg = _mm512_load_si512(act[i].neg);
      for (int p = 0; p < kPairs; ++p) {
        const Block& x = w[2 * p][i];
        const Block& y = w[2 * p + 1][i];
        const __m512i q = _mm512_mask_broadcast_i32x4(_mm512_broadcast_i32x4(load128(x.qs)), 0xFF00, load128(y.qs));
        const __m512i sum = lane_part<Levels::kBias>(Levels::levels(q, x, y), a, neg);
        const __m512 scale = _mm512_permutexvar_ps(scale_index[p % 2][k], d[p / 2]);
        acc[p] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(sum), acc[p]);
        if constexpr (Levels::kMin) {
          mins[2 * p] = std::fma(half(x.m), sums[i], mins[2 * p]);
          mins[2 * p + 1] = std::fma(half(y.m), sums[i], mins[2 * p + 1]);
        }
      }
    }
  }
  for (int p = 0; p < kPairs; ++p) {
    float total[2];
    hsum8_halves(acc[p], total[0], total[1]);
    for (int h = 0; h < 2; ++h) {
      if (2 * p + h < count) out[2 * p + h] = Levels::kMin ? total[h] + mins[2 * p + h] : total[h];
    }
  }
}

// Rows in groups of kRows (a short last group repeats its last row).
template <typename Levels>
void lane_pair_gemv(int64_t n, const void* weights, size_t stride, int64_t rows, const void* activations, float* out) {
  constexpr int kRows = 8;
  const int64_t blocks = n / kQK;
  thread_local std::vector<LanePairActivation> acts;
  thread_local std::vector<float> scales, sums;
  prepare_lane_pairs<Levels>(static_cast<const typename Levels::Act*>(activations), blocks, acts, scales, sums);
  const auto* base = static_cast<const uint8_t*>(weights);
  for (int64_t r0 = 0; r0 < rows; r0 += kRows) {
    const int count = static_cast<int>(std::min<int64_t>(kRows, rows - r0));
    if (count <= 4) {  // a short last group (or vec_dot's one row) runs half the rows
      const typename Levels::Block* w[4];
      group_rows(base, stride, r0, count, w);
      lane_pair_rows<Levels, 4>(blocks, w, stride, acts.data(), scales.data(), sums.data(), out + r0, count);
      continue;
    }
    const typename Levels::Block* w[kRows];
    group_rows(base, stride, r0, count, w);
    lane_pair_rows<Levels, kRows>(blocks, w, stride, acts.data(), scales.data(), sums.data(), out + r0, count);
  }
}

template <typename Levels>
float lane_pair_dot(int64_t n, const void* weights, const void* activations) {
  float out;
  lane_pair_gemv<Levels>(n, weights, 0, 1, activations, &out);
  return out;
}

template <typename Levels>
void add_lane_pairs(Table& table, GgmlType type) {
  table.set_dot(type, lane_pair_dot<Levels>);
  table.set_gemv(type, lane_pair_gemv<Levels>);
}

void add_avx512_gemv_kernels(Table& table) {
  table.set_dot(GgmlType::IQ4_XS, avx512_iq4_xs_dot);
  table.set_gemv(GgmlType::IQ4_XS, avx512_iq4_xs_gemv);
  add_lane_pairs<LaneQ4_0>(table, GgmlType::Q4_0);
  add_lane_pairs<LaneIQ4_NL>(table, GgmlType::IQ4_NL);
  add_lane_pairs<LaneQ5_0>(table, GgmlType::Q5_0);
  add_lane_pairs<LaneQ5_1>(table, GgmlType::Q5_1);
}

}  // namespace
}  // namespace bantam::quant::kernels
