// AVX2 + FMA + F16C dot kernels. Integer products use vpmaddubsw (u8 x s8 -> s16 pairs) then
// vpmaddwd, which also applies the group scales; each block or super-block ends in one FMA.
// Only installed when the CPU has these features (dot.cpp checks), so the whole file is compiled
// for them; every include comes before the target switch so no shared inline code gets AVX2.
#if defined(__x86_64__) || defined(__i386__)  // x86 builds only; empty elsewhere
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "quant/blocks.hpp"
#include "quant/kernels.hpp"

#if defined(__clang__)
// Functions declared before this point (the registration hooks in kernels.hpp) keep no target.
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wignored-attributes"
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

namespace bantam::quant::kernels {
namespace {

inline float half(uint16_t h) { return _cvtsh_ss(h); }

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// u8 x s8 products summed in fours, as 8 x int32.
inline __m256i dot_u8s8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
// s8 x s8: move w's sign onto a so vpmaddubsw sees |w| as unsigned. Needs a != -128.
inline __m256i dot_s8s8(__m256i w, __m256i a) { return dot_u8s8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w)); }

// The 32 nibbles of a legacy block as bytes: low nibbles (elements 0..15), then high ones.
inline __m256i nibbles32(const uint8_t* qs) {
  const __m128i q = load128(qs);
  const __m128i mask = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), mask), _mm_and_si128(q, mask));
}

inline int hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// 0xFF in byte j where bit j of the 32-bit word is set.
inline __m256i bits_to_bytes(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(bits)),
      _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
  return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

// Q8_0, Q4_0, Q5_0 and IQ4_NL in ggml's eight-lane order (see dot_in_lanes in dot_scalar.cpp):
// dot_s8s8 puts products 4l..4l+3 in lane l, one FMA per block, and hsum adds as hsum8 does.
float dot_q8_0(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ8_0*>(weights);
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i p = dot_s8s8(load256(w[i].qs), load256(a[i].qs));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(half(w[i].d) * half(a[i].d)), _mm256_cvtepi32_ps(p), acc);
  }
  return hsum(acc);
}

float dot_q4_0(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ4_0*>(weights);
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i q = _mm256_sub_epi8(nibbles32(w[i].qs), _mm256_set1_epi8(8));
    const __m256i p = dot_s8s8(q, load256(a[i].qs));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(half(w[i].d) * half(a[i].d)), _mm256_cvtepi32_ps(p), acc);
  }
  return hsum(acc);
}

// llama.cpp's repacked Q4_0 order (DotOrder::Interleaved8): every row one FMA chain over its
// blocks. Rows are streamed four at a time, two blocks per step (block k in 128-bit lane k);
// the four rows' int32 partial sums are added together into one vector (lane 4k + j: row j,
// block k) whose float terms then advance each row's chain block by block. The integer sums are
// exact, so the chain equals the scalar kernel's bit for bit.

// A token's activations for two consecutive blocks, laid out as the rows' vectors need them.
struct alignas(32) ChainPair {
  int8_t lo[32];      // 128-bit lane k: elements 0..15 of block k
  int8_t hi[32];      // 128-bit lane k: elements 16..31 of block k
  float d[8];         // lane 4k + j: block k's scale
  int32_t offset[8];  // lane 4k + j: 8 * sum of block k's quants (the nibbles' offset)
};

// A missing second block of the last pair is zeros (no quants, no scale).
void prepare_chain_pairs(const BlockQ8_0* a, int64_t blocks, std::vector<ChainPair>& pairs) {
  pairs.assign(static_cast<size_t>((blocks + 1) / 2), ChainPair{});
  for (int64_t i = 0; i < blocks; ++i) {
    ChainPair& p = pairs[static_cast<size_t>(i / 2)];
    const int k = static_cast<int>(i % 2);
    std::memcpy(p.lo + 16 * k, a[i].qs, 16);
    std::memcpy(p.hi + 16 * k, a[i].qs + 16, 16);
    const int32_t offset = hsum_epi32(dot_u8s8(_mm256_set1_epi8(8), load256(a[i].qs)));
    const float d = half(a[i].d);
    for (int j = 0; j < 4; ++j) {
      p.d[4 * k + j] = d;
      p.offset[4 * k + j] = offset;
    }
  }
}

