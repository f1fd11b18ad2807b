// AVX-512 (F/BW/VL) dot kernels, written once for two levels: kernels_avx512.cpp includes this
// with kVnni = false (vpmaddubsw + vpmaddwd) and kernels_avx512_vnni.cpp with kVnni = true
// (vpdpbusd / vpdpwssd). Each includer switches the compile target on before including it and
// defines BANTAM_AVX512_VNNI; everything here has internal linkage so the two copies never mix.
// Internal to src/quant.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

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

inline int hsum_epi32(__m128i v) {
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4E));
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xB1));
  return _mm_cvtsi128_si32(v);
}

// The two 8-lane halves of v, each added as ggml's x86 hsum8 does.
inline void hsum8_halves(__m512 v, float& low, float& high) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  low = hsum8(lanes);
  high = hsum8(lanes + 8);
}

// Signed levels of a 32-block in element order, per weight type of the eight-lane order.
struct Q8_0Levels {
  using Block = BlockQ8_0;
  static __m256i get(const Block& b) { return load256(b.qs); }
};

// The 32 nibbles of a legacy block as bytes: low nibbles (elements 0..15), then high ones.
inline __m256i nibbles32(const uint8_t* qs) {
  const __m128i q = load128(qs);
  const __m128i mask = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), mask), _mm_and_si128(q, mask));
}

struct Q4_0Levels {
  using Block = BlockQ4_0;
  static __m256i get(const Block& b) { return _mm256_sub_epi8(nibbles32(b.qs), _mm256_set1_epi8(8)); }
};

struct Q5_0Levels {
  using Block = BlockQ5_0;
  // nibble | 0xF0 reads as nibble - 16 in int8: the level when the fifth bit is clear.
  static __m256i get(const Block& b) {
    uint32_t bits;
    std::memcpy(&bits, b.qh, 4);
    const __mmask32 fifth = bits;
    return _mm256_mask_blend_epi8(fifth, _mm256_or_si256(nibbles32(b.qs), _mm256_set1_epi8(-16)), nibbles32(b.qs));
  }
};

struct IQ4_NLLevels {
  using Block = BlockIQ4_NL;
  static __m256i get(const Block& b) {
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(load128(kIQ4Values)), nibbles32(b.qs));
  }
};

// Requests the weights kPrefetchRows rows below `p` into L2, one piece per block step, while the
// current rows compute: one thread reading a few rows side by side from DRAM otherwise stalls
// (Zen 4, the 151936 x 896 Q8_0 output head: 8 GB/s without, 21 GB/s with, 30 GB/s from L3).
constexpr size_t kPrefetchRows = 16;
inline void prefetch_ahead(const void* p, size_t stride) {
  _mm_prefetch(static_cast<const char*>(p) + kPrefetchRows * stride, _MM_HINT_T1);
}
// The same for `bytes` of weights starting at p (a block bigger than a cache line).
inline void prefetch_ahead(const void* p, size_t bytes, size_t stride) {
  for (size_t offset = 0; offset < bytes; offset += 64) prefetch_ahead(static_cast<const char*>(p) + offset, stride);
}

// ggml's eight-lane order (see dot_in_lanes in dot_scalar.cpp): one block per step into eight
// lanes, so a 512-bit vector holds two rows, row 2p in lanes 0..7 and row 2p+1 in lanes 8..15.
template <typename Levels, int R>
void avx512_lane_rows(int64_t n, const void* weights, size_t stride, const void* activations, float* out) {
  using Block = typename Levels::Block;
  constexpr int kPairs = (R + 1) / 2;
  const Block* w[R];
  row_pointers(weights, stride, w);
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  __m512 acc[kPairs];
  for (int p = 0; p < kPairs; ++p) acc[p] = _mm512_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    for (int r = 0; r < R; ++r) prefetch_ahead(&w[r][i], stride);
    const __m512i act = _mm512_broadcast_i64x4(load256(a[i].qs));
    const float da = half(a[i].d);
    for (int p = 0; p < kPairs; ++p) {
      const Block& lo = w[2 * p][i];
      const bool has_hi = 2 * p + 1 < R;  // an odd last row pairs with zeros and a zero scale
      const __m512i wq = join(Levels::get(lo), has_hi ? Levels::get(w[2 * p + 1][i]) : _mm256_setzero_si256());
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

// Q4_0 in llama.cpp's repacked order (DotOrder::Interleaved8): sixteen rows in the sixteen lanes,
// lane r running row r's single FMA chain over the blocks, for T tokens at once. The rows' quants
// are transposed in 4-byte units, so one broadcast activation dword meets all sixteen rows and no
// horizontal sums are needed.
struct Q4_0Rows16 {
  __m512i lo[4], hi[4];  // lane r: nibbles of elements 4j..4j+3 (lo[j]) and 16+4j.. (hi[j]) of row r
  __m512 d;              // lane r: row r's scale
};

// Block i of the 16 rows.
inline void unpack_rows16(const BlockQ4_0* const (&w)[16], int64_t i, Q4_0Rows16& out) {
  __m512i z[4];  // z[k], 128-bit lane m: row 4m + k
  for (int k = 0; k < 4; ++k) z[k] = four_lanes(w[k][i].qs, w[4 + k][i].qs, w[8 + k][i].qs, w[12 + k][i].qs);
  const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
  const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
  const __m512i q[4] = {_mm512_unpacklo_epi64(t0, t2), _mm512_unpackhi_epi64(t0, t2), _mm512_unpacklo_epi64(t1, t3),
                        _mm512_unpackhi_epi64(t1, t3)};  // q[j] dword r: bytes 4j..4j+3 of row r
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  for (int j = 0; j < 4; ++j) {
    out.lo[j] = _mm512_and_si512(q[j], low4);
    out.hi[j] = _mm512_and_si512(_mm512_srli_epi16(q[j], 4), low4);
  }
  alignas(32) uint16_t d[16];
  for (int r = 0; r < 16; ++r) d[r] = w[r][i].d;
  out.d = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(d)));
}

