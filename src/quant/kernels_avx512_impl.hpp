// AVX-512 (F/BW/VL) dot kernels, written once for two levels: kernels_avx512.cpp includes this
// with kVnni = false (vpmaddubsw + vpmaddwd) and kernels_avx512_vnni.cpp with kVnni = true
// (vpdpbusd / vpdpwssd). Each includer switches the compile target on before including it and
// defines BANTAM_AVX512_VNNI; everything here has internal linkage so the two copies never mix.
// Internal to src/quant.
#pragma once

#include <immintrin.h>

#include <cstring>

#include "quant/blocks.hpp"
#include "quant/kernels.hpp"

namespace bantam::quant::kernels {
namespace {

constexpr bool kVnni = BANTAM_AVX512_VNNI;

inline float half(uint16_t h) { return _cvtsh_ss(h); }
inline __m512i load512(const void* p) { return _mm512_loadu_si512(p); }
inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }
inline __m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

// acc + sums of four u8 x s8 products per int32 lane.
inline __m512i dot_u8s8(__m512i acc, __m512i u, __m512i s) {
  if constexpr (kVnni) {
    return _mm512_dpbusd_epi32(acc, u, s);
  } else {
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
  }
}
// acc + sums of two s16 x s16 products per int32 lane (applies int16 scales to vpmaddubsw sums).
inline __m512i dot_s16(__m512i acc, __m512i p, __m512i scales) {
  if constexpr (kVnni) {
    return _mm512_dpwssd_epi32(acc, p, scales);
  } else {
    return _mm512_add_epi32(acc, _mm512_madd_epi16(p, scales));
  }
}
// s8 x s8 via |w| and a carrying w's sign (a != -128, which activation quantizers never emit).
inline __m512i dot_s8s8(__m512i acc, __m512i w, __m512i a) {
  const __m512i signed_a = _mm512_mask_sub_epi8(a, _mm512_movepi8_mask(w), _mm512_setzero_si512(), a);
  return dot_u8s8(acc, _mm512_abs_epi8(w), signed_a);
}

// Per-lane scale: d0 for lanes 0..7 (first block), d1 for lanes 8..15 (second block).
inline __m512 two_scales(float d0, float d1) {
  return _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(d0), _mm512_set1_ps(d1));
}

float avx512_dot_q8_0(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ8_0*>(weights);
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  const int64_t blocks = n / kQK;
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 2 <= blocks; i += 2) {
    const __m512i p = dot_s8s8(_mm512_setzero_si512(), join(load256(w[i].qs), load256(w[i + 1].qs)),
                               join(load256(a[i].qs), load256(a[i + 1].qs)));
    const __m512 d = two_scales(half(w[i].d) * half(a[i].d), half(w[i + 1].d) * half(a[i + 1].d));
    acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc);
  }
  if (i < blocks) {  // odd block count: the upper half is zeros with a zero scale
    const __m512i p = dot_s8s8(_mm512_setzero_si512(), _mm512_zextsi256_si512(load256(w[i].qs)),
                               _mm512_zextsi256_si512(load256(a[i].qs)));
    acc = _mm512_fmadd_ps(two_scales(half(w[i].d) * half(a[i].d), 0), _mm512_cvtepi32_ps(p), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

// Nibbles of two legacy blocks in element order: lo0 hi0 lo1 hi1 (16 bytes each).
inline __m512i nibbles64(const uint8_t* qs0, const uint8_t* qs1) {
  const __m256i q = _mm256_set_m128i(load128(qs1), load128(qs0));
  const __m256i mask = _mm256_set1_epi8(0x0F);
  const __m512i lo_hi = join(_mm256_and_si256(q, mask), _mm256_and_si256(_mm256_srli_epi16(q, 4), mask));
  return _mm512_shuffle_i64x2(lo_hi, lo_hi, _MM_SHUFFLE(3, 1, 2, 0));
}

float avx512_dot_q4_0(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ4_0*>(weights);
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  const int64_t blocks = n / kQK;
  const __m512i eight = _mm512_set1_epi8(8);
  __m512 acc = _mm512_setzero_ps();
  // Levels are nibble - 8: dot the unsigned nibbles, then take 8 * sum(a) back off.
  const auto accumulate = [&](__m512i nib, __m512i act, __m512 d) {
    const __m512i p = _mm512_sub_epi32(dot_u8s8(_mm512_setzero_si512(), nib, act),
                                       dot_u8s8(_mm512_setzero_si512(), eight, act));
    acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc);
  };
  int64_t i = 0;
  for (; i + 2 <= blocks; i += 2) {
    accumulate(nibbles64(w[i].qs, w[i + 1].qs), join(load256(a[i].qs), load256(a[i + 1].qs)),
               two_scales(half(w[i].d) * half(a[i].d), half(w[i + 1].d) * half(a[i + 1].d)));
  }
  if (i < blocks) {
    accumulate(nibbles64(w[i].qs, w[i].qs), _mm512_zextsi256_si512(load256(a[i].qs)),
               two_scales(half(w[i].d) * half(a[i].d), 0));
  }
  return _mm512_reduce_add_ps(acc);
}

// Q4_K/Q5_K scales and mins, unpacked (same packing as blocks.hpp's k4_scale_min).
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

inline int hsum_epi32(__m128i v) {
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4E));
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xB1));
  return _mm_cvtsi128_si32(v);
}

