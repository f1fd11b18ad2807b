// AVX-512 Q4_K gemm in llama.cpp's repacked order (DotOrder::Interleaved8, whole groups of four
// tokens): every (row, token) keeps two FMA chains, the scaled sums times dw * da and the min sums
// times dmin * da, with one term per 64 elements, and returns their difference. Sixteen rows run
// in the sixteen lanes, so each chain step is one vector FMA for sixteen rows: a row group's
// quants are transposed once per chunk of tokens (dword j of every row in one vector), and each
// activation dword is broadcast to all rows. The integer sums are exact, so every (row, token)
// gets the same chains as the scalar kernel. Included by gemm_avx512_impl.hpp. Internal to
// src/quant.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "quant/blocks.hpp"
#include "quant/kernels.hpp"

namespace bantam::quant::kernels {
namespace {

// One 64-element step of a super-block for sixteen rows (lane r: row r).
struct alignas(64) K4Rows16Step {
  int32_t low[8][16];     // [j][r]: quants 4j..4j+3 of the step's first 32 elements
  int32_t high[8][16];    // the same of its second 32 elements
  int32_t scales[2][16];  // the two sub-blocks' scales
  int32_t min_pairs[16];  // the two sub-blocks' mins as int16 (first in the low half)
};

struct alignas(64) K4Rows16Block {
  K4Rows16Step steps[4];
  float d[16], dmin[16];
};

// A token's per-block terms: its scale and, per step, the sums of the step's two sub-blocks of
// activations as int16 (first in the low half), to meet min_pairs in one vpmaddwd.
struct K4TokenBlock {
  float d;
  int32_t bsum_pairs[4];
};

void unpack_k4_rows16(const BlockQ4_K* const (&w)[16], int64_t blocks, K4Rows16Block* out) {
  for (int64_t i = 0; i < blocks; ++i) {
    K4Rows16Block& b = out[i];
    for (int r = 0; r < 16; ++r) {
      const BlockQ4_K& row = w[r][i];
      uint8_t scales[8], mins[8];
      k4_unpack(row.scales, scales, mins);
      b.d[r] = half(row.d);
      b.dmin[r] = half(row.dmin);
      for (int c = 0; c < 4; ++c) {
        K4Rows16Step& step = b.steps[c];
        for (int j = 0; j < 8; ++j) {
          uint32_t q;
          std::memcpy(&q, row.qs + 32 * c + 4 * j, 4);
          step.low[j][r] = static_cast<int32_t>(q & 0x0F0F0F0Fu);
          step.high[j][r] = static_cast<int32_t>((q >> 4) & 0x0F0F0F0Fu);
        }
        step.scales[0][r] = scales[2 * c];
        step.scales[1][r] = scales[2 * c + 1];
        step.min_pairs[r] = static_cast<int32_t>(mins[2 * c] | (static_cast<uint32_t>(mins[2 * c + 1]) << 16));
      }
    }
  }
}

void prepare_k4_tokens(const uint8_t* acts, size_t act_stride, int64_t n_tokens, int64_t blocks, K4TokenBlock* out) {
  for (int64_t t = 0; t < n_tokens; ++t) {
    const auto* a = reinterpret_cast<const BlockQ8_K*>(acts + static_cast<size_t>(t) * act_stride);
    for (int64_t i = 0; i < blocks; ++i) {
      K4TokenBlock& p = out[t * blocks + i];
      p.d = a[i].d;
      for (int c = 0; c < 4; ++c) {
        const int16_t* s = a[i].bsums + 4 * c;
        const auto first = static_cast<uint16_t>(s[0] + s[1]), second = static_cast<uint16_t>(s[2] + s[3]);
        p.bsum_pairs[c] = static_cast<int32_t>(first | (static_cast<uint32_t>(second) << 16));
      }
    }
  }
}

inline __m512i load_lanes(const int32_t* p) { return _mm512_load_si512(p); }

// T tokens (activation blocks a[t], prepared terms prep[t * blocks + i]) against the unpacked
// sixteen rows; out[t * out_stride + r] for the first `count` rows.
template <int T>
void k4_rows16_tile(int64_t blocks, const K4Rows16Block* rows, const BlockQ8_K* const* a, const K4TokenBlock* prep,
                    int count, float* out, size_t out_stride) {
  __m512 sums[T], mins[T];
  for (int t = 0; t < T; ++t) sums[t] = mins[t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < blocks; ++i) {
    const K4Rows16Block& b = rows[i];
    __m512 d[T], dmin[T];
    for (int t = 0; t < T; ++t) {
      const __m512 da = _mm512_set1_ps(prep[t * blocks + i].d);
      d[t] = _mm512_mul_ps(_mm512_load_ps(b.d), da);
      dmin[t] = _mm512_mul_ps(_mm512_load_ps(b.dmin), da);
    }
    for (int c = 0; c < 4; ++c) {
      const K4Rows16Step& step = b.steps[c];
      __m512i first[T], second[T];
      for (int t = 0; t < T; ++t) first[t] = second[t] = _mm512_setzero_si512();
      for (int j = 0; j < 8; ++j) {
        const __m512i low = load_lanes(step.low[j]), high = load_lanes(step.high[j]);
        for (int t = 0; t < T; ++t) {
          first[t] = dot_u8s8(first[t], low, broadcast_dword(a[t][i].qs + 64 * c + 4 * j));
          second[t] = dot_u8s8(second[t], high, broadcast_dword(a[t][i].qs + 64 * c + 32 + 4 * j));
        }
      }
      const __m512i scale_first = load_lanes(step.scales[0]), scale_second = load_lanes(step.scales[1]);
      const __m512i min_pairs = load_lanes(step.min_pairs);
      for (int t = 0; t < T; ++t) {
        const __m512i scaled =
            _mm512_add_epi32(_mm512_mullo_epi32(first[t], scale_first), _mm512_mullo_epi32(second[t], scale_second));
        const __m512i min_sum = _mm512_madd_epi16(min_pairs, _mm512_set1_epi32(prep[t * blocks + i].bsum_pairs[c]));
        sums[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(scaled), d[t], sums[t]);
        mins[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(min_sum), dmin[t], mins[t]);
      }
    }
  }
  const __mmask16 valid = static_cast<__mmask16>((1u << count) - 1);
  for (int t = 0; t < T; ++t) {
    _mm512_mask_storeu_ps(out + static_cast<size_t>(t) * out_stride, valid, _mm512_sub_ps(sums[t], mins[t]));
  }
}

// Tokens go in chunks whose activations stay in L2; within a chunk each group of sixteen rows is
// unpacked once and met by every token, four at a time.
void k4_rows16_gemm(int64_t n, const void* weights, size_t stride, int64_t rows, const void* activations,
                    size_t act_stride, int64_t n_tokens, float* out, size_t out_stride) {
  const int64_t blocks = n / kQK_K;
  const int64_t chunk = tokens_per_chunk(act_stride, 4);
  thread_local std::vector<K4Rows16Block> unpacked;
  thread_local std::vector<K4TokenBlock> prepared;
  unpacked.resize(static_cast<size_t>(blocks));
  prepared.resize(static_cast<size_t>(std::min(chunk, n_tokens) * blocks));
  const auto* base = static_cast<const uint8_t*>(weights);
  const auto* acts = static_cast<const uint8_t*>(activations);
  for (int64_t t0 = 0; t0 < n_tokens; t0 += chunk) {
    const int64_t tokens = std::min(chunk, n_tokens - t0);
    const uint8_t* chunk_acts = acts + static_cast<size_t>(t0) * act_stride;
    prepare_k4_tokens(chunk_acts, act_stride, tokens, blocks, prepared.data());
    for (int64_t r0 = 0; r0 < rows; r0 += 16) {
      const int count = static_cast<int>(std::min<int64_t>(16, rows - r0));
      const BlockQ4_K* w[16];
      group_rows(base, stride, r0, count, w);
      unpack_k4_rows16(w, blocks, unpacked.data());
      for (int64_t t = 0; t < tokens; t += 4) {
        const BlockQ8_K* a[4];
        for (int k = 0; k < 4; ++k) {
          a[k] = reinterpret_cast<const BlockQ8_K*>(chunk_acts + static_cast<size_t>(std::min(t + k, tokens - 1)) * act_stride);
        }
        const K4TokenBlock* p = prepared.data() + t * blocks;
        float* o = out + static_cast<size_t>(t0 + t) * out_stride + static_cast<size_t>(r0);
        switch (std::min<int64_t>(4, tokens - t)) {
          case 1: k4_rows16_tile<1>(blocks, unpacked.data(), a, p, count, o, out_stride); break;
          case 2: k4_rows16_tile<2>(blocks, unpacked.data(), a, p, count, o, out_stride); break;
          case 3: k4_rows16_tile<3>(blocks, unpacked.data(), a, p, count, o, out_stride); break;
          default: k4_rows16_tile<4>(blocks, unpacked.data(), a, p, count, o, out_stride); break;
        }
      }
    }
  }
}

}  // namespace
}  // namespace bantam::quant::kernels