// An activation block's scale and 8 * sum of its quants (the nibbles' offset), computed once.
struct ChainActivation {
  float d;
  int32_t offset;
};

// The exact integer dot of each row's levels (nibble - 8) with activation block `a`.
// Four activation bytes in every dword lane, straight from memory (an embedded broadcast).
inline __m512i broadcast_dword(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

inline __m512i rows16_isum(const Q4_0Rows16& w, const BlockQ8_0& a, int32_t offset) {
  if constexpr (kVnni) {
    __m512i isum = _mm512_set1_epi32(-offset);
    for (int j = 0; j < 4; ++j) {
      isum = _mm512_dpbusd_epi32(isum, w.lo[j], broadcast_dword(a.qs + 4 * j));
      isum = _mm512_dpbusd_epi32(isum, w.hi[j], broadcast_dword(a.qs + 16 + 4 * j));
    }
    return isum;
  } else {
    // Eight pair sums stay within int16: |sum| <= 8 * 2 * 15 * 127.
    __m512i s16 = _mm512_setzero_si512();
    for (int j = 0; j < 4; ++j) {
      s16 = _mm512_add_epi16(s16, _mm512_maddubs_epi16(w.lo[j], broadcast_dword(a.qs + 4 * j)));
      s16 = _mm512_add_epi16(s16, _mm512_maddubs_epi16(w.hi[j], broadcast_dword(a.qs + 16 + 4 * j)));
    }
    return _mm512_sub_epi32(_mm512_madd_epi16(s16, _mm512_set1_epi16(1)), _mm512_set1_epi32(offset));
  }
}

// Rows [0, count) (count <= 16) of `w` for T tokens: token t's activation blocks at a[t], its
// prepared scales and offsets at prep + t * prep_stride; out[t * out_stride + r].
template <int T>
void q4_0_chain_tile(int64_t blocks, const BlockQ4_0* const (&w)[16], int count,
                     const BlockQ8_0* const* a, const ChainActivation* prep, size_t prep_stride, float* out,
                     size_t out_stride) {
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < blocks; ++i) {
    Q4_0Rows16 rows;
    unpack_rows16(w, i, rows);
    for (int t = 0; t < T; ++t) {
      const ChainActivation& p = prep[static_cast<size_t>(t) * prep_stride + static_cast<size_t>(i)];
      const __m512i isum = rows16_isum(rows, a[t][i], p.offset);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(rows.d, _mm512_set1_ps(p.d)), acc[t]);
    }
  }
  const __mmask16 valid = static_cast<__mmask16>((1u << count) - 1);
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(out + static_cast<size_t>(t) * out_stride, valid, acc[t]);
}