// Four rows times `nb` (1 or 2) blocks starting at block pointers w[0..3]: the rows' chains in
// acc (lane j: row j) advanced over the blocks.
inline __m128 chain_pair_step(const BlockQ4_0* const (&w)[4], int nb, const ChainPair& act, __m128 acc) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i act_lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(act.lo));
  const __m256i act_hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(act.hi));
  __m256i part[4];  // part[j], 128-bit lane k: four partial sums of row j, block k
  for (int j = 0; j < 4; ++j) {
    // Prefetching a few steps ahead keeps decoding from waiting on memory (as in the AVX-512 kernel).
    _mm_prefetch(reinterpret_cast<const char*>(w[j]) + 256, _MM_HINT_T0);
    const __m128i second = nb == 2 ? load128(w[j][1].qs) : _mm_setzero_si128();
    const __m256i q = _mm256_set_m128i(second, load128(w[j][0].qs));
    const __m256i lo = _mm256_and_si256(q, low4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
    // Pair sums stay within int16: |sum| <= 4 * 15 * 127.
    part[j] = _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(lo, act_lo), _mm256_maddubs_epi16(hi, act_hi)),
                                _mm256_set1_epi16(1));
  }
  const __m256i ab = _mm256_add_epi32(_mm256_unpacklo_epi32(part[0], part[1]), _mm256_unpackhi_epi32(part[0], part[1]));
  const __m256i cd = _mm256_add_epi32(_mm256_unpacklo_epi32(part[2], part[3]), _mm256_unpackhi_epi32(part[2], part[3]));
  const __m256i isum =
      _mm256_sub_epi32(_mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd)),
                       _mm256_load_si256(reinterpret_cast<const __m256i*>(act.offset)));
  const auto scale = [&](int j, int k) { return static_cast<int16_t>(k < nb ? w[j][k].d : 0); };
  const __m256 dw = _mm256_cvtph_ps(_mm_setr_epi16(scale(0, 0), scale(1, 0), scale(2, 0), scale(3, 0), scale(0, 1),
                                                   scale(1, 1), scale(2, 1), scale(3, 1)));
  const __m256 terms = _mm256_cvtepi32_ps(isum);
  const __m256 d = _mm256_mul_ps(dw, _mm256_load_ps(act.d));
  acc = _mm_fmadd_ps(_mm256_castps256_ps128(terms), _mm256_castps256_ps128(d), acc);
  if (nb == 2) acc = _mm_fmadd_ps(_mm256_extractf128_ps(terms, 1), _mm256_extractf128_ps(d, 1), acc);
  return acc;
}

// Rows [0, rows) in groups of four (a short last group repeats its last row).
void gemv_q4_0_chain(int64_t n, const void* weights, size_t stride, int64_t rows, const void* activations,
                     float* out) {
  const int64_t blocks = n / kQK;
  thread_local std::vector<ChainPair> pairs;
  prepare_chain_pairs(static_cast<const BlockQ8_0*>(activations), blocks, pairs);
  const auto* base = static_cast<const uint8_t*>(weights);
  for (int64_t r0 = 0; r0 < rows; r0 += 4) {
    const int count = static_cast<int>(std::min<int64_t>(4, rows - r0));
    const BlockQ4_0* w[4];
    group_rows(base, stride, r0, count, w);
    __m128 acc = _mm_setzero_ps();
    const ChainPair* act = pairs.data();
    for (int64_t i = 0; i < blocks; i += 2, ++act) {
      const BlockQ4_0* const at[4] = {w[0] + i, w[1] + i, w[2] + i, w[3] + i};
      acc = chain_pair_step(at, blocks - i >= 2 ? 2 : 1, *act, acc);
    }
    alignas(16) float result[4];
    _mm_store_ps(result, acc);
    for (int j = 0; j < count; ++j) out[r0 + j] = result[j];
  }
}

