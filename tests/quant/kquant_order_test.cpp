// K-quant dot products in llama.cpp's summation orders (see DotOrder in quant/dot.hpp), and IQ4_XS
// in its own (one FMA chain of super-block integer dots), written here a second time from the
// block layouts: every ISA level that follows llama.cpp's x86 orders (follows_llama_cpp_orders)
// must give exactly these floats in vec_dot, gemv and gemm, since the next layer's activations are rounded to 8 bits and one ulp can
// change a token.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "quant/dot.hpp"
#include "quant_test_util.hpp"

namespace bantam::quant {
namespace {

using test::activations;
using test::weight_row;

class KQuantOrderTest : public ::testing::Test {
 protected:
  void TearDown() override { set_isa_for_testing(available_isas().back()); }
};

uint16_t u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// One super-block: levels (with Q3_K's and Q6_K's offsets), a scale and a min per 16 elements.
struct Decoded {
  int level[256];
  int scale[16];
  int min[16] = {};
  float d = 0, dmin = 0;
};

// Q4_K/Q5_K's 6-bit scale (which 0) or min (which 1) of sub-block j.
int k4_field(const uint8_t* s, int j, int which) {
  if (j < 4) return s[j + 4 * which] & 63;
  return which == 0 ? (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4) : (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
}

Decoded decode(GgmlType type, const uint8_t* b) {
  Decoded x;
  const auto two_bits = [&](const uint8_t* qs, int e) { return (qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3; };
  switch (type) {
    case GgmlType::Q2_K:  // scales[16], qs[64], d, dmin
      for (int e = 0; e < 256; ++e) x.level[e] = two_bits(b + 16, e);
      for (int g = 0; g < 16; ++g) {
        x.scale[g] = b[g] & 0xF;
        x.min[g] = b[g] >> 4;
      }
      x.d = fp16_to_fp32(u16(b + 80));
      x.dmin = fp16_to_fp32(u16(b + 82));
      break;
    case GgmlType::Q3_K:  // hmask[32], qs[64], scales[12], d
      for (int e = 0; e < 256; ++e) x.level[e] = two_bits(b + 32, e) - ((b[e % 32] >> (e / 32)) & 1 ? 0 : 4);
      for (int g = 0; g < 16; ++g) {
        const uint8_t* s = b + 96;
        const int low = g < 8 ? s[g] & 0xF : s[g - 8] >> 4;
        x.scale[g] = (low | (((s[8 + g % 4] >> (2 * (g / 4))) & 3) << 4)) - 32;
      }
      x.d = fp16_to_fp32(u16(b + 108));
      break;
    case GgmlType::Q4_K:
    case GgmlType::Q5_K: {  // d, dmin, scales[12], (qh[32]), qs[128]
      const bool five = type == GgmlType::Q5_K;
      const uint8_t* qs = b + (five ? 48 : 16);
      for (int e = 0; e < 256; ++e) {
        const int j = e / 32;
        x.level[e] = ((qs[32 * (j / 2) + e % 32] >> (4 * (j % 2))) & 0xF) | (five ? ((b[16 + e % 32] >> j) & 1) << 4 : 0);
      }
      for (int g = 0; g < 16; ++g) {
        x.scale[g] = k4_field(b + 4, g / 2, 0);
        x.min[g] = k4_field(b + 4, g / 2, 1);
      }
      x.d = fp16_to_fp32(u16(b));
      x.dmin = fp16_to_fp32(u16(b + 2));
      break;
    }
    case GgmlType::IQ4_XS: {  // d, scales_h, scales_l[4], qs[128]: non-uniform levels, 6-bit scales
      constexpr int kValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
      for (int e = 0; e < 256; ++e) {
        const int ib = e / 32, j = e % 32;
        x.level[e] = kValues[(b[8 + 16 * ib + j % 16] >> (j < 16 ? 0 : 4)) & 0xF];
      }
      for (int g = 0; g < 16; ++g) {
        const int ib = g / 2;
        x.scale[g] = (((b[4 + ib / 2] >> (4 * (ib % 2))) & 0xF) | (((u16(b + 2) >> (2 * ib)) & 3) << 4)) - 32;
      }
      x.d = fp16_to_fp32(u16(b));
      break;
    }
    default:  // Q6_K: ql[128], qh[64], scales[16], d
      for (int e = 0; e < 256; ++e) {
        const int h = e / 128, quarter = (e % 128) / 32, l = e % 32;
        const uint8_t ql = b[64 * h + 32 * (quarter % 2) + l];
        x.level[e] = ((quarter < 2 ? ql & 0xF : ql >> 4) | (((b[128 + 32 * h + l] >> (2 * quarter)) & 3) << 4)) - 32;
      }
      for (int g = 0; g < 16; ++g) x.scale[g] = static_cast<int8_t>(b[192 + g]);
      x.d = fp16_to_fp32(u16(b + 208));
  }
  return x;
}

// Q8_K: float d, int8 qs[256], int16 bsums[16].
struct Activation {
  float d;
  const int8_t* qs;
  int16_t bsums[16];
};

Activation activation(const uint8_t* p) {
  Activation a;
  std::memcpy(&a.d, p, 4);
  a.qs = reinterpret_cast<const int8_t*>(p + 4);
  std::memcpy(a.bsums, p + 260, 32);
  return a;
}

int scaled(const Decoded& x, const Activation& a, int g0, int g1) {
  int total = 0;
  for (int g = g0; g < g1; ++g) {
    int sum = 0;
    for (int e = 16 * g; e < 16 * g + 16; ++e) sum += x.level[e] * a.qs[e];
    total += x.scale[g] * sum;
  }
  return total;
}

int mins(const Decoded& x, const Activation& a, int g0, int g1) {
  int total = 0;
  for (int g = g0; g < g1; ++g) total += x.min[g] * a.bsums[g];
  return total;
}

float hsum8(const float* v) { return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7])); }

// ggml's AVX2 vec_dot (DotOrder::VecDot).
float vecdot_order(GgmlType type, int64_t n, const uint8_t* w, const uint8_t* act) {
  const size_t wb = row_bytes(type, 256);
  float lanes[8] = {}, min_lanes[4] = {}, min_chain = 0;
  for (int64_t i = 0; i < n / 256; ++i) {
    const Decoded x = decode(type, w + static_cast<size_t>(i) * wb);
    const Activation a = activation(act + static_cast<size_t>(i) * 292);
    const float d = a.d * x.d, dmin = -a.d * x.dmin;
    if (type == GgmlType::Q2_K) {
      for (int m = 0; m < 8; ++m) lanes[m] = std::fma(dmin, static_cast<float>(mins(x, a, 2 * m, 2 * m + 2)), lanes[m]);
    }
    if (type == GgmlType::Q4_K) {
      for (int k = 0; k < 4; ++k) {
        min_lanes[k] = std::fma(dmin, static_cast<float>(mins(x, a, 4 * k, 4 * k + 4)), min_lanes[k]);
      }
    }
    if (type == GgmlType::Q5_K) min_chain = std::fma(dmin, static_cast<float>(mins(x, a, 0, 16)), min_chain);
    for (int m = 0; m < 8; ++m) {
      int sum = 0;
      for (int c = 0; c < 8; ++c) {
        int part = 0;
        for (int e = 32 * c + 4 * m; e < 32 * c + 4 * m + 4; ++e) part += x.level[e] * a.qs[e];
        sum += x.scale[2 * c + m / 4] * part;
      }
      lanes[m] = std::fma(d, static_cast<float>(sum), lanes[m]);
    }
  }
  if (type == GgmlType::Q4_K) return hsum8(lanes) + ((min_lanes[0] + min_lanes[2]) + (min_lanes[1] + min_lanes[3]));
  return hsum8(lanes) + min_chain;
}

// llama.cpp's repacked Q4_K/Q2_K (DotOrder::Interleaved8): one term per `groups` groups of 16.
float chain_order(GgmlType type, int64_t n, const uint8_t* w, const uint8_t* act, int groups) {
  const size_t wb = row_bytes(type, 256);
  float sums = 0, min_sums = 0;
  for (int64_t i = 0; i < n / 256; ++i) {
    const Decoded x = decode(type, w + static_cast<size_t>(i) * wb);
    const Activation a = activation(act + static_cast<size_t>(i) * 292);
    for (int g = 0; g < 16; g += groups) {
      sums = std::fma(static_cast<float>(scaled(x, a, g, g + groups)), x.d * a.d, sums);
      min_sums = std::fma(static_cast<float>(mins(x, a, g, g + groups)), x.dmin * a.d, min_sums);
    }
  }
  return sums - min_sums;
}

// What llama.cpp gives for (row, token t) of a batch of n_tokens: its gemm takes whole groups of
// four tokens (one chain term per 64 elements for Q4_K, 128 for Q2_K), its gemv the rest.
// IQ4_XS has an order of its own (no llama.cpp order to follow): one term per super-block.
float want(GgmlType type, DotOrder order, int64_t n, const uint8_t* w, const uint8_t* a, int64_t t, int64_t n_tokens) {
  if (type == GgmlType::IQ4_XS) return chain_order(type, n, w, a, 16);
  if (order == DotOrder::VecDot) return vecdot_order(type, n, w, a);
  const bool grouped = n_tokens > 3 && t < n_tokens - n_tokens % 4;
  return chain_order(type, n, w, a, grouped ? (type == GgmlType::Q4_K ? 4 : 8) : 16);
}

TEST_F(KQuantOrderTest, EveryIsaFollowsLlamaCppBitForBit) {
  struct Case {
    GgmlType type;
    DotOrder order;
  };
  const Case cases[] = {{GgmlType::Q2_K, DotOrder::VecDot},       {GgmlType::Q3_K, DotOrder::VecDot},
                        {GgmlType::Q4_K, DotOrder::VecDot},       {GgmlType::Q5_K, DotOrder::VecDot},
                        {GgmlType::Q6_K, DotOrder::VecDot},       {GgmlType::Q4_K, DotOrder::Interleaved8},
                        {GgmlType::Q2_K, DotOrder::Interleaved8}, {GgmlType::IQ4_XS, DotOrder::VecDot}};
  // 11 rows: groups of 4 and 2 plus leftovers; batches below four tokens, whole groups of four,
  // and groups plus a remainder.
  constexpr int64_t kRows = 11;
  for (const Case& c : cases) {
    for (int64_t n : {int64_t{256}, int64_t{256 * 3}, int64_t{256 * 7}}) {
      const size_t stride = row_bytes(c.type, n);
      std::vector<uint8_t> matrix;
      for (int64_t r = 0; r < kRows; ++r) {
        const auto row = weight_row(c.type, n, static_cast<uint32_t>(r) + 500, r % 3 != 0);
        matrix.insert(matrix.end(), row.begin(), row.end());
      }
      for (int64_t n_tokens : {int64_t{1}, int64_t{3}, int64_t{4}, int64_t{9}}) {
        std::vector<uint8_t> acts;
        for (int64_t t = 0; t < n_tokens; ++t) {
          const auto a = activations(c.type, n, static_cast<uint32_t>(t) + 900);
          acts.insert(acts.end(), a.begin(), a.end());
        }
        const size_t act_stride = acts.size() / static_cast<size_t>(n_tokens);
        for (Isa isa : available_isas()) {
          if (!follows_llama_cpp_orders(isa)) continue;  // the ARM levels: gemm_test, dot_test
          set_isa_for_testing(isa);
          const std::string where = std::string(isa_name(isa)) + " " + std::string(type_name(c.type)) +
                                    (c.order == DotOrder::Interleaved8 ? " interleaved8" : " vecdot") +
                                    " n=" + std::to_string(n) + " tokens=" + std::to_string(n_tokens);
          for (int64_t begin : {int64_t{0}, int64_t{3}}) {
            std::vector<float> out(static_cast<size_t>(kRows * n_tokens));
            gemm(c.type, n, matrix.data(), stride, begin, kRows, acts.data(), act_stride, n_tokens, out.data(),
                 kRows, c.order);
            for (int64_t t = 0; t < n_tokens; ++t) {
              const uint8_t* a = acts.data() + static_cast<size_t>(t) * act_stride;
              std::vector<float> row_out(kRows);
              gemv(c.type, n, matrix.data(), stride, begin, kRows, a, row_out.data(), c.order);
              for (int64_t r = begin; r < kRows; ++r) {
                const uint8_t* w = matrix.data() + static_cast<size_t>(r) * stride;
                const float one = want(c.type, c.order, n, w, a, 0, 1);
                ASSERT_EQ(vec_dot(c.type, n, w, a, c.order), one) << where << " vec_dot row " << r;
                ASSERT_EQ(row_out[r], one) << where << " gemv row " << r << " token " << t;
                ASSERT_EQ(out[t * kRows + r], want(c.type, c.order, n, w, a, t, n_tokens))
                    << where << " gemm row " << r << " token " << t;
              }
            }
          }
        }
      }
    }
  }
}

TEST_F(KQuantOrderTest, LongBatchesSpanSeveralCacheChunks) {
  // 4096-wide rows make a batch's activations big enough to be split into chunks; 131 tokens
  // are whole groups of four plus three; 21 rows fill one group of sixteen and part of another.
  constexpr int64_t n = 4096, kRows = 21, kTokens = 131;
  for (const auto& [type, order] : {std::pair{GgmlType::Q4_K, DotOrder::Interleaved8},
                                    std::pair{GgmlType::Q2_K, DotOrder::Interleaved8},
                                    std::pair{GgmlType::Q6_K, DotOrder::VecDot}}) {
    const size_t stride = row_bytes(type, n);
    std::vector<uint8_t> matrix, acts;
    for (int64_t r = 0; r < kRows; ++r) {
      const auto row = weight_row(type, n, static_cast<uint32_t>(r) + 70, true);
      matrix.insert(matrix.end(), row.begin(), row.end());
    }
    for (int64_t t = 0; t < kTokens; ++t) {
      const auto a = activations(type, n, static_cast<uint32_t>(t) + 300);
      acts.insert(acts.end(), a.begin(), a.end());
    }
    const size_t act_stride = acts.size() / kTokens;
    for (Isa isa : available_isas()) {
      if (!follows_llama_cpp_orders(isa)) continue;
      set_isa_for_testing(isa);
      std::vector<float> out(static_cast<size_t>(kRows * kTokens));
      gemm(type, n, matrix.data(), stride, 0, kRows, acts.data(), act_stride, kTokens, out.data(), kRows, order);
      for (int64_t t = 0; t < kTokens; ++t) {
        for (int64_t r = 0; r < kRows; ++r) {
          const uint8_t* w = matrix.data() + static_cast<size_t>(r) * stride;
          const uint8_t* a = acts.data() + static_cast<size_t>(t) * act_stride;
          ASSERT_EQ(out[t * kRows + r], want(type, order, n, w, a, t, kTokens))
              << isa_name(isa) << " " << type_name(type) << " row " << r << " token " << t;
        }
      }
    }
  }
}

TEST(KQuantOrders, FollowLlamaCppsRepacking) {
  EXPECT_EQ(dot_order(GgmlType::Q4_K, 896), DotOrder::Interleaved8);
  EXPECT_EQ(dot_order(GgmlType::Q2_K, 256), DotOrder::Interleaved8);
  EXPECT_EQ(dot_order(GgmlType::Q4_K, 172), DotOrder::VecDot);
  EXPECT_EQ(dot_order(GgmlType::Q2_K, 4), DotOrder::VecDot);
  for (GgmlType type : {GgmlType::Q3_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    EXPECT_EQ(dot_order(type, 896), DotOrder::VecDot) << type_name(type);
  }
}

// A block whose largest magnitude occurs with both signs, -10 first: the row quantizer maps the
// first extreme to -127 (d > 0), the repacked gemm's one +10 whenever it occurs (d < 0).
TEST(KQuantOrders, GroupedActivationsFavourThePositiveExtreme) {
  constexpr int64_t k = 256;
  for (int64_t n_tokens : {int64_t{3}, int64_t{6}}) {
    std::vector<float> x(static_cast<size_t>(k * n_tokens), 0.5f);
    for (int64_t t = 0; t < n_tokens; ++t) {
      x[static_cast<size_t>(t * k + 3)] = -10.0f;
      x[static_cast<size_t>(t * k + 200)] = 10.0f;
    }
    const size_t bytes = activation_bytes(GgmlType::Q8_K, k);
    for (DotOrder order : {DotOrder::VecDot, DotOrder::Interleaved8}) {
      std::vector<uint8_t> out(bytes * static_cast<size_t>(n_tokens));
      quantize_activation_rows(GgmlType::Q4_K, order, x.data(), k, n_tokens, out.data());
      for (int64_t t = 0; t < n_tokens; ++t) {
        const Activation a = activation(out.data() + static_cast<size_t>(t) * bytes);
        const bool grouped = order == DotOrder::Interleaved8 && n_tokens > 3 && t < n_tokens - n_tokens % 4;
        const float extreme = grouped ? 10.0f : -10.0f;
        EXPECT_EQ(a.d, 1 / (-127.0f / extreme)) << "tokens " << n_tokens << " token " << t;
        EXPECT_EQ(a.qs[3], grouped ? 127 : -127);
        EXPECT_EQ(a.qs[200], grouped ? -127 : 127);
        EXPECT_EQ(a.bsums[0], grouped ? 127 - 15 * 6 : -127 + 15 * 6);  // 0.5 -> 6.35 rounds to 6
      }
    }
  }
}

}  // namespace
}  // namespace bantam::quant