// gemm in the Interleaved8 order: groups of 16 rows (a short last
// group repeats its last row in the spare lanes), tokens in tiles of up to 8.
void q4_0_chain_gemm(int64_t n, const void* weights, size_t stride, int64_t rows, const void* activations,
                     size_t act_stride, int64_t n_tokens, float* out, size_t out_stride) {
  const int64_t blocks = n / kQK;
  const auto* acts = static_cast<const uint8_t*>(activations);
  thread_local std::vector<ChainActivation> prepared;
  prepared.resize(static_cast<size_t>(n_tokens * blocks));
  std::vector<const BlockQ8_0*> tokens(static_cast<size_t>(n_tokens));
  for (int64_t t = 0; t < n_tokens; ++t) {
    tokens[static_cast<size_t>(t)] = reinterpret_cast<const BlockQ8_0*>(acts + static_cast<size_t>(t) * act_stride);
    for (int64_t i = 0; i < blocks; ++i) {
      const BlockQ8_0& b = tokens[static_cast<size_t>(t)][i];
      const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), load256(b.qs)),
                                          _mm256_set1_epi16(1));
      const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
      prepared[static_cast<size_t>(t * blocks + i)] = {half(b.d), 8 * hsum_epi32(s4)};
    }
  }
  // Tokens go in chunks whose activations stay in L2 while every row group passes over them.
  const int64_t chunk = tokens_per_chunk(static_cast<size_t>(blocks) * (sizeof(BlockQ8_0) + sizeof(ChainActivation)), 8);
  const auto* base = static_cast<const uint8_t*>(weights);
  for (int64_t t0 = 0; t0 < n_tokens; t0 += chunk) {
    const int64_t t_end = std::min(n_tokens, t0 + chunk);
    for (int64_t r0 = 0; r0 < rows; r0 += 16) {
      const int count = static_cast<int>(std::min<int64_t>(16, rows - r0));
      const BlockQ4_0* w[16];
      group_rows(base, stride, r0, count, w);
      for (int64_t t = t0; t < t_end; t += 8) {
        const BlockQ8_0* const* a = tokens.data() + t;
        const ChainActivation* prep = prepared.data() + static_cast<size_t>(t * blocks);
        float* o = out + static_cast<size_t>(t) * out_stride + static_cast<size_t>(r0);
        const auto bs = static_cast<size_t>(blocks);
        switch (std::min<int64_t>(8, t_end - t)) {
          case 1: q4_0_chain_tile<1>(blocks, w, count, a, prep, bs, o, out_stride); break;
          case 2: q4_0_chain_tile<2>(blocks, w, count, a, prep, bs, o, out_stride); break;
          case 3: q4_0_chain_tile<3>(blocks, w, count, a, prep, bs, o, out_stride); break;
          case 4: q4_0_chain_tile<4>(blocks, w, count, a, prep, bs, o, out_stride); break;
          case 5: q4_0_chain_tile<5>(blocks, w, count, a, prep, bs, o, out_stride); break;
          case 6: q4_0_chain_tile<6>(blocks, w, count, a, prep, bs, o, out_stride); break;
          case 7: q4_0_chain_tile<7>(blocks, w, count, a, prep, bs, o, out_stride); break;
          default: q4_0_chain_tile<8>(blocks, w, count, a, prep, bs, o, out_stride); break;
        }
      }
    }
  }
}

// Decoding (one token) in the Interleaved8 order: rows are streamed four at a time, four blocks
// per step, so the weights are read contiguously instead of sixteen rows at once. Each row's
// four blocks go into one vector (block k in 128-bit lane k), the integer products into four
// int32 partial sums per block, and four rows' partials are added together into one vector
// (lane 4k + j: row j, block k), whose float terms then run each row's FMA chain block by block.
// The integer sums are exact, so every row gets the same chain as q4_0_chain_gemm.

// A token's activations for four consecutive blocks, laid out as the rows' vectors need them.
struct alignas(64) ChainQuad {
  int8_t lo[64];       // 128-bit lane k: elements 0..15 of block k
  int8_t hi[64];       // 128-bit lane k: elements 16..31 of block k
  float d[16];         // lane 4k + j: block k's scale
  int32_t offset[16];  // lane 4k + j: 8 * sum of block k's quants (the nibbles' offset)
};

// Blocks beyond the row's end are zeros (no quants, no scale).
inline void prepare_chain_quads(const BlockQ8_0* a, int64_t blocks, std::vector<ChainQuad>& quads) {
  quads.assign(static_cast<size_t>((blocks + 3) / 4), ChainQuad{});
  for (int64_t i = 0; i < blocks; ++i) {
    ChainQuad& q = quads[static_cast<size_t>(i / 4)];
    const int k = static_cast<int>(i % 4);
    std::memcpy(q.lo + 16 * k, a[i].qs, 16);
    std::memcpy(q.hi + 16 * k, a[i].qs + 16, 16);
    const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), load256(a[i].qs)),
                                        _mm256_set1_epi16(1));
    const int32_t offset = 8 * hsum_epi32(_mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1)));
    const float d = half(a[i].d);
    for (int j = 0; j < 4; ++j) {
      q.d[4 * k + j] = d;
      q.offset[4 * k + j] = offset;
    }
  }
}

// Word indices into (bytes 0..63, bytes 56..71) of four consecutive 18-byte blocks: the 16
// quant bytes of block k (words 9k+1..9k+8) into 128-bit lane k, block 3's from the second.
inline __m512i quad_quant_index() {
  alignas(64) int16_t idx[32];
  for (int p = 0; p < 32; ++p) idx[p] = static_cast<int16_t>(p < 24 ? 9 * (p / 8) + 1 + p % 8 : 32 + p - 24);
  return _mm512_load_si512(idx);
}