float dot_q4_0_chain(int64_t n, const void* weights, const void* activations) {
  float out;
  gemv_q4_0_chain(n, weights, 0, 1, activations, &out);
  return out;
}

float dot_q5_0(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ5_0*>(weights);
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    // nibble | 0xF0 reads as nibble - 16 in int8: that is the level when the fifth bit is clear.
    const __m256i q = _mm256_or_si256(nibbles32(w[i].qs),
                                      _mm256_andnot_si256(bits_to_bytes(w[i].qh), _mm256_set1_epi8(-16)));
    const __m256i p = dot_s8s8(q, load256(a[i].qs));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(half(w[i].d) * half(a[i].d)), _mm256_cvtepi32_ps(p), acc);
  }
  return hsum(acc);
}

float dot_q4_1(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ4_1*>(weights);
  const auto* a = static_cast<const BlockQ8_1*>(activations);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i p = dot_u8s8(nibbles32(w[i].qs), load256(a[i].qs));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(half(w[i].d) * half(a[i].d)), _mm256_cvtepi32_ps(p), acc);
    mins += half(w[i].m) * half(a[i].s);
  }
  return hsum(acc) + mins;
}

float dot_q5_1(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ5_1*>(weights);
  const auto* a = static_cast<const BlockQ8_1*>(activations);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i q = _mm256_or_si256(nibbles32(w[i].qs),
                                      _mm256_and_si256(bits_to_bytes(w[i].qh), _mm256_set1_epi8(0x10)));
    const __m256i p = dot_u8s8(q, load256(a[i].qs));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(half(w[i].d) * half(a[i].d)), _mm256_cvtepi32_ps(p), acc);
    mins = std::fma(half(w[i].m), half(a[i].s), mins);  // as the AVX-512 kernel: one FMA chain
  }
  return hsum(acc) + mins;
}

inline __m256i iq4_lookup(__m256i nibbles) {
  const __m256i table = _mm256_broadcastsi128_si256(load128(kIQ4Values));
  return _mm256_shuffle_epi8(table, nibbles);
}

float dot_iq4_nl(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockIQ4_NL*>(weights);
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i p = dot_s8s8(iq4_lookup(nibbles32(w[i].qs)), load256(a[i].qs));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(half(w[i].d) * half(a[i].d)), _mm256_cvtepi32_ps(p), acc);
  }
  return hsum(acc);
}

// Scales for two 16-element groups covering 32 bytes: low 128 bits get `lo`, high ones `hi`.
inline __m256i pair_scales(int lo, int hi) {
  return _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(hi)), _mm_set1_epi16(static_cast<int16_t>(lo)));
}

// sum_g scale[g] * bsums[g] over the 16 groups, as 8 x int32 partial sums.
inline __m256i scaled_bsums(const int16_t* bsums, const int8_t* scales16) {
  return _mm256_madd_epi16(load256(bsums), _mm256_cvtepi8_epi16(load128(scales16)));
}

// K-quants in ggml's AVX2 vec_dot order (DotOrder::VecDot, see dot_scalar_kquants.cpp): every
// vpmaddwd leaves elements 4m..4m+3 of a 32-element chunk in int32 lane m, so summing the chunks'
// vectors gives the eight lanes; offsets (Q3_K, Q6_K) stay in their elements' lanes.
float dot_q2_k(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ2_K*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  __m256 acc = _mm256_setzero_ps();
  const __m256i three = _mm256_set1_epi8(3);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const __m128i packed = load128(w[i].scales);
    int8_t scales[16], mins[16];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(scales), _mm_and_si128(packed, _mm_set1_epi8(0x0F)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(mins), _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F)));
    const float da = a[i].d;
    acc = _mm256_fmadd_ps(_mm256_set1_ps(-da * half(w[i].dmin)),
                          _mm256_cvtepi32_ps(scaled_bsums(a[i].bsums, mins)), acc);
    __m256i isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i q = load256(w[i].qs + 32 * h);
      for (int k = 0; k < 4; ++k) {
        const __m256i levels = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k), three);
        const __m256i p = _mm256_maddubs_epi16(levels, load256(a[i].qs + 128 * h + 32 * k));
        const int g = 8 * h + 2 * k;
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, pair_scales(scales[g], scales[g + 1])));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(da * half(w[i].d)), _mm256_cvtepi32_ps(isum), acc);
  }
  return hsum(acc);
}

