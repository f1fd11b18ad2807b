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

// The R weight rows of a gemv group, `stride` bytes apart.
template <typename Block, int R>
inline void row_pointers(const void* weights, size_t stride, const Block* (&rows)[R]) {
  for (int r = 0; r < R; ++r) {
    rows[r] = reinterpret_cast<const Block*>(static_cast<const uint8_t*>(weights) + static_cast<size_t>(r) * stride);
  }
}

// The two 8-lane halves of v, each added as ggml's x86 hsum8 does.
inline void hsum8_halves(__m512 v, float& low, float& high) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  low = hsum8(lanes);
  high = hsum8(lanes + 8);
}

// Q8_0 keeps ggml's order (see dot_q8_0 in dot_scalar.cpp): one block per step into eight lanes,
// so a 512-bit vector holds two rows, row 2p in lanes 0..7 and row 2p+1 in lanes 8..15.
template <int R>
void avx512_q8_0_rows(int64_t n, const void* weights, size_t stride, const void* activations, float* out) {
  constexpr int kPairs = (R + 1) / 2;
  const BlockQ8_0* w[R];
  row_pointers(weights, stride, w);
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  __m512 acc[kPairs];
  for (int p = 0; p < kPairs; ++p) acc[p] = _mm512_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m512i act = _mm512_broadcast_i64x4(load256(a[i].qs));
    const float da = half(a[i].d);
    for (int p = 0; p < kPairs; ++p) {
      const BlockQ8_0& lo = w[2 * p][i];
      const bool has_hi = 2 * p + 1 < R;  // an odd last row pairs with zeros and a zero scale
      const __m512i wq = join(load256(lo.qs), has_hi ? load256(w[2 * p + 1][i].qs) : _mm256_setzero_si256());
      const __m512 d = two_scales(half(lo.d) * da, has_hi ? half(w[2 * p + 1][i].d) * da : 0.0f);
      acc[p] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(dot_s8s8(_mm512_setzero_si512(), wq, act)), acc[p]);
    }
  }
  for (int p = 0; p < kPairs; ++p) {
    float high;
    hsum8_halves(acc[p], out[2 * p], high);
    if (2 * p + 1 < R) out[2 * p + 1] = high;
  }
}

// Four 16-byte pieces in one vector, one per 128-bit lane.
inline __m512i four_lanes(const void* p0, const void* p1, const void* p2, const void* p3) {
  const __m512i v = _mm512_castsi128_si512(load128(p0));
  return _mm512_inserti32x4(_mm512_inserti32x4(_mm512_inserti32x4(v, load128(p1), 1), load128(p2), 2),
                            load128(p3), 3);
}

// The fp16 scales of four blocks as floats.
inline __m128 four_halves(uint16_t h0, uint16_t h1, uint16_t h2, uint16_t h3) {
  return _mm_cvtph_ps(_mm_setr_epi16(static_cast<int16_t>(h0), static_cast<int16_t>(h1), static_cast<int16_t>(h2),
                                     static_cast<int16_t>(h3), 0, 0, 0, 0));
}

// A block of zeros with a zero scale: pads the last group of four blocks.
inline constexpr BlockQ4_0 kZeroQ4_0 = {};
inline constexpr BlockQ8_0 kZeroQ8_0 = {};