// Word indices taking block k's scale (word 9k) from the first source into words 4k and 4k + 2
// and from the second into words 4k + 1 and 4k + 3.
inline __m512i quad_scale_index() {
  alignas(64) int16_t idx[32] = {};
  for (int p = 0; p < 16; ++p) idx[p] = static_cast<int16_t>(9 * (p / 4) + (p % 2 == 1 ? 32 : 0));
  return _mm512_load_si512(idx);
}

// Four rows times `nb` (1..4; 4 when kFull) blocks starting at block pointers w[0..3]: the
// rows' FMA chains in acc (lane j: row j) advanced over the blocks. Full steps have code of
// their own: plain loads (masked 64-byte loads measured slower on Zen 4).
template <bool kFull>
inline __m128 chain_quad_step(const BlockQ4_0* const (&w)[4], int nb, const ChainQuad& act, __m128 acc,
                              __m512i quant_index, __m512i scale_index) {
  // A short step loads only its blocks: masked-off words are zeros (no quants, zero scale).
  const auto head_mask = static_cast<__mmask32>(kFull ? ~0u : (1u << (9 * nb)) - 1);
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i act_lo = _mm512_load_si512(act.lo), act_hi = _mm512_load_si512(act.hi);
  __m512i part[4];  // part[j], 128-bit lane k: four partial sums of row j, block k
  __m512i head[4];
  for (int j = 0; j < 4; ++j) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(w[j]);
    // A software prefetch a few steps ahead: the hardware prefetchers alone left decoding
    // waiting on memory (measured on Zen 4; 256 bytes did best, 512 much worse).
    _mm_prefetch(reinterpret_cast<const char*>(bytes) + 256, _MM_HINT_T0);
    // One 64-byte load for blocks 0..2 and 16 bytes for block 3 (a second 64-byte load
    // measured slower).
    __m512i tail;
    if constexpr (kFull) {
      head[j] = load512(bytes);
      tail = _mm512_castsi128_si512(load128(bytes + 56));
    } else {
      head[j] = _mm512_maskz_loadu_epi16(head_mask, bytes);
      tail = _mm512_setzero_si512();
    }
    const __m512i q = _mm512_permutex2var_epi16(head[j], quant_index, tail);
    const __m512i lo = _mm512_and_si512(q, low4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
    if constexpr (kVnni) {
      part[j] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, act_lo), hi, act_hi);
    } else {
      // Pair sums stay within int16: |sum| <= 4 * 15 * 127.
      part[j] = _mm512_madd_epi16(
          _mm512_add_epi16(_mm512_maddubs_epi16(lo, act_lo), _mm512_maddubs_epi16(hi, act_hi)),
          _mm512_set1_epi16(1));
    }
  }
  const __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(part[0], part[1]), _mm512_unpackhi_epi32(part[0], part[1]));
  const __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(part[2], part[3]), _mm512_unpackhi_epi32(part[2], part[3]));
  const __m512i isum = _mm512_sub_epi32(
      _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd)), _mm512_load_si512(act.offset));
  const __m512 terms = _mm512_cvtepi32_ps(isum);
  // Word 4k + j: row j's scale of block k.
  const __m512i scales = _mm512_mask_blend_epi16(0xCCCCCCCC, _mm512_permutex2var_epi16(head[0], scale_index, head[1]),
                                                 _mm512_permutex2var_epi16(head[2], scale_index, head[3]));
  const __m512 d = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(scales)), _mm512_load_ps(act.d));
  acc = _mm_fmadd_ps(_mm512_castps512_ps128(terms), _mm512_castps512_ps128(d), acc);
  if (kFull || nb > 1) acc = _mm_fmadd_ps(_mm512_extractf32x4_ps(terms, 1), _mm512_extractf32x4_ps(d, 1), acc);
  if (kFull || nb > 2) acc = _mm_fmadd_ps(_mm512_extractf32x4_ps(terms, 2), _mm512_extractf32x4_ps(d, 2), acc);
  if (kFull) acc = _mm_fmadd_ps(_mm512_extractf32x4_ps(terms, 3), _mm512_extractf32x4_ps(d, 3), acc);
  return acc;
}