float dot_q3_k(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ3_K*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  __m256 acc = _mm256_setzero_ps();
  const __m256i three = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1), four = _mm256_set1_epi8(4);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int8_t scales[16];
    q3k_scales(w[i].scales, scales);
    const __m256i hmask = load256(w[i].hmask);
    // Levels as unsigned low2 + 4*high (0..7) minus 4, in int16 pairs (|pair| <= 2 * 7 * 127).
    __m256i isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i q = load256(w[i].qs + 32 * h);
      for (int k = 0; k < 4; ++k) {
        const __m256i high = _mm256_and_si256(_mm256_srli_epi16(hmask, 4 * h + k), one);
        const __m256i levels = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 2 * k), three),
                                               _mm256_slli_epi16(high, 2));
        const __m256i act = load256(a[i].qs + 128 * h + 32 * k);
        const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(levels, act), _mm256_maddubs_epi16(four, act));
        const int g = 8 * h + 2 * k;
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, pair_scales(scales[g], scales[g + 1])));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(a[i].d * half(w[i].d)), _mm256_cvtepi32_ps(isum), acc);
  }
  return hsum(acc);
}

// The 8 scales and 8 mins of a Q4_K/Q5_K super-block, unpacked four at a time.
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

// Lane k: mins[2k] * (bsums[4k] + bsums[4k+1]) + mins[2k+1] * (bsums[4k+2] + bsums[4k+3]).
inline __m128i k4_min_lanes(const int16_t* bsums, const uint8_t mins[8]) {
  const __m128i pairs = _mm_hadd_epi16(load128(bsums), load128(bsums + 8));
  uint64_t m8;
  std::memcpy(&m8, mins, 8);
  return _mm_madd_epi16(pairs, _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(m8))));
}

inline int hsum_epi32_128(__m128i s) {
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// The levels of step c (elements 64c..64c+63) of a Q4_K/Q5_K super-block: sub-block 2c in `lo`,
// 2c+1 in `hi`.
template <bool kFiveBits, typename Block>
inline void k4_levels(const Block& b, int c, __m256i& lo, __m256i& hi) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i q = load256(b.qs + 32 * c);
  lo = _mm256_and_si256(q, low4);
  hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
  if constexpr (kFiveBits) {
    const __m256i qh = load256(b.qh), one = _mm256_set1_epi8(1);
    lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one), 4));
    hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one), 4));
  }
}

// Q4_K (mins in four lanes of their own) and Q5_K (mins in one chain).
template <bool kFiveBits, typename Block>
float dot_k4(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const Block*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  __m256 acc = _mm256_setzero_ps();
  __m128 acc_min = _mm_setzero_ps();
  float min_chain = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    uint8_t scales[8], mins[8];
    k4_unpack(w[i].scales, scales, mins);
    const float dmin = -a[i].d * half(w[i].dmin);
    const __m128i min_lanes = k4_min_lanes(a[i].bsums, mins);
    if constexpr (kFiveBits) {
      min_chain = std::fma(dmin, static_cast<float>(hsum_epi32_128(min_lanes)), min_chain);
    } else {
      acc_min = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(min_lanes), acc_min);
    }
    __m256i isum = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      __m256i lo, hi;
      k4_levels<kFiveBits>(w[i], c, lo, hi);
      const __m256i p_lo = _mm256_maddubs_epi16(lo, load256(a[i].qs + 64 * c));
      const __m256i p_hi = _mm256_maddubs_epi16(hi, load256(a[i].qs + 64 * c + 32));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p_lo, _mm256_set1_epi16(scales[2 * c])));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p_hi, _mm256_set1_epi16(scales[2 * c + 1])));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(a[i].d * half(w[i].d)), _mm256_cvtepi32_ps(isum), acc);
  }
  if constexpr (kFiveBits) return hsum(acc) + min_chain;
  acc_min = _mm_add_ps(acc_min, _mm_movehl_ps(acc_min, acc_min));
  acc_min = _mm_add_ss(acc_min, _mm_movehdup_ps(acc_min));
  return hsum(acc) + _mm_cvtss_f32(acc_min);
}

