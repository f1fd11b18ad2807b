// AVX-512 multi-token kernel in ggml's eight-lane order (Q8_0, Q4_0, Q5_0, IQ4_NL weights against
// Q8_0 activations): every (row, token) is eight float lanes, lane l an FMA chain over the blocks
// of (integer sum of elements 4l..4l+3) x (dw * da), then hsum8, exactly as avx512_lane_rows
// computes one token. Two tokens share a vector (token 2p in lanes 0..7, 2p+1 in lanes 8..15).
// Work that does not depend on the (row, token) pair is hoisted out of the tile: activations are
// prepared once per chunk of tokens (a pair's quants side by side, scales as floats) and weight
// scales once per group of rows, so the tile loop is loads, vpdpbusd, convert, multiply, FMA.
// Included by gemm_avx512_impl.hpp. Internal to src/quant.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "quant/blocks.hpp"
#include "quant/kernels.hpp"

namespace bantam::quant::kernels {
namespace {

// A chunk of tokens' activations, two tokens per entry, interleaved by dword: lane 2l holds
// quants 4l..4l+3 of token 2p, lane 2l+1 the same of token 2p+1, so a row's block duplicated
// dword by dword meets both in one vpdpbusd and the pair's scales (x, y) repeat across the lanes.
struct alignas(64) PairQuants {
  int8_t q[64];  // zeros past the last token
};
struct LanePairs {
  int64_t n_pairs = 0;
  std::vector<PairQuants> quants;  // [pair][block]
  std::vector<float> scales;       // [block][pair][2]: the tokens' block scales (0 past the last token)
};

inline __m512i interleave_dwords(__m256i even, __m256i odd) {
  const __m512i index = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  return _mm512_permutex2var_epi32(_mm512_castsi256_si512(even), index, _mm512_castsi256_si512(odd));
}

void prepare_pairs(const uint8_t* acts, size_t act_stride, int64_t n_tokens, int64_t blocks, LanePairs& pairs) {
  const int64_t n_pairs = (n_tokens + 1) / 2;
  pairs.n_pairs = n_pairs;
  pairs.quants.resize(static_cast<size_t>(n_pairs * blocks));
  pairs.scales.resize(static_cast<size_t>(2 * n_pairs * blocks));
  for (int64_t p = 0; p < n_pairs; ++p) {
    const auto* lo = reinterpret_cast<const BlockQ8_0*>(acts + static_cast<size_t>(2 * p) * act_stride);
    const bool has_hi = 2 * p + 1 < n_tokens;
    const auto* hi = has_hi ? reinterpret_cast<const BlockQ8_0*>(acts + static_cast<size_t>(2 * p + 1) * act_stride) : lo;
    for (int64_t i = 0; i < blocks; ++i) {
      _mm512_store_si512(pairs.quants[static_cast<size_t>(p * blocks + i)].q,
                         interleave_dwords(load256(lo[i].qs), has_hi ? load256(hi[i].qs) : _mm256_setzero_si256()));
      const size_t at = static_cast<size_t>(2 * (i * n_pairs + p));
      pairs.scales[at] = half(lo[i].d);
      pairs.scales[at + 1] = has_hi ? half(hi[i].d) : 0.0f;
    }
  }
}

// R rows x P token pairs over all blocks. dw: [block][R] the rows' scales. Writes
// out[t * out_stride + r] for t < tokens.
template <typename Levels, int R, int P>
void lane_pair_tile(int64_t blocks, const typename Levels::Block* const (&w)[R], const float* dw,
                    const LanePairs& pairs, int64_t p0, int64_t tokens, float* out, size_t out_stride) {
  __m512 acc[R][P];
  for (int r = 0; r < R; ++r) {
    for (int p = 0; p < P; ++p) acc[r][p] = _mm512_setzero_ps();
  }
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i duplicate = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  const __mmask8 pair_scales = static_cast<__mmask8>((1u << (2 * P)) - 1);
  for (int64_t i = 0; i < blocks; ++i) {
    __m512i wq[R];
    for (int r = 0; r < R; ++r) {
      wq[r] = _mm512_permutexvar_epi32(duplicate, _mm512_castsi256_si512(Levels::get(w[r][i])));
      // VNNI multiplies unsigned by signed bytes: w + 128, and 128 * sum(a) taken off below.
      if constexpr (kVnni) wq[r] = _mm512_xor_si512(wq[r], bias);
    }
    // dw * da for every (row, token) of the tile with one multiply per row; each pair's two
    // products are then broadcast to the lanes as one 64-bit element.
    const __m256 da = _mm256_maskz_loadu_ps(pair_scales, &pairs.scales[static_cast<size_t>(2 * (i * pairs.n_pairs + p0))]);
    alignas(32) float products[R][8];
    for (int r = 0; r < R; ++r) _mm256_store_ps(products[r], _mm256_mul_ps(_mm256_set1_ps(dw[i * R + r]), da));
    for (int p = 0; p < P; ++p) {
      const __m512i act = _mm512_load_si512(pairs.quants[static_cast<size_t>((p0 + p) * blocks + i)].q);
      __m512i start = _mm512_setzero_si512();
      if constexpr (kVnni) start = _mm512_sub_epi32(start, _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, act));
      for (int r = 0; r < R; ++r) {
        const __m512i isum = kVnni ? _mm512_dpbusd_epi32(start, wq[r], act) : dot_s8s8(start, wq[r], act);
        double both;
        std::memcpy(&both, &products[r][2 * p], sizeof(both));
        acc[r][p] = _mm512_fmadd_ps(_mm512_castpd_ps(_mm512_set1_pd(both)), _mm512_cvtepi32_ps(isum), acc[r][p]);
      }
    }
  }
  // Even lanes to the low half, odd ones to the high half, then each token's eight lanes as hsum8.
  const __m512i halves = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  float result[R][2 * P];
  for (int r = 0; r < R; ++r) {
    for (int p = 0; p < P; ++p) {
      hsum8_halves(_mm512_permutexvar_ps(halves, acc[r][p]), result[r][2 * p], result[r][2 * p + 1]);
    }
  }
  for (int64_t t = 0; t < tokens; ++t) {
    for (int r = 0; r < R; ++r) out[static_cast<size_t>(t) * out_stride + static_cast<size_t>(r)] = result[r][t];
  }
}

// Tokens [0, n_tokens) of a prepared chunk for the R rows at w: tiles of four pairs, then one
// narrower tile.
template <typename Levels, int R>
void lane_row_group(int64_t blocks, const typename Levels::Block* const (&w)[R], const float* dw,
                    const LanePairs& pairs, int64_t n_tokens, float* out, size_t out_stride) {
  constexpr int kPairs = 4;
  const int64_t n_pairs = (n_tokens + 1) / 2;
  for (int64_t p0 = 0; p0 < n_pairs; p0 += kPairs) {
    const int64_t tokens = std::min<int64_t>(2 * kPairs, n_tokens - 2 * p0);
    float* o = out + static_cast<size_t>(2 * p0) * out_stride;
    switch (std::min<int64_t>(kPairs, n_pairs - p0)) {
      case 1: lane_pair_tile<Levels, R, 1>(blocks, w, dw, pairs, p0, tokens, o, out_stride); break;
      case 2: lane_pair_tile<Levels, R, 2>(blocks, w, dw, pairs, p0, tokens, o, out_stride); break;
      case 3: lane_pair_tile<Levels, R, 3>(blocks, w, dw, pairs, p0, tokens, o, out_stride); break;
      default: lane_pair_tile<Levels, R, 4>(blocks, w, dw, pairs, p0, tokens, o, out_stride); break;
    }
  }
}

template <typename Levels, int R>
void lane_rows(int64_t blocks, const uint8_t* weights, size_t stride, const LanePairs& pairs, int64_t n_tokens,
               std::vector<float>& dw, float* out, size_t out_stride) {
  const typename Levels::Block* w[R];
  row_pointers(weights, stride, w);
  dw.resize(static_cast<size_t>(blocks * R));
  for (int64_t i = 0; i < blocks; ++i) {
    for (int r = 0; r < R; ++r) dw[static_cast<size_t>(i * R + r)] = half(w[r][i].d);
  }
  lane_row_group<Levels, R>(blocks, w, dw.data(), pairs, n_tokens, out, out_stride);
}

// Tokens go in chunks whose prepared activations stay in L2 while every row passes over them;
// within a chunk, rows go in groups of four (single rows for the rest).
template <typename Levels>
void lane_gemm(int64_t n, const void* weights, size_t stride, int64_t rows, const void* activations,
               size_t act_stride, int64_t n_tokens, float* out, size_t out_stride) {
  constexpr int R = 4;
  const int64_t blocks = n / kQK;
  const int64_t chunk = tokens_per_chunk(static_cast<size_t>(blocks) * (sizeof(PairQuants) / 2 + sizeof(float)), 8);
  thread_local LanePairs pairs;
  thread_local std::vector<float> dw;
  const auto* w = static_cast<const uint8_t*>(weights);
  const auto* acts = static_cast<const uint8_t*>(activations);
  for (int64_t t0 = 0; t0 < n_tokens; t0 += chunk) {
    const int64_t tokens = std::min(chunk, n_tokens - t0);
    prepare_pairs(acts + static_cast<size_t>(t0) * act_stride, act_stride, tokens, blocks, pairs);
    float* o = out + static_cast<size_t>(t0) * out_stride;
    int64_t r = 0;
    for (; r + R <= rows; r += R) {
      lane_rows<Levels, R>(blocks, w + static_cast<size_t>(r) * stride, stride, pairs, tokens, dw, o + r, out_stride);
    }
    for (; r < rows; ++r) {
      lane_rows<Levels, 1>(blocks, w + static_cast<size_t>(r) * stride, stride, pairs, tokens, dw, o + r, out_stride);
    }
  }
}

}  // namespace
}  // namespace bantam::quant::kernels