// Rows [0, rows) in groups of four (a short last group repeats its last row). Eight rows at
// once (two chains per step) measured slower.
void q4_0_chain_stream_gemv(int64_t n, const void* weights, size_t stride, int64_t rows, const void* activations,
                            float* out) {
  const int64_t blocks = n / kQK;
  thread_local std::vector<ChainQuad> quads;
  prepare_chain_quads(static_cast<const BlockQ8_0*>(activations), blocks, quads);
  const __m512i quant_index = quad_quant_index(), scale_index = quad_scale_index();
  const auto* base = static_cast<const uint8_t*>(weights);
  for (int64_t r0 = 0; r0 < rows; r0 += 4) {
    const int count = static_cast<int>(std::min<int64_t>(4, rows - r0));
    const BlockQ4_0* w[4];
    group_rows(base, stride, r0, count, w);
    __m128 acc = _mm_setzero_ps();
    const ChainQuad* act = quads.data();
    int64_t i = 0;
    for (; i + 4 <= blocks; i += 4, ++act) {
      for (int j = 0; j < 4; ++j) prefetch_ahead(w[j] + i, 4 * sizeof(BlockQ4_0), stride);
      const BlockQ4_0* const at[4] = {w[0] + i, w[1] + i, w[2] + i, w[3] + i};
      acc = chain_quad_step<true>(at, 4, *act, acc, quant_index, scale_index);
    }
    if (i < blocks) {
      const BlockQ4_0* const at[4] = {w[0] + i, w[1] + i, w[2] + i, w[3] + i};
      acc = chain_quad_step<false>(at, static_cast<int>(blocks - i), *act, acc, quant_index, scale_index);
    }
    alignas(16) float result[4];
    _mm_store_ps(result, acc);
    for (int j = 0; j < count; ++j) out[r0 + j] = result[j];
  }
}

float q4_0_chain_stream_dot(int64_t n, const void* weights, const void* activations) {
  float out;
  q4_0_chain_stream_gemv(n, weights, 0, 1, activations, &out);
  return out;
}

// Q4_K/Q5_K scales and mins, unpacked (same packing as blocks.hpp's k4_scale_min): byte j of
// `scales` / `mins` is sub-block j's. Kept in registers: byte arrays written in pieces and read
// back whole stall on store forwarding in the decoding kernels.
inline void k4_unpack(const uint8_t* packed, uint64_t& scales, uint64_t& mins) {
  uint32_t u[3];
  std::memcpy(u, packed, 12);
  const uint32_t s_lo = u[0] & 0x3F3F3F3F, m_lo = u[1] & 0x3F3F3F3F;
  const uint32_t s_hi = (u[2] & 0x0F0F0F0F) | (((u[0] >> 6) & 0x03030303) << 4);
  const uint32_t m_hi = ((u[2] >> 4) & 0x0F0F0F0F) | (((u[1] >> 6) & 0x03030303) << 4);
  scales = s_lo | (static_cast<uint64_t>(s_hi) << 32);
  mins = m_lo | (static_cast<uint64_t>(m_hi) << 32);
}
inline void k4_unpack(const uint8_t* packed, uint8_t scales[8], uint8_t mins[8]) {
  uint64_t s, m;
  k4_unpack(packed, s, m);
  std::memcpy(scales, &s, 8);
  std::memcpy(mins, &m, 8);
}

// int16 vector: scale s0 in the low 256 bits, s1 in the high ones.
inline __m512i half_scales(int s0, int s1) {
  return join(_mm256_set1_epi16(static_cast<int16_t>(s0)), _mm256_set1_epi16(static_cast<int16_t>(s1)));
}

// The eight lanes of ggml's AVX2 K-quant order from a 512-bit vector whose two halves hold the
// same lanes of different 32-element chunks (see dot_scalar_kquants.cpp).
inline __m256i fold_lanes(__m512i v) {
  return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

inline float hsum8_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Lane k: mins[2k] * (bsums[4k] + bsums[4k+1]) + mins[2k+1] * (bsums[4k+2] + bsums[4k+3]).
inline __m128i k4_min_lanes(__m128i bsum_pairs, uint64_t mins) {
  return _mm_madd_epi16(bsum_pairs, _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(mins))));
}
inline __m128i k4_min_lanes(__m128i bsum_pairs, const uint8_t mins[8]) {
  uint64_t m8;
  std::memcpy(&m8, mins, 8);
  return k4_min_lanes(bsum_pairs, m8);
}

// The mins of Q4_K (four lanes of their own, added as (0+2)+(1+3)) and Q5_K (one chain), as
// ggml's AVX2 vec_dot keeps them.
template <bool kFiveBits>
struct K4Mins {
  __m128 lanes = _mm_setzero_ps();
  float chain = 0;
  void add(float dmin, __m128i min_lanes) {
    if constexpr (kFiveBits) {
      chain = std::fma(dmin, static_cast<float>(hsum_epi32(min_lanes)), chain);
    } else {
      lanes = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(min_lanes), lanes);
    }
  }
  float total() const {
    if constexpr (kFiveBits) return chain;
    const __m128 h = _mm_add_ps(lanes, _mm_movehl_ps(lanes, lanes));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
  }
};

