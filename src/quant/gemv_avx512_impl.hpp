// One-token (decoding) kernels in orders of their own: integer sums of a whole super-block per
// row, then one float FMA per super-block (the scalar kernels in dot_scalar.cpp do the same math
// bit for bit). Included after kernels_avx512_impl.hpp by both AVX-512 levels (same rules: the
// includer sets the target and BANTAM_AVX512_VNNI). Internal to src/quant.
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
    alignas(16) float d[4] = {};
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
      d[r] = half(b.d) * x.d;
    }
    acc = _mm_fmadd_ps(_mm_cvtepi32_ps(row_totals(isum)), _mm_load_ps(d), acc);
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
// as avx512_lane_rows, but four rows times four blocks per step: each row's four blocks in one
// vector (block k in 128-bit lane k, elements 0..15 in one vector, 16..31 in another), the
// integer lane sums of four rows then transposed into one vector per (row pair, block) holding
// both rows' eight lanes, which advances the rows' eight FMA chains by one block.

// A token's activations for four consecutive blocks. Blocks beyond the row's end are zeros.
struct alignas(64) LaneQuad {
  int8_t lo[64];        // 128-bit lane k: elements 0..15 of block k
  int8_t hi[64];        // elements 16..31
  int32_t neg_lo[16];   // dword lane 4k + m: -bias * the sum of the four activations it meets (lo)
  int32_t neg_hi[16];   // the same for hi
  float d[16];          // lane 4j + k: block k's scale (the same for every row j)
  float s[16];          // Q8_1 only: lane 4j + k: block k's stored d * sum
};

// Per weight type: its levels as unsigned bytes (level + kBias) from the 32 words gathered from
// four blocks (quant bytes of block k in 128-bit lane k) and the meta words (d of block k in word k,
// Q4_1/Q5_1's m in word 4 + k, the low halves of the fifth-bit words in words 8..11, the high
// halves in words 12..15).
struct LaneQ4_0 {
  using Block = BlockQ4_0;
  using Act = BlockQ8_0;
  static constexpr int kBias = 8, kQs = offsetof(Block, qs), kQh = -1, kMin = -1;
  static void levels(__m512i q, __m512i, __m512i& lo, __m512i& hi) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    lo = _mm512_and_si512(q, low4);
    hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
  }
};

struct LaneIQ4_NL {
  using Block = BlockIQ4_NL;
  using Act = BlockQ8_0;
  static constexpr int kBias = 128, kQs = offsetof(Block, qs), kQh = -1, kMin = -1;
  static void levels(__m512i q, __m512i meta, __m512i& lo, __m512i& hi) {
    LaneQ4_0::levels(q, meta, lo, hi);
    const __m512i table = _mm512_broadcast_i32x4(_mm_add_epi8(load128(kIQ4Values), _mm_set1_epi8(static_cast<char>(0x80))));
    lo = _mm512_shuffle_epi8(table, lo);
    hi = _mm512_shuffle_epi8(table, hi);
  }
};

// Q5_0 (bias 16) and Q5_1 (bias 0, a min): nibble | fifth bit << 4.
template <typename BlockType, typename ActType, int kBiasValue, int kMinOffset>
struct LaneQ5 {
  using Block = BlockType;
  using Act = ActType;
  static constexpr int kBias = kBiasValue, kQs = offsetof(Block, qs), kQh = offsetof(Block, qh), kMin = kMinOffset;
  static void levels(__m512i q, __m512i meta, __m512i& lo, __m512i& hi) {
    LaneQ4_0::levels(q, meta, lo, hi);
    const __m128i fifth = _mm512_extracti32x4_epi32(meta, 1);
    const __m512i bit = _mm512_set1_epi8(0x10);
    lo = _mm512_mask_add_epi8(lo, static_cast<__mmask64>(_mm_cvtsi128_si64(fifth)), lo, bit);
    hi = _mm512_mask_add_epi8(hi, static_cast<__mmask64>(_mm_extract_epi64(fifth, 1)), hi, bit);
  }
};
using LaneQ5_0 = LaneQ5<BlockQ5_0, BlockQ8_0, 16, -1>;
using LaneQ5_1 = LaneQ5<BlockQ5_1, BlockQ8_1, 0, offsetof(BlockQ5_1, m)>;

