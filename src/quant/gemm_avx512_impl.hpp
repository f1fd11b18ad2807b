// AVX-512 multi-token (gemm) kernels, included right after kernels_avx512_impl.hpp by both
// AVX-512 levels. A tile of R rows x T tokens unpacks each weight block once for its T tokens
// and prepares each token's activations once for its R rows. Every (row, token) pair runs the
// same operations in the same order as the gemv kernels of kernels_avx512_impl.hpp, so results
// equal gemv's bit for bit. Internal to src/quant.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "quant/blocks.hpp"
#include "quant/gemm_k4_rows16_avx512_impl.hpp"
#include "quant/gemm_lanes_avx512_impl.hpp"
#include "quant/kernels.hpp"

namespace bantam::quant::kernels {
namespace {

// The T token activation rows of a tile, `act_stride` bytes apart.
template <typename Block, int T>
inline void token_pointers(const void* acts, size_t act_stride, const Block* (&tokens)[T]) {
  for (int t = 0; t < T; ++t) {
    tokens[t] = reinterpret_cast<const Block*>(static_cast<const uint8_t*>(acts) + static_cast<size_t>(t) * act_stride);
  }
}

template <int R, int T>
inline void store_tile(const float (&result)[R][T], float* out, size_t out_stride) {
  for (int t = 0; t < T; ++t) {
    for (int r = 0; r < R; ++r) out[static_cast<size_t>(t) * out_stride + static_cast<size_t>(r)] = result[r][t];
  }
}

// Tile kernel signature: (n, weights, stride, acts, act_stride, out, out_stride).
// Q4_K/Q5_K: the rows' levels and int16 scales are unpacked once per super-block for T tokens.
template <bool kFiveBits, typename Block>
struct K4Tile {
  static constexpr int kRows = 2, kTokens = 4;
  template <int R, int T>
  static void run(int64_t n, const void* weights, size_t stride, const void* acts, size_t act_stride, float* out,
                  size_t out_stride) {
    const Block* w[R];
    row_pointers(weights, stride, w);
    const BlockQ8_K* a[T];
    token_pointers(acts, act_stride, a);
    __m256 acc[R][T];
    K4Mins<kFiveBits> mins_total[R][T];
    for (int r = 0; r < R; ++r) {
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
    }
    for (int64_t i = 0; i < n / kQK_K; ++i) {
      __m512i levels[R][4], scale16[R][4];
      uint8_t mins[R][8];
      for (int r = 0; r < R; ++r) {
        const Block& b = w[r][i];
        uint8_t scales[8];
        k4_unpack(b.scales, scales, mins[r]);
        for (int c = 0; c < 4; ++c) {
          levels[r][c] = k4_levels<kFiveBits>(b, c);
          scale16[r][c] = half_scales(scales[2 * c], scales[2 * c + 1]);
        }
      }
      for (int t = 0; t < T; ++t) {
        const BlockQ8_K& at = a[t][i];
        const __m128i bsum_pairs = _mm_hadd_epi16(load128(at.bsums), load128(at.bsums + 8));
        for (int r = 0; r < R; ++r) {
          __m512i isum = _mm512_setzero_si512();
          for (int c = 0; c < 4; ++c) {
            isum = dot_s16(isum, _mm512_maddubs_epi16(levels[r][c], load512(at.qs + 64 * c)), scale16[r][c]);
          }
          const Block& b = w[r][i];
          acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(at.d * half(b.d)), _mm256_cvtepi32_ps(fold_lanes(isum)), acc[r][t]);
          mins_total[r][t].add(-at.d * half(b.dmin), k4_min_lanes(bsum_pairs, mins[r]));
        }
      }
    }
    float result[R][T];
    for (int r = 0; r < R; ++r) {
      for (int t = 0; t < T; ++t) result[r][t] = hsum8_ps(acc[r][t]) + mins_total[r][t].total();
    }
    store_tile(result, out, out_stride);
  }
};

// Q6_K: the rows' 6-bit levels and spread int16 scales are unpacked once per super-block, each
// token's offsets once for the rows.
struct Q6_KTile {
  static constexpr int kRows = 2, kTokens = 4;
  template <int R, int T>
  static void run(int64_t n, const void* weights, size_t stride, const void* acts, size_t act_stride, float* out,
                  size_t out_stride) {
    const BlockQ6_K* w[R];
    row_pointers(weights, stride, w);
    const BlockQ8_K* a[T];
    token_pointers(acts, act_stride, a);
    const Q6Unpacker unpacker;
    __m256 acc[R][T];
    for (int r = 0; r < R; ++r) {
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
    }
    for (int64_t i = 0; i < n / kQK_K; ++i) {
      __m512i levels[R][4], scales[R][4];
      for (int r = 0; r < R; ++r) unpacker.unpack(w[r][i], levels[r], scales[r]);
      for (int t = 0; t < T; ++t) {
        const BlockQ8_K& at = a[t][i];
        alignas(64) int16_t offsets[128];
        q6_k_offsets(at.qs, offsets);
        for (int r = 0; r < R; ++r) {
          const __m256i lanes = q6_k_lanes(levels[r], scales[r], at.qs, offsets);
          acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(at.d * half(w[r][i].d)), _mm256_cvtepi32_ps(lanes), acc[r][t]);
        }
      }
    }
    float result[R][T];
    for (int r = 0; r < R; ++r) {
      for (int t = 0; t < T; ++t) result[r][t] = hsum8_ps(acc[r][t]);
    }
    store_tile(result, out, out_stride);
  }
};