// Q4_0 four blocks at a time, block k in 128-bit lane k: the low nibbles (elements 0..15) of the
// four blocks in one vector, the high ones (16..31) in another, dotted with the activations
// rearranged the same way. The rearranged activations, their 8 * sum (levels are nibble - 8)
// and their scales are shared by the R rows.
template <int R>
void avx512_q4_0_rows(int64_t n, const void* weights, size_t stride, const void* activations, float* out) {
  const BlockQ4_0* w[R];
  row_pointers(weights, stride, w);
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  const int64_t blocks = n / kQK;
  const __m512i low4 = _mm512_set1_epi8(0x0F), eight = _mm512_set1_epi8(8);
  const __m512i lane_of_block = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t i = 0; i < blocks; i += 4) {
    const BlockQ8_0* ab[4];
    for (int k = 0; k < 4; ++k) ab[k] = i + k < blocks ? &a[i + k] : &kZeroQ8_0;
    const __m512i act_lo = four_lanes(ab[0]->qs, ab[1]->qs, ab[2]->qs, ab[3]->qs);
    const __m512i act_hi = four_lanes(ab[0]->qs + 16, ab[1]->qs + 16, ab[2]->qs + 16, ab[3]->qs + 16);
    const __m512i offset = dot_u8s8(dot_u8s8(_mm512_setzero_si512(), eight, act_lo), eight, act_hi);
    const __m128 da = four_halves(ab[0]->d, ab[1]->d, ab[2]->d, ab[3]->d);
    for (int r = 0; r < R; ++r) {
      const BlockQ4_0* wb[4];
      for (int k = 0; k < 4; ++k) wb[k] = i + k < blocks ? &w[r][i + k] : &kZeroQ4_0;
      const __m512i q = four_lanes(wb[0]->qs, wb[1]->qs, wb[2]->qs, wb[3]->qs);
      const __m512i lo = _mm512_and_si512(q, low4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
      const __m512i p = _mm512_sub_epi32(dot_u8s8(dot_u8s8(_mm512_setzero_si512(), lo, act_lo), hi, act_hi), offset);
      const __m128 d4 = _mm_mul_ps(four_halves(wb[0]->d, wb[1]->d, wb[2]->d, wb[3]->d), da);
      const __m512 d = _mm512_permutexvar_ps(lane_of_block, _mm512_castps128_ps512(d4));
      acc[r] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(acc[r]);
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

// int16 vector: scale s0 in the low 256 bits, s1 in the high ones.
inline __m512i half_scales(int s0, int s1) {
  return join(_mm256_set1_epi16(static_cast<int16_t>(s0)), _mm256_set1_epi16(static_cast<int16_t>(s1)));
}

// Q4_K/Q5_K, R rows at once sharing the activation loads and bsum pair sums.
template <bool kFiveBits, typename Block, int R>
void avx512_k4_rows(int64_t n, const void* weights, size_t stride, const void* activations, float* out) {
  const Block* w[R];
  row_pointers(weights, stride, w);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  __m512 acc[R];
  float mins_total[R];
  for (int r = 0; r < R; ++r) {
    acc[r] = _mm512_setzero_ps();
    mins_total[r] = 0;
  }
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    __m512i act[4];
    for (int c = 0; c < 4; ++c) act[c] = load512(a[i].qs + 64 * c);
    const __m128i bsum_pairs = _mm_hadd_epi16(load128(a[i].bsums), load128(a[i].bsums + 8));
    for (int r = 0; r < R; ++r) {
      const Block& b = w[r][i];
      uint8_t scales[8], mins[8];
      k4_unpack(b.scales, scales, mins);
      __m256i qh;
      if constexpr (kFiveBits) qh = load256(b.qh);
      __m512i isum = _mm512_setzero_si512();
      for (int c = 0; c < 4; ++c) {
        // 32 bytes hold 64 elements: low nibbles are elements 64c.., high ones 64c+32..
        const __m256i q = load256(b.qs + 32 * c);
        __m256i lo = _mm256_and_si256(q, low4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
        if constexpr (kFiveBits) {
          const __m256i one = _mm256_set1_epi8(1);
          lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one), 4));
          hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one), 4));
        }
        const __m512i p = _mm512_maddubs_epi16(join(lo, hi), act[c]);
        isum = dot_s16(isum, p, half_scales(scales[2 * c], scales[2 * c + 1]));
      }
      acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[i].d * half(b.d)), _mm512_cvtepi32_ps(isum), acc[r]);
      uint64_t m8;
      std::memcpy(&m8, mins, 8);
      const __m128i m = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(m8)));
      mins_total[r] += a[i].d * half(b.dmin) * static_cast<float>(hsum_epi32(_mm_madd_epi16(bsum_pairs, m)));
    }
  }
  for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(acc[r]) - mins_total[r];
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

// Decoding kernels dot four rows at once (gemv) and one (vec_dot) with the same code.
template <Rows One, Rows Four>
void add_rows(Table& table, GgmlType type) {
  table.set_dot(type, dot_from_rows<One>);
  table.set_gemv(type, gemv_in_groups<Four, 4, One>);
}

// Float rows keep the AVX2 kernels: they are memory-bound and the 512-bit ones measured
// slower on Zen 4.
void add_avx512_kernels(Table& table) {
  add_rows<avx512_q8_0_rows<1>, avx512_q8_0_rows<4>>(table, GgmlType::Q8_0);
  add_rows<avx512_q4_0_rows<1>, avx512_q4_0_rows<4>>(table, GgmlType::Q4_0);
  add_rows<avx512_k4_rows<false, BlockQ4_K, 1>, avx512_k4_rows<false, BlockQ4_K, 4>>(table, GgmlType::Q4_K);
  add_rows<avx512_k4_rows<true, BlockQ5_K, 1>, avx512_k4_rows<true, BlockQ5_K, 4>>(table, GgmlType::Q5_K);
  add_row_kernel<avx512_dot_q6_k>(table, GgmlType::Q6_K);
}

}  // namespace
}  // namespace bantam::quant::kernels