float dot_q6_k(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ6_K*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  __m256 acc = _mm256_setzero_ps();
  const __m256i low4 = _mm256_set1_epi8(0x0F), offset = _mm256_set1_epi8(32);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const int8_t* sc = w[i].scales;
    // Levels as unsigned 0..63 minus 32, in int16 pairs (|pair| <= 2 * 63 * 127).
    __m256i isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = load256(w[i].ql + 64 * h);
      const __m256i ql1 = load256(w[i].ql + 64 * h + 32);
      const __m256i qh = load256(w[i].qh + 32 * h);
      const __m256i levels[4] = {
          _mm256_or_si256(_mm256_and_si256(ql0, low4),
                          _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(0x03)), 4)),
          _mm256_or_si256(_mm256_and_si256(ql1, low4),
                          _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(0x0C)), 2)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                          _mm256_and_si256(qh, _mm256_set1_epi8(0x30))),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                          _mm256_srli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(static_cast<char>(0xC0))), 2)),
      };
      for (int k = 0; k < 4; ++k) {
        const __m256i act = load256(a[i].qs + 128 * h + 32 * k);
        const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(levels[k], act), _mm256_maddubs_epi16(offset, act));
        const int g = 8 * h + 2 * k;
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, pair_scales(sc[g], sc[g + 1])));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(a[i].d * half(w[i].d)), _mm256_cvtepi32_ps(isum), acc);
  }
  return hsum(acc);
}

// llama.cpp's repacked Q4_K and Q2_K (DotOrder::Interleaved8, see dot_scalar_kquants.cpp): the
// integer sums of each step of its gemm (Q4_K: 64 elements, Q2_K: 128), then the two FMA chains.
// Four vectors' int32 lanes summed: lane j of the result is the total of v[j].
inline __m128i hsum4_epi32(__m256i v0, __m256i v1, __m256i v2, __m256i v3) {
  const __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(v0, v1), _mm256_hadd_epi32(v2, v3));
  return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

// Vectors whose int32 lanes add up, per step s, to step s's scaled sum (`part[s]`, Q2_K s < 2) and
// to the super-block's min sum (`mins`); `min_steps` lane s: step s's min sum.
struct StepParts {
  __m256i part[4];
  __m256i mins;
  __m128i min_steps;
};

inline StepParts step_parts(const BlockQ4_K& b, const BlockQ8_K& a) {
  uint8_t scales[8], mins[8];
  k4_unpack(b.scales, scales, mins);
  StepParts out;
  for (int c = 0; c < 4; ++c) {
    __m256i lo, hi;
    k4_levels<false>(b, c, lo, hi);
    const __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load256(a.qs + 64 * c)),
                                           _mm256_set1_epi16(scales[2 * c]));
    const __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load256(a.qs + 64 * c + 32)),
                                           _mm256_set1_epi16(scales[2 * c + 1]));
    out.part[c] = _mm256_add_epi32(p_lo, p_hi);
  }
  out.min_steps = k4_min_lanes(a.bsums, mins);
  out.mins = _mm256_zextsi128_si256(out.min_steps);
  return out;
}