// Tokens [0, n_tokens) for the R rows at `weights`: full tiles, then one narrower tile.
template <typename Tile, int R>
void gemm_row_group(int64_t n, const uint8_t* weights, size_t stride, const uint8_t* acts, size_t act_stride,
                    int64_t n_tokens, float* out, size_t out_stride) {
  constexpr int T = Tile::kTokens;
  static_assert(T == 4, "the leftover dispatch below covers 1..3 tokens");
  int64_t t = 0;
  for (; t + T <= n_tokens; t += T) {
    Tile::template run<R, T>(n, weights, stride, acts + static_cast<size_t>(t) * act_stride, act_stride,
                             out + static_cast<size_t>(t) * out_stride, out_stride);
  }
  const uint8_t* a = acts + static_cast<size_t>(t) * act_stride;
  float* o = out + static_cast<size_t>(t) * out_stride;
  switch (n_tokens - t) {
    case 1: Tile::template run<R, 1>(n, weights, stride, a, act_stride, o, out_stride); break;
    case 2: Tile::template run<R, 2>(n, weights, stride, a, act_stride, o, out_stride); break;
    case 3: Tile::template run<R, 3>(n, weights, stride, a, act_stride, o, out_stride); break;
    default: break;
  }
}

// Tokens go in chunks whose activations stay in L2 while every row passes over them; within a
// chunk, rows go in groups of Tile::kRows (single rows for the rest).
template <typename Tile>
void gemm_in_tiles(int64_t n, const void* weights, size_t stride, int64_t rows, const void* activations,
                   size_t act_stride, int64_t n_tokens, float* out, size_t out_stride) {
  constexpr int R = Tile::kRows;
  const int64_t chunk = tokens_per_chunk(act_stride, Tile::kTokens, 256 * 1024);
  const auto* w = static_cast<const uint8_t*>(weights);
  const auto* acts = static_cast<const uint8_t*>(activations);
  for (int64_t t0 = 0; t0 < n_tokens; t0 += chunk) {
    const int64_t tokens = std::min(chunk, n_tokens - t0);
    const uint8_t* a = acts + static_cast<size_t>(t0) * act_stride;
    float* o = out + static_cast<size_t>(t0) * out_stride;
    int64_t r = 0;
    for (; r + R <= rows; r += R) {
      gemm_row_group<Tile, R>(n, w + static_cast<size_t>(r) * stride, stride, a, act_stride, tokens, o + r,
                              out_stride);
    }
    for (; r < rows; ++r) {
      gemm_row_group<Tile, 1>(n, w + static_cast<size_t>(r) * stride, stride, a, act_stride, tokens, o + r,
                              out_stride);
    }
  }
}

void add_avx512_gemm_kernels(Table& table) {
  table.set_gemm(GgmlType::Q8_0, lane_gemm<Q8_0Levels>);
  table.set_gemm(GgmlType::Q4_0, lane_gemm<Q4_0Levels>);
  table.set_gemm(GgmlType::Q5_0, lane_gemm<Q5_0Levels>);
  table.set_gemm(GgmlType::IQ4_NL, lane_gemm<IQ4_NLLevels>);
  table.set_gemm(GgmlType::Q4_0, q4_0_chain_gemm, DotOrder::Interleaved8);
  table.set_gemm(GgmlType::Q4_K, gemm_in_tiles<K4Tile<false, BlockQ4_K>>);
  table.set_gemm(GgmlType::Q4_K,
                 gemm_interleaved_k<k4_rows16_gemm, gemv_in_groups<avx512_k4_chain_rows<4>, 4, avx512_k4_chain_rows<1>>>,
                 DotOrder::Interleaved8);
  table.set_gemm(GgmlType::Q5_K, gemm_in_tiles<K4Tile<true, BlockQ5_K>>);
  table.set_gemm(GgmlType::Q6_K, gemm_in_tiles<Q6_KTile>);
}

}  // namespace
}  // namespace bantam::quant::kernels