template <typename Levels>
inline void prepare_lane_quads(const typename Levels::Act* a, int64_t blocks, std::vector<LaneQuad>& quads) {
  quads.assign(static_cast<size_t>((blocks + 3) / 4), LaneQuad{});
  for (int64_t i = 0; i < blocks; ++i) {
    LaneQuad& q = quads[static_cast<size_t>(i / 4)];
    const int k = static_cast<int>(i % 4);
    std::memcpy(q.lo + 16 * k, a[i].qs, 16);
    std::memcpy(q.hi + 16 * k, a[i].qs + 16, 16);
    for (int j = 0; j < 4; ++j) {
      q.d[4 * j + k] = half(a[i].d);
      if constexpr (Levels::kMin >= 0) q.s[4 * j + k] = half(a[i].s);
    }
  }
  for (LaneQuad& q : quads) {
    const __m512i bias = _mm512_set1_epi8(static_cast<char>(Levels::kBias));
    const __m512i zero = _mm512_setzero_si512();
    _mm512_store_si512(q.neg_lo, _mm512_sub_epi32(zero, dot_u8s8(zero, bias, _mm512_load_si512(q.lo))));
    _mm512_store_si512(q.neg_hi, _mm512_sub_epi32(zero, dot_u8s8(zero, bias, _mm512_load_si512(q.hi))));
  }
}

// Word indices into (the four blocks' first 64 bytes, their last 32 bytes): the quant bytes of
// block k to 128-bit lane k (quant), and the meta words described above (meta).
template <typename Levels>
struct LaneQuadIndex {
  static constexpr int kBytes = static_cast<int>(sizeof(typename Levels::Block));
  __m512i quant, meta;
  static int16_t word(int byte) {  // byte is even and below 4 * kBytes
    return static_cast<int16_t>(byte < 64 ? byte / 2 : 32 + (byte - (4 * kBytes - 32)) / 2);
  }
  LaneQuadIndex() {
    alignas(64) int16_t q[32], m[32] = {};
    for (int p = 0; p < 32; ++p) q[p] = word(kBytes * (p / 8) + Levels::kQs + 2 * (p % 8));
    for (int k = 0; k < 4; ++k) {
      m[k] = word(kBytes * k);
      if (Levels::kMin >= 0) m[4 + k] = word(kBytes * k + Levels::kMin);
      if (Levels::kQh >= 0) {
        m[8 + k] = word(kBytes * k + Levels::kQh);
        m[12 + k] = word(kBytes * k + Levels::kQh + 2);
      }
    }
    quant = _mm512_load_si512(q);
    meta = _mm512_load_si512(m);
  }
};

// acc + the exact integer lane sums of unsigned levels `u` (level + kBias) with activations `a`;
// `neg` is -kBias * the activation sums of each lane.
template <int kBias>
inline __m512i lane_part(__m512i u, __m512i a, __m512i neg) {
  if constexpr (kVnni || kBias == 0) {
    return kBias == 0 ? dot_u8s8(_mm512_setzero_si512(), u, a) : dot_u8s8(neg, u, a);
  } else {
    return dot_s8s8(_mm512_setzero_si512(), _mm512_sub_epi8(u, _mm512_set1_epi8(static_cast<char>(kBias))), a);
  }
}