// The levels of elements 64c..64c+63 of a Q4_K/Q5_K super-block (sub-block 2c in the low half).
template <bool kFiveBits, typename Block>
inline __m512i k4_levels(const Block& b, int c) {
  // 32 bytes hold 64 elements: low nibbles are elements 64c.., high ones 64c+32..; the bytes go
  // to both halves, the high half shifted down.
  const __m512i q = _mm512_broadcast_i64x4(load256(b.qs + 32 * c));
  __m512i levels = _mm512_and_si512(_mm512_mask_srli_epi16(q, 0xFFFF0000, q, 4), _mm512_set1_epi8(0x0F));
  if constexpr (kFiveBits) {
    // Bit 2c of qh[j] is element 64c + j's fifth bit, bit 2c + 1 element 64c + 32 + j's.
    const __m512i qh = _mm512_broadcast_i64x4(load256(b.qh));
    const __m512i bit = join(_mm256_set1_epi8(static_cast<char>(1 << (2 * c))), _mm256_set1_epi8(static_cast<char>(1 << (2 * c + 1))));
    levels = _mm512_mask_add_epi8(levels, _mm512_test_epi8_mask(qh, bit), levels, _mm512_set1_epi8(0x10));
  }
  return levels;
}

// Q4_K/Q5_K in the VecDot order, R rows at once sharing the activation loads and bsum pair sums.
template <bool kFiveBits, typename Block, int R>
void avx512_k4_rows(int64_t n, const void* weights, size_t stride, const void* activations, float* out) {
  const Block* w[R];
  row_pointers(weights, stride, w);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  __m256 acc[R];
  K4Mins<kFiveBits> mins_total[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  __m512i scale_index[4];
  for (int c = 0; c < 4; ++c) {
    scale_index[c] = join(_mm256_set1_epi16(static_cast<int16_t>(2 * c)), _mm256_set1_epi16(static_cast<int16_t>(2 * c + 1)));
  }
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    for (int r = 0; r < R; ++r) prefetch_ahead(&w[r][i], sizeof(Block), stride);
    __m512i act[4];
    for (int c = 0; c < 4; ++c) act[c] = load512(a[i].qs + 64 * c);
    const __m128i bsum_pairs = _mm_hadd_epi16(load128(a[i].bsums), load128(a[i].bsums + 8));
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const Block& b = w[r][i];
      uint64_t scales, mins;
      k4_unpack(b.scales, scales, mins);
      mins_total[r].add(-a[i].d * half(b.dmin), k4_min_lanes(bsum_pairs, mins));
      // int16 scales of sub-blocks 2c (low half) and 2c + 1 (high half), from one vector.
      const __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(scales))));
      __m512i isum = _mm512_setzero_si512();
      for (int c = 0; c < 4; ++c) {
        const __m512i p = _mm512_maddubs_epi16(k4_levels<kFiveBits>(b, c), act[c]);
        isum = dot_s16(isum, p, _mm512_permutexvar_epi16(scale_index[c], sc16));
      }
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(a[i].d * half(b.d)), _mm256_cvtepi32_ps(fold_lanes(isum)), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) out[r] = hsum8_ps(acc[r]) + mins_total[r].total();
}

// Q6_K's levels 0..63 of elements 128h + 64k .. +63 (quarters 2k and 2k+1 of half h).
struct Q6Unpacker {
  __m512i low4 = _mm512_set1_epi8(0x0F), two_bits = _mm512_set1_epi8(3);
  // Per-half shifts of the qh byte: bits 0-1 / 2-3 for elements 0..63, bits 4-5 / 6-7 for 64..127.
  __m512i shift_01 = join(_mm256_set1_epi16(0), _mm256_set1_epi16(2));
  __m512i shift_23 = join(_mm256_set1_epi16(4), _mm256_set1_epi16(6));
  __m512i spread[4];  // index vectors spreading int16 scale g (of 16) over 128-bit slot g % 4
  Q6Unpacker() {
    for (int q = 0; q < 4; ++q) {
      alignas(64) int16_t idx[32];
      for (int l = 0; l < 32; ++l) idx[l] = static_cast<int16_t>(4 * q + l / 8);
      spread[q] = _mm512_load_si512(idx);
    }
  }
  // levels[2h + k] and the matching int16 scales.
  void unpack(const BlockQ6_K& b, __m512i levels[4], __m512i scales[4]) const {
    const __m512i sc = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(load128(b.scales)));
    for (int h = 0; h < 2; ++h) {
      const __m512i ql = load512(b.ql + 64 * h);
      const __m512i qh = _mm512_broadcast_i64x4(load256(b.qh + 32 * h));
      const __m512i high01 = _mm512_and_si512(_mm512_srlv_epi16(qh, shift_01), two_bits);
      const __m512i high23 = _mm512_and_si512(_mm512_srlv_epi16(qh, shift_23), two_bits);
      levels[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, low4), _mm512_slli_epi16(high01, 4));
      levels[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4), _mm512_slli_epi16(high23, 4));
      scales[2 * h] = _mm512_permutexvar_epi16(spread[2 * h], sc);
      scales[2 * h + 1] = _mm512_permutexvar_epi16(spread[2 * h + 1], sc);
    }
  }
};

