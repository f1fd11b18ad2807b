// Portable reference kernels for the K-quants (Q2_K..Q6_K) in llama.cpp's x86 summation orders
// (see DotOrder in dot.hpp). Integer sums are exact whatever the grouping; what these fix is which
// integer sums become float terms and in which order the terms are added. Every SIMD kernel for
// these types equals the functions here bit for bit.
#include <cmath>
#include <type_traits>

#include "quant/blocks.hpp"
#include "quant/kernels.hpp"
#include "quant/quant.hpp"

namespace bantam::quant::kernels {
namespace {

// One super-block unpacked: levels (signed for Q3_K/Q6_K, whose offsets are part of the level;
// unsigned for the types with mins), and a scale and a min per 16 elements (Q4_K/Q5_K repeat
// each 32-element sub-block's values twice).
struct Unpacked {
  int levels[kQK_K];
  int scales[16];
  int mins[16];
};

void unpack(const BlockQ2_K& b, Unpacked& u) {
  for (int e = 0; e < kQK_K; ++e) u.levels[e] = (b.qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3;
  for (int g = 0; g < 16; ++g) {
    u.scales[g] = b.scales[g] & 0xF;
    u.mins[g] = b.scales[g] >> 4;
  }
}

void unpack(const BlockQ3_K& b, Unpacked& u) {
  for (int e = 0; e < kQK_K; ++e) {
    const int low = (b.qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3;
    const int high = (b.hmask[e % 32] >> (e / 32)) & 1;
    u.levels[e] = low - (high ? 0 : 4);
  }
  int8_t scales[16];
  q3k_scales(b.scales, scales);
  for (int g = 0; g < 16; ++g) {
    u.scales[g] = scales[g];
    u.mins[g] = 0;
  }
}

template <typename Block>
void unpack_k4(const Block& b, Unpacked& u) {
  for (int e = 0; e < kQK_K; ++e) {
    const int j = e / 32;
    int level = (b.qs[32 * (j / 2) + e % 32] >> (4 * (j % 2))) & 0xF;
    if constexpr (std::is_same_v<Block, BlockQ5_K>) level |= ((b.qh[e % 32] >> j) & 1) << 4;
    u.levels[e] = level;
  }
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    k4_scale_min(j, b.scales, sc, m);
    u.scales[2 * j] = u.scales[2 * j + 1] = sc;
    u.mins[2 * j] = u.mins[2 * j + 1] = m;
  }
}
void unpack(const BlockQ4_K& b, Unpacked& u) { unpack_k4(b, u); }
void unpack(const BlockQ5_K& b, Unpacked& u) { unpack_k4(b, u); }

void unpack(const BlockQ6_K& b, Unpacked& u) {
  for (int e = 0; e < kQK_K; ++e) {
    const int h = e / 128, quarter = (e % 128) / 32, l = e % 32;
    const uint8_t ql = b.ql[64 * h + 32 * (quarter % 2) + l];
    const int low = quarter < 2 ? ql & 0xF : ql >> 4;
    const int high = (b.qh[32 * h + l] >> (2 * quarter)) & 3;
    u.levels[e] = (low | (high << 4)) - 32;
  }
  for (int g = 0; g < 16; ++g) {
    u.scales[g] = b.scales[g];
    u.mins[g] = 0;
  }
}

// sum over groups [g0, g1) of scale[g] * (levels . activations in group g).
int scaled_sum(const Unpacked& u, const BlockQ8_K& a, int g0, int g1) {
  int total = 0;
  for (int g = g0; g < g1; ++g) {
    int isum = 0;
    for (int e = 16 * g; e < 16 * g + 16; ++e) isum += u.levels[e] * a.qs[e];
    total += u.scales[g] * isum;
  }
  return total;
}

// sum over groups [g0, g1) of min[g] * bsums[g].
int min_sum(const Unpacked& u, const BlockQ8_K& a, int g0, int g1) {
  int total = 0;
  for (int g = g0; g < g1; ++g) total += u.mins[g] * a.bsums[g];
  return total;
}

// The eight integer lanes of ggml's AVX2 K-quant vec_dot: lane m holds elements 4m..4m+3 of every
// 32-element chunk, each times its group's scale.
void lane_sums(const Unpacked& u, const BlockQ8_K& a, int lanes[8]) {
  for (int m = 0; m < 8; ++m) {
    lanes[m] = 0;
    for (int c = 0; c < 8; ++c) {
      int isum = 0;
      for (int e = 32 * c + 4 * m; e < 32 * c + 4 * m + 4; ++e) isum += u.levels[e] * a.qs[e];
      lanes[m] += u.scales[2 * c + m / 4] * isum;
    }
  }
}

// DotOrder::VecDot (ggml's AVX2 vec_dot): per super-block, eight FMA lanes of d * lane sum, d =
// da * dw; lanes added as hsum8. The mins (da * dmin times min sums, subtracted) join as ggml does
// per type: Q2_K in the same eight lanes, before the scales (lane m: groups 2m, 2m+1); Q4_K in
// four lanes of their own (lane k: groups 4k..4k+3), added to the total as (0+2)+(1+3); Q5_K in
// one FMA chain, added to the total.
template <typename Block>
float dot_lanes(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const Block*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  constexpr bool kQ2 = std::is_same_v<Block, BlockQ2_K>, kQ4 = std::is_same_v<Block, BlockQ4_K>,
                 kQ5 = std::is_same_v<Block, BlockQ5_K>;
  float acc[8] = {}, acc_min[4] = {}, min_chain = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    Unpacked u;
    unpack(w[i], u);
    const float d = a[i].d * fp16_to_fp32(w[i].d);
    if constexpr (kQ2 || kQ4 || kQ5) {
      const float dmin = -a[i].d * fp16_to_fp32(w[i].dmin);
      if constexpr (kQ2) {
        for (int m = 0; m < 8; ++m) acc[m] = std::fma(dmin, static_cast<float>(min_sum(u, a[i], 2 * m, 2 * m + 2)), acc[m]);
      } else if constexpr (kQ4) {
        for (int k = 0; k < 4; ++k) {
          acc_min[k] = std::fma(dmin, static_cast<float>(min_sum(u, a[i], 4 * k, 4 * k + 4)), acc_min[k]);
        }
      } else {
        min_chain = std::fma(dmin, static_cast<float>(min_sum(u, a[i], 0, 16)), min_chain);
      }
    }
    int lanes[8];
    lane_sums(u, a[i], lanes);
    for (int m = 0; m < 8; ++m) acc[m] = std::fma(d, static_cast<float>(lanes[m]), acc[m]);
  }
  if constexpr (kQ4) return hsum8(acc) + ((acc_min[0] + acc_min[2]) + (acc_min[1] + acc_min[3]));
  return hsum8(acc) + min_chain;
}

// DotOrder::Interleaved8 (llama.cpp's repacked Q2_K/Q4_K): per row two FMA chains, one of the
// scaled sums times dw * da and one of the min sums times dmin * da; the result is their
// difference. Its gemv adds one term per super-block; its gemm one per step of kStepGroups groups
// of 16 (Q4_K: 64 elements, Q2_K: 128).
template <typename Block>
constexpr int kStepGroups = std::is_same_v<Block, BlockQ4_K> ? 4 : 8;

template <typename Block, int kGroups>
float dot_chains(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const Block*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  float sums = 0, mins = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    Unpacked u;
    unpack(w[i], u);
    const float d = fp16_to_fp32(w[i].d) * a[i].d, dmin = fp16_to_fp32(w[i].dmin) * a[i].d;
    for (int g = 0; g < 16; g += kGroups) {
      sums = std::fma(static_cast<float>(scaled_sum(u, a[i], g, g + kGroups)), d, sums);
      mins = std::fma(static_cast<float>(min_sum(u, a[i], g, g + kGroups)), dmin, mins);
    }
  }
  return sums - mins;
}

template <typename Block>
float dot_chain_gemv(int64_t n, const void* weights, const void* activations) {
  return dot_chains<Block, 16>(n, weights, activations);
}


template <typename Block>
void add_interleaved(Table& table, GgmlType type) {
  add_row_kernel<dot_chain_gemv<Block>>(table, type, DotOrder::Interleaved8);
  table.set_gemm(type, gemm_interleaved_k<gemm_by_dots<dot_chains<Block, kStepGroups<Block>>>, gemv_by_rows<dot_chain_gemv<Block>>>,
                 DotOrder::Interleaved8);
}

}  // namespace

void add_scalar_kquants(Table& table) {
  add_row_kernel<dot_lanes<BlockQ2_K>>(table, GgmlType::Q2_K);
  add_row_kernel<dot_lanes<BlockQ3_K>>(table, GgmlType::Q3_K);
  add_row_kernel<dot_lanes<BlockQ4_K>>(table, GgmlType::Q4_K);
  add_row_kernel<dot_lanes<BlockQ5_K>>(table, GgmlType::Q5_K);
  add_row_kernel<dot_lanes<BlockQ6_K>>(table, GgmlType::Q6_K);
  add_interleaved<BlockQ2_K>(table, GgmlType::Q2_K);
  add_interleaved<BlockQ4_K>(table, GgmlType::Q4_K);
}

}  // namespace bantam::quant::kernels