inline StepParts step_parts(const BlockQ2_K& b, const BlockQ8_K& a) {
  const __m128i packed = load128(b.scales);
  int8_t scales[16], mins[16];
  _mm_storeu_si128(reinterpret_cast<__m128i*>(scales), _mm_and_si128(packed, _mm_set1_epi8(0x0F)));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(mins), _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F)));
  const __m256i three = _mm256_set1_epi8(3);
  StepParts out;
  for (int h = 0; h < 2; ++h) {
    const __m256i q = load256(b.qs + 32 * h);
    out.part[h] = _mm256_setzero_si256();
    for (int k = 0; k < 4; ++k) {
      const __m256i levels = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k), three);
      const __m256i p = _mm256_maddubs_epi16(levels, load256(a.qs + 128 * h + 32 * k));
      const int g = 8 * h + 2 * k;
      out.part[h] = _mm256_add_epi32(out.part[h], _mm256_madd_epi16(p, pair_scales(scales[g], scales[g + 1])));
    }
  }
  out.part[2] = out.part[3] = _mm256_setzero_si256();
  // Lane m: groups 2m, 2m+1, so lanes 0..3 are step 0 and lanes 4..7 step 1.
  out.mins = scaled_bsums(a.bsums, mins);
  const __m128i halves = _mm_hadd_epi32(_mm256_castsi256_si128(out.mins), _mm256_extracti128_si256(out.mins, 1));
  out.min_steps = _mm_hadd_epi32(halves, _mm_setzero_si128());
  return out;
}

template <typename Block>
constexpr int kSteps = std::is_same_v<Block, BlockQ4_K> ? 4 : 2;

// One token, R rows (R <= 4) in the lanes of the chains: one term per super-block (llama.cpp's gemv).
template <typename Block, int R>
void chain_rows(int64_t n, const void* weights, size_t stride, const void* activations, float* out) {
  const Block* w[R];
  for (int r = 0; r < R; ++r) {
    w[r] = reinterpret_cast<const Block*>(static_cast<const uint8_t*>(weights) + static_cast<size_t>(r) * stride);
  }
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  __m128 sums = _mm_setzero_ps(), mins = _mm_setzero_ps();
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    __m256i scaled[4], min[4];
    for (int r = R; r < 4; ++r) scaled[r] = min[r] = _mm256_setzero_si256();
    alignas(16) float d[4] = {}, dmin[4] = {};
    for (int r = 0; r < R; ++r) {
      const StepParts s = step_parts(w[r][i], a[i]);
      scaled[r] = _mm256_add_epi32(_mm256_add_epi32(s.part[0], s.part[1]), _mm256_add_epi32(s.part[2], s.part[3]));
      min[r] = s.mins;
      d[r] = half(w[r][i].d) * a[i].d;
      dmin[r] = half(w[r][i].dmin) * a[i].d;
    }
    // Lane r: row r's totals.
    const __m128i scaled_total = hsum4_epi32(scaled[0], scaled[1], scaled[2], scaled[3]);
    const __m128i min_total = hsum4_epi32(min[0], min[1], min[2], min[3]);
    sums = _mm_fmadd_ps(_mm_cvtepi32_ps(scaled_total), _mm_load_ps(d), sums);
    mins = _mm_fmadd_ps(_mm_cvtepi32_ps(min_total), _mm_load_ps(dmin), mins);
  }
  alignas(16) float result[4];
  _mm_store_ps(result, _mm_sub_ps(sums, mins));
  for (int r = 0; r < R; ++r) out[r] = result[r];
}

// One row and one token with one chain term per step (llama.cpp's gemm).
template <typename Block>
float dot_chain_steps(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const Block*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  float sums = 0, mins = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const StepParts s = step_parts(w[i], a[i]);
    const float d = half(w[i].d) * a[i].d, dmin = half(w[i].dmin) * a[i].d;
    alignas(16) int32_t scaled[4], min[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(scaled), hsum4_epi32(s.part[0], s.part[1], s.part[2], s.part[3]));
    _mm_store_si128(reinterpret_cast<__m128i*>(min), s.min_steps);
    for (int k = 0; k < kSteps<Block>; ++k) {
      sums = std::fma(static_cast<float>(scaled[k]), d, sums);
      mins = std::fma(static_cast<float>(min[k]), dmin, mins);
    }
  }
  return sums - mins;
}