// The integer lanes of one Q6_K super-block with one token: levels minus 32 in int16 pairs
// (|pair| <= 2 * 63 * 127), so each offset stays in its elements' lane. offsets + 32q holds
// maddubs(32, activations 64q..64q+63) (q6_k_offsets).
inline __m256i q6_k_lanes(const __m512i levels[4], const __m512i scales[4], const int8_t* act, const int16_t* offsets) {
  __m512i isum = _mm512_setzero_si512();
  for (int q = 0; q < 4; ++q) {
    const __m512i p = _mm512_sub_epi16(_mm512_maddubs_epi16(levels[q], load512(act + 64 * q)), load512(offsets + 32 * q));
    isum = dot_s16(isum, p, scales[q]);
  }
  return fold_lanes(isum);
}

inline void q6_k_offsets(const int8_t* act, int16_t offsets[128]) {
  for (int q = 0; q < 4; ++q) {
    _mm512_storeu_si512(offsets + 32 * q, _mm512_maddubs_epi16(_mm512_set1_epi8(32), load512(act + 64 * q)));
  }
}

// Q6_K, row by row; the token's offsets are computed once for all rows.
void avx512_q6_k_gemv(int64_t n, const void* weights, size_t stride, int64_t rows, const void* activations,
                      float* out) {
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  const int64_t blocks = n / kQK_K;
  thread_local std::vector<int16_t> offsets;
  offsets.resize(static_cast<size_t>(128 * blocks));
  for (int64_t i = 0; i < blocks; ++i) q6_k_offsets(a[i].qs, offsets.data() + 128 * i);
  const Q6Unpacker unpacker;
  for (int64_t r = 0; r < rows; ++r) {
    const auto* w = reinterpret_cast<const BlockQ6_K*>(static_cast<const uint8_t*>(weights) + static_cast<size_t>(r) * stride);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < blocks; ++i) {
      prefetch_ahead(&w[i], sizeof(BlockQ6_K), stride);
      __m512i levels[4], scales[4];
      unpacker.unpack(w[i], levels, scales);
      acc = _mm256_fmadd_ps(_mm256_set1_ps(a[i].d * half(w[i].d)),
                            _mm256_cvtepi32_ps(q6_k_lanes(levels, scales, a[i].qs, offsets.data() + 128 * i)), acc);
    }
    out[r] = hsum8_ps(acc);
  }
}

float avx512_dot_q6_k(int64_t n, const void* weights, const void* activations) {
  float out;
  avx512_q6_k_gemv(n, weights, 0, 1, activations, &out);
  return out;
}

// Q4_K in llama.cpp's repacked order (DotOrder::Interleaved8, see dot_scalar_kquants.cpp): per row
// two FMA chains, of the scaled sums times dw * da and of the min sums times dmin * da.

// Four vectors' int32 lanes summed: lane j of the result is the total of v[j].
inline __m128i hsum4_epi32(__m256i v0, __m256i v1, __m256i v2, __m256i v3) {
  const __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(v0, v1), _mm256_hadd_epi32(v2, v3));
  return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