inline int k4_min_sum(const int16_t* bsums, const uint8_t mins[8]) {
  const __m128i pairs = _mm_hadd_epi16(load128(bsums), load128(bsums + 8));
  uint64_t m8;
  std::memcpy(&m8, mins, 8);
  const __m128i m = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(m8)));
  return hsum_epi32(_mm_madd_epi16(pairs, m));
}

// int16 vector: scale s0 in the low 256 bits, s1 in the high ones.
inline __m512i half_scales(int s0, int s1) {
  return join(_mm256_set1_epi16(static_cast<int16_t>(s0)), _mm256_set1_epi16(static_cast<int16_t>(s1)));
}

template <bool kFiveBits, typename Block>
float avx512_dot_k4(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const Block*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  __m512 acc = _mm512_setzero_ps();
  float mins_total = 0;
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    uint8_t scales[8], mins[8];
    k4_unpack(w[i].scales, scales, mins);
    __m256i qh;
    if constexpr (kFiveBits) qh = load256(w[i].qh);
    __m512i isum = _mm512_setzero_si512();
    for (int c = 0; c < 4; ++c) {
      // 32 bytes hold 64 elements: low nibbles are elements 64c.., high ones 64c+32..
      const __m256i q = load256(w[i].qs + 32 * c);
      __m256i lo = _mm256_and_si256(q, low4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
      if constexpr (kFiveBits) {
        const __m256i one = _mm256_set1_epi8(1);
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one), 4));
      }
      const __m512i p = _mm512_maddubs_epi16(join(lo, hi), load512(a[i].qs + 64 * c));
      isum = dot_s16(isum, p, half_scales(scales[2 * c], scales[2 * c + 1]));
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(a[i].d * half(w[i].d)), _mm512_cvtepi32_ps(isum), acc);
    mins_total += a[i].d * half(w[i].dmin) * static_cast<float>(k4_min_sum(a[i].bsums, mins));
  }
  return _mm512_reduce_add_ps(acc) - mins_total;
}

float avx512_dot_q6_k(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ6_K*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  __m512 acc = _mm512_setzero_ps();
  const __m512i low4 = _mm512_set1_epi8(0x0F), two_bits = _mm512_set1_epi8(3);
  // Per-half shifts of the qh byte: bits 0-1 / 2-3 for elements 0..63, bits 4-5 / 6-7 for 64..127.
  const __m512i shift_01 = join(_mm256_set1_epi16(0), _mm256_set1_epi16(2));
  const __m512i shift_23 = join(_mm256_set1_epi16(4), _mm256_set1_epi16(6));
  // Index vectors spreading int16 scale g (of 16) over the 8 lanes of 128-bit slot g % 4.
  __m512i spread[4];
  for (int q = 0; q < 4; ++q) {
    alignas(64) int16_t idx[32];
    for (int l = 0; l < 32; ++l) idx[l] = static_cast<int16_t>(4 * q + l / 8);
    spread[q] = _mm512_load_si512(idx);
  }
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const __m256i sc16 = _mm256_cvtepi8_epi16(load128(w[i].scales));
    const __m512i sc = _mm512_castsi256_si512(sc16);
    // Levels as unsigned 0..63; the -32 offset comes back through bsums.
    const __m256i offset = _mm256_madd_epi16(load256(a[i].bsums), sc16);
    __m512i isum = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(offset, 5)));
    for (int h = 0; h < 2; ++h) {
      const __m512i ql = load512(w[i].ql + 64 * h);
      const __m512i qh = _mm512_broadcast_i64x4(load256(w[i].qh + 32 * h));
      const __m512i high01 = _mm512_and_si512(_mm512_srlv_epi16(qh, shift_01), two_bits);
      const __m512i high23 = _mm512_and_si512(_mm512_srlv_epi16(qh, shift_23), two_bits);
      const __m512i lv01 = _mm512_or_si512(_mm512_and_si512(ql, low4), _mm512_slli_epi16(high01, 4));
      const __m512i lv23 =
          _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4), _mm512_slli_epi16(high23, 4));
      const __m512i p01 = _mm512_maddubs_epi16(lv01, load512(a[i].qs + 128 * h));
      const __m512i p23 = _mm512_maddubs_epi16(lv23, load512(a[i].qs + 128 * h + 64));
      isum = dot_s16(isum, p01, _mm512_permutexvar_epi16(spread[2 * h], sc));
      isum = dot_s16(isum, p23, _mm512_permutexvar_epi16(spread[2 * h + 1], sc));
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(a[i].d * half(w[i].d)), _mm512_cvtepi32_ps(isum), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

template <VecDot Dot>
void add(Table& table, GgmlType type) {
  table.set_dot(type, Dot);
  table.set_gemv(type, gemv_by_rows<Dot>);
}

// Float rows keep the AVX2 kernels: they are memory-bound and the 512-bit ones measured
// slower on Zen 4.
void add_avx512_kernels(Table& table) {
  add<avx512_dot_q8_0>(table, GgmlType::Q8_0);
  add<avx512_dot_q4_0>(table, GgmlType::Q4_0);
  add<avx512_dot_k4<false, BlockQ4_K>>(table, GgmlType::Q4_K);
  add<avx512_dot_k4<true, BlockQ5_K>>(table, GgmlType::Q5_K);
  add<avx512_dot_q6_k>(table, GgmlType::Q6_K);
}

}  // namespace
}  // namespace bantam::quant::kernels