// llama.cpp's gemm order for whole groups of four tokens, rows in blocks that stay in cache.
template <typename Block>
void gemm_chain_steps(int64_t n, const void* weights, size_t stride, int64_t rows, const void* activations,
                      size_t act_stride, int64_t n_tokens, float* out, size_t out_stride) {
  constexpr int64_t kRowBlock = 16;
  const auto* w = static_cast<const uint8_t*>(weights);
  const auto* acts = static_cast<const uint8_t*>(activations);
  for (int64_t r0 = 0; r0 < rows; r0 += kRowBlock) {
    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int64_t r = r0; r < std::min(rows, r0 + kRowBlock); ++r) {
        out[static_cast<size_t>(t) * out_stride + static_cast<size_t>(r)] = dot_chain_steps<Block>(
            n, w + static_cast<size_t>(r) * stride, acts + static_cast<size_t>(t) * act_stride);
      }
    }
  }
}

template <typename Block>
void add_chain_kernels(Table& table, GgmlType type) {
  using Gemv = decltype(&gemv_in_groups<chain_rows<Block, 4>, 4, chain_rows<Block, 1>>);
  constexpr Gemv gemv = gemv_in_groups<chain_rows<Block, 4>, 4, chain_rows<Block, 1>>;
  table.set_dot(type, dot_from_rows<chain_rows<Block, 1>>, DotOrder::Interleaved8);
  table.set_gemv(type, gemv, DotOrder::Interleaved8);
  table.set_gemm(type, gemm_interleaved_k<gemm_chain_steps<Block>, gemv>, DotOrder::Interleaved8);
}

float dot_iq4_xs(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockIQ4_XS*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  float acc = 0;  // one chain of super-block terms, as dot_scalar.cpp's dot_iq4_xs
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    __m256i isum = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ++ib) {
      const __m256i v = iq4_lookup(nibbles32(w[i].qs + 16 * ib));
      const __m256i act = load256(a[i].qs + 32 * ib);
      const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(act, v));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, _mm256_set1_epi16(static_cast<int16_t>(iq4xs_scale(w[i], ib)))));
    }
    acc = std::fma(static_cast<float>(hsum_epi32(isum)), half(w[i].d) * a[i].d, acc);
  }
  return acc;
}

// Float rows in llama.cpp's two orders (an AVX-512 build; our 256-bit registers hold 8 of its 16
// lanes). Single token, ggml_vec_dot_f16/f32: 64-element steps into four 16-lane accumulators,
// reduced (0+2)+(1+3), then over the lanes; the rest of the row is summed by `tail`. Several tokens,
// tinyBLAS (rows a multiple of 16): one 16-lane accumulator, each lane one FMA chain.
// Lane reductions are _mm512_reduce_add_ps's: lane l + lane l+8, then hsum of the eight.
template <typename Load, typename Tail>
float dot_floats_single(int64_t n, Load load, Tail tail) {
  __m256 acc[4][2];
  for (auto& a : acc) a[0] = a[1] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    for (int j = 0; j < 4; ++j) {
      for (int h = 0; h < 2; ++h) {
        __m256 wv, av;
        load(i + 16 * j + 8 * h, wv, av);
        acc[j][h] = _mm256_fmadd_ps(wv, av, acc[j][h]);
      }
    }
  }
  __m256 half_sums[2];
  for (int h = 0; h < 2; ++h) {
    half_sums[h] = _mm256_add_ps(_mm256_add_ps(acc[0][h], acc[2][h]), _mm256_add_ps(acc[1][h], acc[3][h]));
  }
  return tail(i, hsum(_mm256_add_ps(half_sums[0], half_sums[1])));
}

template <typename Load, typename Tail>
float dot_floats_batched(int64_t n, Load load, Tail tail) {
  if (n % 16 != 0) return dot_floats_single(n, load, tail);  // tinyBLAS declines such rows
  __m256 low = _mm256_setzero_ps(), high = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    __m256 wv, av;
    load(i, wv, av);
    low = _mm256_fmadd_ps(wv, av, low);
    load(i + 8, wv, av);
    high = _mm256_fmadd_ps(wv, av, high);
  }
  return hsum(_mm256_add_ps(low, high));
}