// One token, R rows (R <= 4) in the lanes of the chains: one term per super-block (llama.cpp's gemv).
// Only each row's integer totals per super-block enter the chains, so the products may be grouped
// in any way: 64 bytes of quants at once, their low nibbles (sub-blocks 0 and 2, or 4 and 6) and
// high nibbles (1 and 3, or 5 and 7) against the token's activations rearranged to match, once
// per super-block for all rows, each half of a vector scaled by its sub-block's scale.
template <int R>
void avx512_k4_chain_rows(int64_t n, const void* weights, size_t stride, const void* activations, float* out) {
  const BlockQ4_K* w[R];
  row_pointers(weights, stride, w);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  // Scale vector k (k = 0..3): int16 scale of sub-block 2k' in the low half, 2k'+2 in the high one,
  // for (low, high) nibbles of bytes 0..63 (k = 0, 1) and 64..127 (k = 2, 3).
  __m512i scale_index[4];
  for (int k = 0; k < 4; ++k) {
    const int first = 4 * (k / 2) + (k % 2);
    scale_index[k] = join(_mm256_set1_epi16(static_cast<int16_t>(first)), _mm256_set1_epi16(static_cast<int16_t>(first + 2)));
  }
  __m128 sums = _mm_setzero_ps(), mins = _mm_setzero_ps();
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    for (int r = 0; r < R; ++r) prefetch_ahead(&w[r][i], sizeof(BlockQ4_K), stride);
    const int8_t* q8 = a[i].qs;
    // Activations of sub-blocks (0, 2), (1, 3), (4, 6), (5, 7).
    const __m512i act[4] = {join(load256(q8), load256(q8 + 64)), join(load256(q8 + 32), load256(q8 + 96)),
                            join(load256(q8 + 128), load256(q8 + 192)), join(load256(q8 + 160), load256(q8 + 224))};
    const __m128i bsum_pairs = _mm_hadd_epi16(load128(a[i].bsums), load128(a[i].bsums + 8));
    __m256i part[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    __m128i min_lanes[4] = {_mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128()};
    uint64_t d_halves = 0, dmin_halves = 0;  // row r's scales in bits 16r.. (kept out of memory:
                                              // four float stores read back as one vector stall)
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const BlockQ4_K& b = w[r][i];
      uint64_t s8, mins8;
      k4_unpack(b.scales, s8, mins8);
      const __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(s8))));
      __m512i isum = _mm512_setzero_si512();
      for (int h = 0; h < 2; ++h) {
        const __m512i q = load512(b.qs + 64 * h);
        const __m512i levels_low = _mm512_and_si512(q, low4), levels_high = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
        isum = dot_s16(isum, _mm512_maddubs_epi16(levels_low, act[2 * h]), _mm512_permutexvar_epi16(scale_index[2 * h], sc16));
        isum = dot_s16(isum, _mm512_maddubs_epi16(levels_high, act[2 * h + 1]),
                       _mm512_permutexvar_epi16(scale_index[2 * h + 1], sc16));
      }
      part[r] = fold_lanes(isum);
      min_lanes[r] = k4_min_lanes(bsum_pairs, mins8);
      d_halves |= static_cast<uint64_t>(b.d) << (16 * r);
      dmin_halves |= static_cast<uint64_t>(b.dmin) << (16 * r);
    }
    const __m128 da = _mm_set1_ps(a[i].d);
    const __m128 d = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi64_si128(static_cast<int64_t>(d_halves))), da);
    const __m128 dmin = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi64_si128(static_cast<int64_t>(dmin_halves))), da);
    const __m128i isum4 = hsum4_epi32(part[0], part[1], part[2], part[3]);
    // Lane r: row r's min total (four rows' four lanes summed in one transpose).
    const __m128i min4 = _mm_hadd_epi32(_mm_hadd_epi32(min_lanes[0], min_lanes[1]), _mm_hadd_epi32(min_lanes[2], min_lanes[3]));
    sums = _mm_fmadd_ps(_mm_cvtepi32_ps(isum4), d, sums);
    mins = _mm_fmadd_ps(_mm_cvtepi32_ps(min4), dmin, mins);
  }
  alignas(16) float result[4];
  _mm_store_ps(result, _mm_sub_ps(sums, mins));
  for (int r = 0; r < R; ++r) out[r] = result[r];
}

// Decoding kernels dot four rows at once (gemv) and one (vec_dot) with the same code.
template <Rows One, Rows Four>
void add_rows(Table& table, GgmlType type) {
  table.set_dot(type, dot_from_rows<One>);
  table.set_gemv(type, gemv_in_groups<Four, 4, One>);
}

// Float rows keep the AVX2 kernels: they are memory-bound and the 512-bit ones measured
// slower on Zen 4. The one-token kernels of Q4_0, Q5_0, Q5_1, IQ4_NL and IQ4_XS are in
// gemv_avx512_impl.hpp.
void add_avx512_kernels(Table& table) {
  add_rows<avx512_lane_rows<Q8_0Levels, 1>, avx512_lane_rows<Q8_0Levels, 4>>(table, GgmlType::Q8_0);
  table.set_dot(GgmlType::Q4_0, q4_0_chain_stream_dot, DotOrder::Interleaved8);
  table.set_gemv(GgmlType::Q4_0, q4_0_chain_stream_gemv, DotOrder::Interleaved8);
  add_rows<avx512_k4_rows<false, BlockQ4_K, 1>, avx512_k4_rows<false, BlockQ4_K, 4>>(table, GgmlType::Q4_K);
  table.set_dot(GgmlType::Q4_K, dot_from_rows<avx512_k4_chain_rows<1>>, DotOrder::Interleaved8);
  table.set_gemv(GgmlType::Q4_K, gemv_in_groups<avx512_k4_chain_rows<4>, 4, avx512_k4_chain_rows<1>>,
                 DotOrder::Interleaved8);
  add_rows<avx512_k4_rows<true, BlockQ5_K, 1>, avx512_k4_rows<true, BlockQ5_K, 4>>(table, GgmlType::Q5_K);
  table.set_dot(GgmlType::Q6_K, avx512_dot_q6_k);
  table.set_gemv(GgmlType::Q6_K, avx512_q6_k_gemv);
}

}  // namespace
}  // namespace bantam::quant::kernels
