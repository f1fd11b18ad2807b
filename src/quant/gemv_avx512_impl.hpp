// One-token (decoding) kernels in orders of their own: integer sums of a whole super-block per
// row, then one float FMA per super-block (the scalar kernels in dot_scalar.cpp do the same math
// bit for bit). Included after kernels_avx512_impl.hpp by both AVX-512 levels (same rules: the
// includer sets the target and BANTAM_AVX512_VNNI). Internal to src/quant.
#pragma once

#include <immintrin.h>

#include <array>
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

void add_avx512_gemv_kernels(Table& table) {
  table.set_dot(GgmlType::IQ4_XS, avx512_iq4_xs_dot);
  table.set_gemv(GgmlType::IQ4_XS, avx512_iq4_xs_gemv);
}

}  // namespace
}  // namespace bantam::quant::kernels