template <bool kBatched>
float dot_f32(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const float*>(weights);
  const auto* a = static_cast<const float*>(activations);
  const auto load = [&](int64_t i, __m256& wv, __m256& av) {
    wv = _mm256_loadu_ps(w + i);
    av = _mm256_loadu_ps(a + i);
  };
  const auto tail = [&](int64_t i, float sum) {  // ggml: sumf += x*y in float, contracted
    for (; i < n; ++i) sum = std::fma(w[i], a[i], sum);
    return sum;
  };
  return kBatched ? dot_floats_batched(n, load, tail) : dot_floats_single(n, load, tail);
}

template <bool kBatched>
float dot_f16(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const uint16_t*>(weights);
  const auto* a = static_cast<const uint16_t*>(activations);
  const auto load = [&](int64_t i, __m256& wv, __m256& av) {
    wv = _mm256_cvtph_ps(load128(w + i));
    av = _mm256_cvtph_ps(load128(a + i));
  };
  const auto tail = [&](int64_t i, float simd_sum) {  // ggml: the rest in double
    double sum = simd_sum;
    for (; i < n; ++i) sum += static_cast<double>(half(w[i]) * half(a[i]));
    return static_cast<float>(sum);
  };
  return kBatched ? dot_floats_batched(n, load, tail) : dot_floats_single(n, load, tail);
}

inline __m256 bf16x8(const uint16_t* p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load128(p)), 16));
}

float dot_bf16(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const uint16_t*>(weights);
  const auto* a = static_cast<const uint16_t*>(activations);
  const auto value = [](uint16_t h) {
    const uint32_t bits = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  };
  return dot_floats_single(
      n,
      [&](int64_t i, __m256& wv, __m256& av) {
        wv = bf16x8(w + i);
        av = bf16x8(a + i);
      },
      [&](int64_t i, float sum) {
        for (; i < n; ++i) sum += value(w[i]) * value(a[i]);
        return sum;
      });
}

}  // namespace

void add_avx2(Table& table) {
  add_row_kernel<dot_f32<false>>(table, GgmlType::F32);
  table.set_gemm(GgmlType::F32, gemm_by_dots<dot_f32<true>>);
  add_row_kernel<dot_f16<false>>(table, GgmlType::F16);
  table.set_gemm(GgmlType::F16, gemm_by_dots<dot_f16<true>>);
  add_row_kernel<dot_bf16>(table, GgmlType::BF16);
  add_row_kernel<dot_q4_0>(table, GgmlType::Q4_0);
  table.set_dot(GgmlType::Q4_0, dot_q4_0_chain, DotOrder::Interleaved8);
  table.set_gemv(GgmlType::Q4_0, gemv_q4_0_chain, DotOrder::Interleaved8);
  add_row_kernel<dot_q4_1>(table, GgmlType::Q4_1);
  add_row_kernel<dot_q5_0>(table, GgmlType::Q5_0);
  add_row_kernel<dot_q5_1>(table, GgmlType::Q5_1);
  add_row_kernel<dot_q8_0>(table, GgmlType::Q8_0);
  add_row_kernel<dot_iq4_nl>(table, GgmlType::IQ4_NL);
  add_row_kernel<dot_q2_k>(table, GgmlType::Q2_K);
  add_row_kernel<dot_q3_k>(table, GgmlType::Q3_K);
  add_row_kernel<dot_k4<false, BlockQ4_K>>(table, GgmlType::Q4_K);
  add_row_kernel<dot_k4<true, BlockQ5_K>>(table, GgmlType::Q5_K);
  add_row_kernel<dot_q6_k>(table, GgmlType::Q6_K);
  add_chain_kernels<BlockQ4_K>(table, GgmlType::Q4_K);
  add_chain_kernels<BlockQ2_K>(table, GgmlType::Q2_K);
  add_row_kernel<dot_iq4_xs>(table, GgmlType::IQ4_XS);
}

}  // namespace bantam::quant::kernels

#if defined(__clang__)
#pragma clang attribute pop
#pragma clang diagnostic pop
#else
#pragma GCC pop_options
#endif

#endif  // x86