// Vector k: 128-bit lanes (a_k, b_k, c_k, d_k), a 4x4 transpose of 128-bit lanes.
inline void transpose_lanes(__m512i a, __m512i b, __m512i c, __m512i d, __m512i (&out)[4]) {
  const __m512i e0 = _mm512_shuffle_i32x4(a, b, 0x88), e1 = _mm512_shuffle_i32x4(a, b, 0xDD);
  const __m512i f0 = _mm512_shuffle_i32x4(c, d, 0x88), f1 = _mm512_shuffle_i32x4(c, d, 0xDD);
  out[0] = _mm512_shuffle_i32x4(e0, f0, 0x88);
  out[2] = _mm512_shuffle_i32x4(e0, f0, 0xDD);
  out[1] = _mm512_shuffle_i32x4(e1, f1, 0x88);
  out[3] = _mm512_shuffle_i32x4(e1, f1, 0xDD);
}

// Four rows' eight-lane chains (acc[p]: row 2p in lanes 0..7, row 2p+1 in 8..15) and min chains
// (mins lane j: row j) advanced by four blocks starting at w[j] (bytes).
template <typename Levels>
inline void lane_quad_step(const uint8_t* const (&w)[4], const LaneQuad& act, const LaneQuadIndex<Levels>& index,
                           const __m512i (&scale_index)[2][4], __m512 (&acc)[2], __m128& mins) {
  constexpr int kBytes = LaneQuadIndex<Levels>::kBytes;
  __m512i lo_sums[4], hi_sums[4], meta[4];
  const __m512i act_lo = _mm512_load_si512(act.lo), act_hi = _mm512_load_si512(act.hi);
  const __m512i neg_lo = _mm512_load_si512(act.neg_lo), neg_hi = _mm512_load_si512(act.neg_hi);
  for (int j = 0; j < 4; ++j) {
    const __m512i head = load512(w[j]);
    const __m512i tail = _mm512_castsi256_si512(load256(w[j] + 4 * kBytes - 32));
    meta[j] = _mm512_permutex2var_epi16(head, index.meta, tail);
    __m512i lo, hi;
    Levels::levels(_mm512_permutex2var_epi16(head, index.quant, tail), meta[j], lo, hi);
    lo_sums[j] = lane_part<Levels::kBias>(lo, act_lo, neg_lo);
    hi_sums[j] = lane_part<Levels::kBias>(hi, act_hi, neg_hi);
  }
  // Lane 4j + k: row j's scale of block k, times the activations'.
  const __m128i d01 = _mm_unpacklo_epi64(_mm512_castsi512_si128(meta[0]), _mm512_castsi512_si128(meta[1]));
  const __m128i d23 = _mm_unpacklo_epi64(_mm512_castsi512_si128(meta[2]), _mm512_castsi512_si128(meta[3]));
  const __m512 d = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_set_m128i(d23, d01)), _mm512_load_ps(act.d));
  for (int p = 0; p < 2; ++p) {
    __m512i terms[4];  // terms[k]: rows 2p and 2p+1's eight lane sums of block k
    transpose_lanes(lo_sums[2 * p], hi_sums[2 * p], lo_sums[2 * p + 1], hi_sums[2 * p + 1], terms);
    for (int k = 0; k < 4; ++k) {
      acc[p] = _mm512_fmadd_ps(_mm512_permutexvar_ps(scale_index[p][k], d), _mm512_cvtepi32_ps(terms[k]), acc[p]);
    }
  }
  if constexpr (Levels::kMin >= 0) {
    const __m128i m01 = _mm_unpackhi_epi64(_mm512_castsi512_si128(meta[0]), _mm512_castsi512_si128(meta[1]));
    const __m128i m23 = _mm_unpackhi_epi64(_mm512_castsi512_si128(meta[2]), _mm512_castsi512_si128(meta[3]));
    const __m512 m = _mm512_cvtph_ps(_mm256_set_m128i(m23, m01));
    const __m512 s = _mm512_load_ps(act.s);
    for (int k = 0; k < 4; ++k) {
      const __m512i column = _mm512_setr_epi32(k, 4 + k, 8 + k, 12 + k, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
      mins = _mm_fmadd_ps(_mm512_castps512_ps128(_mm512_permutexvar_ps(column, m)),
                          _mm512_castps512_ps128(_mm512_permutexvar_ps(column, s)), mins);
    }
  }
}

// Rows [0, rows) in groups of four (a short last group repeats its last row); a row's last
// blocks short of four run from a zero-padded copy (zero scales add nothing to the chains).
template <typename Levels>
void lane_quad_gemv(int64_t n, const void* weights, size_t stride, int64_t rows, const void* activations, float* out) {
  using Block = typename Levels::Block;
  constexpr int kBytes = LaneQuadIndex<Levels>::kBytes;
  const int64_t blocks = n / kQK;
  thread_local std::vector<LaneQuad> quads;
  prepare_lane_quads<Levels>(static_cast<const typename Levels::Act*>(activations), blocks, quads);
  const LaneQuadIndex<Levels> index;
  __m512i scale_index[2][4];
  for (int p = 0; p < 2; ++p) {
    for (int k = 0; k < 4; ++k) {
      scale_index[p][k] = _mm512_mask_blend_epi32(0xFF00, _mm512_set1_epi32(4 * (2 * p) + k), _mm512_set1_epi32(4 * (2 * p + 1) + k));
    }
  }
  const auto* base = static_cast<const uint8_t*>(weights);
  const int64_t full = blocks / 4 * 4;
  for (int64_t r0 = 0; r0 < rows; r0 += 4) {
    const int count = static_cast<int>(std::min<int64_t>(4, rows - r0));
    const Block* rows4[4];
    group_rows(base, stride, r0, count, rows4);
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    __m128 mins = _mm_setzero_ps();
    for (int64_t i = 0; i < full; i += 4) {
      const uint8_t* w[4];
      for (int j = 0; j < 4; ++j) {
        w[j] = reinterpret_cast<const uint8_t*>(rows4[j] + i);
        prefetch_ahead(w[j], 4 * sizeof(Block), stride);
      }
      lane_quad_step<Levels>(w, quads[static_cast<size_t>(i / 4)], index, scale_index, acc, mins);
    }
    if (full < blocks) {
      alignas(64) uint8_t padded[4][4 * kBytes] = {};
      const uint8_t* w[4];
      for (int j = 0; j < 4; ++j) {
        std::memcpy(padded[j], rows4[j] + full, static_cast<size_t>(blocks - full) * sizeof(Block));
        w[j] = padded[j];
      }
      lane_quad_step<Levels>(w, quads.back(), index, scale_index, acc, mins);
    }
    alignas(16) float min_totals[4];
    _mm_store_ps(min_totals, mins);
    for (int p = 0; p < 2; ++p) {
      float sums[2];
      hsum8_halves(acc[p], sums[0], sums[1]);
      for (int h = 0; h < 2; ++h) {
        const int j = 2 * p + h;
        if (j < count) out[r0 + j] = Levels::kMin >= 0 ? sums[h] + min_totals[j] : sums[h];
      }
    }
  }
}

template <typename Levels>
float lane_quad_dot(int64_t n, const void* weights, const void* activations) {
  float out;
  lane_quad_gemv<Levels>(n, weights, 0, 1, activations, &out);
  return out;
}

template <typename Levels>
void add_lane_quad(Table& table, GgmlType type) {
  table.set_dot(type, lane_quad_dot<Levels>);
  table.set_gemv(type, lane_quad_gemv<Levels>);
}

void add_avx512_gemv_kernels(Table& table) {
  table.set_dot(GgmlType::IQ4_XS, avx512_iq4_xs_dot);
  table.set_gemv(GgmlType::IQ4_XS, avx512_iq4_xs_gemv);
  add_lane_quad<LaneQ4_0>(table, GgmlType::Q4_0);
  add_lane_quad<LaneIQ4_NL>(table, GgmlType::IQ4_NL);
  add_lane_quad<LaneQ5_0>(table, GgmlType::Q5_0);
  add_lane_quad<LaneQ5_1>(table, GgmlType::Q5_1);
}

}  // namespace
}  // namespace bantam::quant::kernels
