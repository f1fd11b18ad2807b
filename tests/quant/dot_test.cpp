// Dot products: every weight type at every ISA level this CPU has must equal the dot of the
// dequantized weights with the dequantized activations; activation rounding follows ggml.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bantam/error.hpp"
#include "quant/dot.hpp"
#include "quant/quant.hpp"
#include "quant_test_util.hpp"

namespace bantam::quant {
namespace {

using test::activations;
using test::gaussian;
using test::weight_row;

constexpr GgmlType kWeightTypes[] = {
    GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0, GgmlType::Q4_1,   GgmlType::Q5_0,
    GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K,   GgmlType::Q5_K,
    GgmlType::Q6_K, GgmlType::Q8_K, GgmlType::IQ4_NL, GgmlType::IQ4_XS};

// Restores the best ISA after each test that switches it.
class DotTest : public ::testing::Test {
 protected:
  void TearDown() override { set_isa_for_testing(available_isas().back()); }
};

struct Expected {
  double value = 0;
  double magnitude = 0;  // sum of |terms|, the scale of rounding differences
};

// Dot of the dequantized rows in double. For Q8_1 activations ggml uses the stored block sum s
// (fp16 of d * sum(qs)) for the weights' min term: that is reproduced here exactly.
Expected reference_dot(GgmlType type, int64_t n, const std::vector<uint8_t>& w, const std::vector<uint8_t>& act) {
  const GgmlType act_type = vec_dot_type(type);
  const auto wf = test::dequantize(type, w, n);
  const auto af = test::dequantize(act_type, act, n);
  Expected e;
  for (int64_t i = 0; i < n; ++i) {
    const double term = static_cast<double>(wf[i]) * af[i];
    e.value += term;
    e.magnitude += std::fabs(term);
  }
  if (act_type == GgmlType::Q8_1) {
    const size_t wblock = type_info(type).bytes_per_block;
    for (int64_t b = 0; b < n / 32; ++b) {
      uint16_t m, d, s;
      std::memcpy(&m, &w[static_cast<size_t>(b) * wblock + 2], 2);
      std::memcpy(&d, &act[static_cast<size_t>(b) * 36], 2);
      std::memcpy(&s, &act[static_cast<size_t>(b) * 36 + 2], 2);
      int sum = 0;
      for (int j = 0; j < 32; ++j) sum += static_cast<int8_t>(act[static_cast<size_t>(b) * 36 + 4 + j]);
      e.value += static_cast<double>(fp16_to_fp32(m)) * (fp16_to_fp32(s) - static_cast<double>(fp16_to_fp32(d)) * sum);
      e.magnitude += std::fabs(static_cast<double>(fp16_to_fp32(m)) * fp16_to_fp32(s));
    }
  }
  return e;
}

// Lengths: several blocks, an odd number of 32-blocks, and float tails. Long F16 rows whose
// length is not a multiple of 16 are summed in half precision where the level follows llama.cpp's
// x86 orders (tested on their own below).
std::vector<int64_t> lengths(GgmlType type, Isa isa) {
  if (type_info(type).block_size == 256) return {256, 256 * 5};
  if (type_info(type).block_size == 32) return {32, 32 * 37, 4096};
  if (type == GgmlType::F16 && follows_llama_cpp_orders(isa)) return {1, 7, 100, 1040};
  return {1, 7, 100, 1031, 1040};
}

TEST_F(DotTest, EveryTypeAtEveryIsaMatchesDequantizedDot) {
  for (Isa isa : available_isas()) {
    set_isa_for_testing(isa);
    for (GgmlType type : kWeightTypes) {
      ASSERT_TRUE(can_dot(type)) << type_name(type);
      for (int64_t n : lengths(type, isa)) {
        for (bool realistic : {false, true}) {
          const auto w = weight_row(type, n, static_cast<uint32_t>(n) * 31 + realistic, realistic);
          const auto a = activations(type, n, static_cast<uint32_t>(n) + 7);
          const Expected e = reference_dot(type, n, w, a);
          const float got = vec_dot(type, n, w.data(), a.data());
          EXPECT_NEAR(got, e.value, 1e-5 * e.magnitude + 1e-30)
              << isa_name(isa) << " " << type_name(type) << " n=" << n << (realistic ? " quantized" : " random");
        }
      }
    }
  }
}

// The signed levels of a 32-block: its dequantized values divided by its scale (exact, since
// each value is a small integer times an fp16 scale).
std::vector<int> block_levels(GgmlType type, const uint8_t* block) {
  const auto size = static_cast<size_t>(type_info(type).bytes_per_block);
  const auto values = test::dequantize(type, std::vector<uint8_t>(block, block + size), 32);
  uint16_t d;
  std::memcpy(&d, block, 2);
  std::vector<int> levels(32, 0);
  if (fp16_to_fp32(d) == 0.0f) return levels;
  for (int j = 0; j < 32; ++j) levels[j] = static_cast<int>(values[j] / fp16_to_fp32(d));
  return levels;
}

// llama.cpp's two float orders for 32-blocks with Q8_0 activations (see DotOrder in dot.hpp).
// VecDot: eight lanes, lane l an FMA chain over products 4l..4l+3 of each block, added as (l, l+4),
// then pairs. Interleaved8 (its repacked Q4_0): one FMA chain of block sums over the row. The
// activations are rounded to 8 bits afterwards, so one ulp off can change a token: every ISA must
// give exactly this float, for vec_dot, gemv and gemm alike.
float dot_in_llama_cpp_order(GgmlType type, DotOrder order, int64_t n, const uint8_t* w, const uint8_t* a) {
  const auto wblock = static_cast<size_t>(type_info(type).bytes_per_block);
  float lanes[8] = {};
  float chain = 0;
  for (int64_t b = 0; b < n / 32; ++b) {
    const uint8_t* wb = w + static_cast<size_t>(b) * wblock;
    const uint8_t* ab = a + static_cast<size_t>(b) * 34;
    const std::vector<int> levels = block_levels(type, wb);
    uint16_t dw, da;
    std::memcpy(&dw, wb, 2);
    std::memcpy(&da, ab, 2);
    const float d = fp16_to_fp32(dw) * fp16_to_fp32(da);
    int block_sum = 0;
    for (int l = 0; l < 8; ++l) {
      int sum = 0;
      for (int j = 4 * l; j < 4 * l + 4; ++j) sum += levels[j] * static_cast<int8_t>(ab[2 + j]);
      lanes[l] = std::fma(d, static_cast<float>(sum), lanes[l]);
      block_sum += sum;
    }
    chain = std::fma(static_cast<float>(block_sum), d, chain);
  }
  if (order == DotOrder::Interleaved8) return chain;
  const float h0 = lanes[0] + lanes[4], h1 = lanes[1] + lanes[5], h2 = lanes[2] + lanes[6], h3 = lanes[3] + lanes[7];
  return (h0 + h2) + (h1 + h3);
}

TEST_F(DotTest, LegacyBlocksFollowLlamaCppSummationOrdersBitForBit) {
  struct Case {
    GgmlType type;
    DotOrder order;
  };
  const Case cases[] = {{GgmlType::Q8_0, DotOrder::VecDot},   {GgmlType::Q4_0, DotOrder::VecDot},
                        {GgmlType::Q4_0, DotOrder::Interleaved8}, {GgmlType::Q5_0, DotOrder::VecDot},
                        {GgmlType::IQ4_NL, DotOrder::VecDot}};
  // 23 rows: a group of 16 plus a short one, groups of 4 plus a leftover; 11 tokens: a tile of 8
  // plus 3, tiles of 4 plus an odd one.
  constexpr int64_t kRows = 23, kTokens = 11;
  for (const Case& c : cases) {
    for (int64_t n : {int64_t{32}, int64_t{32 * 6}, int64_t{32 * 7}, int64_t{32 * 9}, int64_t{768}}) {
      const size_t stride = row_bytes(c.type, n);
      std::vector<uint8_t> matrix;
      for (int64_t r = 0; r < kRows; ++r) {
        const auto row = weight_row(c.type, n, static_cast<uint32_t>(r) + 40, r % 3 != 0);
        matrix.insert(matrix.end(), row.begin(), row.end());
      }
      std::vector<std::vector<uint8_t>> tokens;
      std::vector<uint8_t> acts;
      for (int64_t t = 0; t < kTokens; ++t) {
        tokens.push_back(activations(c.type, n, static_cast<uint32_t>(t) + 90));
        acts.insert(acts.end(), tokens.back().begin(), tokens.back().end());
      }
      for (Isa isa : available_isas()) {
        if (!follows_llama_cpp_orders(isa)) continue;  // the ARM levels have orders of their own
        set_isa_for_testing(isa);
        const std::string where = std::string(isa_name(isa)) + " " + std::string(type_name(c.type)) +
                                  (c.order == DotOrder::Interleaved8 ? " interleaved8" : " vecdot") +
                                  " n=" + std::to_string(n);
        for (int64_t begin : {int64_t{0}, int64_t{3}}) {
          std::vector<float> out(static_cast<size_t>(kRows * kTokens));
          gemm(c.type, n, matrix.data(), stride, begin, kRows, acts.data(), tokens[0].size(), kTokens, out.data(),
               kRows, c.order);
          for (int64_t t = 0; t < kTokens; ++t) {
            std::vector<float> row_out(kRows);
            gemv(c.type, n, matrix.data(), stride, begin, kRows, tokens[t].data(), row_out.data(), c.order);
            for (int64_t r = begin; r < kRows; ++r) {
              const uint8_t* w = matrix.data() + static_cast<size_t>(r) * stride;
              const float want = dot_in_llama_cpp_order(c.type, c.order, n, w, tokens[t].data());
              ASSERT_EQ(row_out[r], want) << where << " gemv row " << r << " token " << t;
              ASSERT_EQ(out[t * kRows + r], want) << where << " gemm row " << r << " token " << t;
              ASSERT_EQ(vec_dot(c.type, n, w, tokens[t].data(), c.order), want) << where << " vec_dot";
            }
          }
        }
      }
    }
  }
}

// Q5_1 at the SIMD levels: ggml's AVX2 order, eight lanes as above (levels 0..31 without an
// offset) plus one FMA chain of m * s over the blocks, added to the lanes' hsum8 at the end.
float q5_1_simd_order(int64_t n, const uint8_t* w, const uint8_t* a) {
  float lanes[8] = {}, mins = 0;
  for (int64_t b = 0; b < n / 32; ++b) {
    const uint8_t* wb = w + static_cast<size_t>(b) * 24;  // d, m, qh[4], qs[16]
    const uint8_t* ab = a + static_cast<size_t>(b) * 36;  // d, s, qs[32]
    uint16_t dw, m, da, s;
    uint32_t qh;
    std::memcpy(&dw, wb, 2);
    std::memcpy(&m, wb + 2, 2);
    std::memcpy(&qh, wb + 4, 4);
    std::memcpy(&da, ab, 2);
    std::memcpy(&s, ab + 2, 2);
    const float d = fp16_to_fp32(dw) * fp16_to_fp32(da);
    for (int l = 0; l < 8; ++l) {
      int sum = 0;
      for (int j = 4 * l; j < 4 * l + 4; ++j) {
        const int nibble = j < 16 ? wb[8 + j] & 0xF : wb[8 + j - 16] >> 4;
        sum += (nibble | (((qh >> j) & 1) << 4)) * static_cast<int8_t>(ab[4 + j]);
      }
      lanes[l] = std::fma(d, static_cast<float>(sum), lanes[l]);
    }
    mins = std::fma(fp16_to_fp32(m), fp16_to_fp32(s), mins);
  }
  const float h0 = lanes[0] + lanes[4], h1 = lanes[1] + lanes[5], h2 = lanes[2] + lanes[6], h3 = lanes[3] + lanes[7];
  return ((h0 + h2) + (h1 + h3)) + mins;
}

TEST_F(DotTest, Q5_1FollowsTheSimdOrderBitForBit) {
  constexpr int64_t kRows = 7;  // a group of four and a short one
  for (int64_t n : {int64_t{32}, int64_t{32 * 7}, int64_t{896}}) {
    const size_t stride = row_bytes(GgmlType::Q5_1, n);
    std::vector<uint8_t> matrix;
    for (int64_t r = 0; r < kRows; ++r) {
      const auto row = weight_row(GgmlType::Q5_1, n, static_cast<uint32_t>(r) + 20, r % 3 != 0);
      matrix.insert(matrix.end(), row.begin(), row.end());
    }
    const auto a = activations(GgmlType::Q5_1, n, 11);
    for (Isa isa : available_isas()) {
      // The scalar kernel adds each block's two terms at once; the ARM levels have orders of their own.
      if (isa == Isa::Scalar || !follows_llama_cpp_orders(isa)) continue;
      set_isa_for_testing(isa);
      std::vector<float> out(kRows);
      gemv(GgmlType::Q5_1, n, matrix.data(), stride, 0, kRows, a.data(), out.data());
      for (int64_t r = 0; r < kRows; ++r) {
        const uint8_t* w = matrix.data() + static_cast<size_t>(r) * stride;
        const float want = q5_1_simd_order(n, w, a.data());
        ASSERT_EQ(out[r], want) << isa_name(isa) << " n=" << n << " gemv row " << r;
        ASSERT_EQ(vec_dot(GgmlType::Q5_1, n, w, a.data()), want) << isa_name(isa) << " n=" << n << " vec_dot row " << r;
      }
    }
  }
}

// The F16 value nearest to x, ties to the even one, found among the neighbours of the float
// conversion (x is exact: long double holds every sum of F16 products and F16 values here).
long double nearest_half(long double x) {
  const uint16_t guess = fp32_to_fp16(static_cast<float>(x));
  long double best = fp16_to_fp32(guess);
  uint16_t best_bits = guess;
  for (int step : {-2, -1, 1, 2}) {
    const auto bits = static_cast<uint16_t>(guess + step);
    const long double value = fp16_to_fp32(bits);
    const long double d = std::fabs(value - x), best_d = std::fabs(best - x);
    if (d < best_d || (d == best_d && (bits & 1) == 0 && (best_bits & 1) != 0)) {
      best = value;
      best_bits = bits;
    }
  }
  return best;
}

// ggml_vec_dot_f16 in a build with AVX512-FP16: four 32-lane F16 accumulators over 128-element
// steps (one rounding per fused multiply-add), reduced in F16 as 0+2, 1+3, 0+1 and then halves of
// the 32 lanes; the rest of the row added in double.
float half_precision_dot(int64_t n, const uint16_t* w, const uint16_t* a) {
  const int64_t steps_end = n & ~int64_t{127};
  long double acc[4][32] = {};
  for (int64_t i = 0; i < steps_end; i += 128) {
    for (int j = 0; j < 4; ++j) {
      for (int l = 0; l < 32; ++l) {
        const int64_t e = i + 32 * j + l;
        acc[j][l] = nearest_half(static_cast<long double>(fp16_to_fp32(w[e])) * fp16_to_fp32(a[e]) + acc[j][l]);
      }
    }
  }
  long double lanes[32];
  for (int l = 0; l < 32; ++l) {
    lanes[l] = nearest_half(nearest_half(acc[0][l] + acc[2][l]) + nearest_half(acc[1][l] + acc[3][l]));
  }
  for (int width = 16; width >= 1; width /= 2) {
    for (int l = 0; l < width; ++l) lanes[l] = nearest_half(lanes[l] + lanes[l + width]);
  }
  double sum = static_cast<double>(lanes[0]);
  for (int64_t i = steps_end; i < n; ++i) sum += static_cast<double>(fp16_to_fp32(w[i]) * fp16_to_fp32(a[i]));
  return static_cast<float>(sum);
}

TEST_F(DotTest, F16RowsTinyBlasDeclinesSumInHalfPrecisionBitForBit) {
  // 172: stories260K's ffn_down (the 128 first products in F16); 44 has no F16 part; 390 and
  // 1031 several 128-steps. Every level that follows llama.cpp's x86 orders, vec_dot, gemv and
  // gemm alike, gives these bits.
  constexpr int64_t kRows = 5, kTokens = 3;
  for (int64_t n : {int64_t{44}, int64_t{172}, int64_t{390}, int64_t{1031}}) {
    const size_t stride = row_bytes(GgmlType::F16, n);
    std::vector<uint8_t> matrix;
    for (int64_t r = 0; r < kRows; ++r) {
      const auto row = weight_row(GgmlType::F16, n, static_cast<uint32_t>(r) + 60, true);
      matrix.insert(matrix.end(), row.begin(), row.end());
    }
    std::vector<std::vector<uint8_t>> tokens;
    std::vector<uint8_t> acts;
    for (int64_t t = 0; t < kTokens; ++t) {
      tokens.push_back(activations(GgmlType::F16, n, static_cast<uint32_t>(t) + 70));
      acts.insert(acts.end(), tokens.back().begin(), tokens.back().end());
    }
    for (Isa isa : available_isas()) {
      if (!follows_llama_cpp_orders(isa)) continue;  // the ARM levels sum every F16 row in FP32
      set_isa_for_testing(isa);
      const std::string where = std::string(isa_name(isa)) + " n=" + std::to_string(n);
      std::vector<float> out(static_cast<size_t>(kRows * kTokens));
      gemm(GgmlType::F16, n, matrix.data(), stride, 0, kRows, acts.data(), tokens[0].size(), kTokens, out.data(),
           kRows);
      for (int64_t t = 0; t < kTokens; ++t) {
        std::vector<float> row_out(kRows);
        gemv(GgmlType::F16, n, matrix.data(), stride, 0, kRows, tokens[t].data(), row_out.data());
        for (int64_t r = 0; r < kRows; ++r) {
          const uint8_t* w = matrix.data() + static_cast<size_t>(r) * stride;
          const float want = half_precision_dot(n, reinterpret_cast<const uint16_t*>(w),
                                                reinterpret_cast<const uint16_t*>(tokens[t].data()));
          ASSERT_EQ(vec_dot(GgmlType::F16, n, w, tokens[t].data()), want) << where << " vec_dot row " << r;
          ASSERT_EQ(row_out[r], want) << where << " gemv row " << r << " token " << t;
          ASSERT_EQ(out[t * kRows + r], want) << where << " gemm row " << r << " token " << t;
          // Half precision, yet near the exact dot.
          const Expected e = reference_dot(GgmlType::F16, n, std::vector<uint8_t>(w, w + stride), tokens[t]);
          EXPECT_NEAR(want, e.value, 2e-3 * e.magnitude) << where;
        }
      }
    }
  }
}

// Every weight type runs SIMD code at every SIMD level, in both orders (on aarch64 they all have
// kernels of their own; on x86 they fall back to their VecDot kernels where llama.cpp sums them
// the same way). Q8_K is an activation format, dotted only by tests.
TEST_F(DotTest, EveryTypeHasSimdKernelsAtEverySimdLevel) {
  set_isa_for_testing(Isa::Scalar);  // the query itself: nothing above scalar there
  for (GgmlType type : kWeightTypes) EXPECT_EQ(kernel_level(type, DotOrder::Interleaved8), Isa::Scalar);
  for (Isa isa : available_isas()) {
    if (isa == Isa::Scalar) continue;
    set_isa_for_testing(isa);
    for (GgmlType type : kWeightTypes) {
      if (type == GgmlType::Q8_K) continue;
      for (DotOrder order : {DotOrder::VecDot, DotOrder::Interleaved8}) {
        EXPECT_NE(kernel_level(type, order), Isa::Scalar)
            << isa_name(isa) << " " << type_name(type) << (order == DotOrder::VecDot ? " vecdot" : " interleaved8");
      }
    }
  }
}

TEST(DotOrders, FollowLlamaCppsRepacking) {
  EXPECT_EQ(dot_order(GgmlType::Q4_0, 896), DotOrder::Interleaved8);
  EXPECT_EQ(dot_order(GgmlType::Q4_0, 8), DotOrder::Interleaved8);
  EXPECT_EQ(dot_order(GgmlType::Q4_0, 172), DotOrder::VecDot);
  EXPECT_EQ(dot_order(GgmlType::Q8_0, 896), DotOrder::VecDot);
  EXPECT_EQ(dot_order(GgmlType::Q5_0, 896), DotOrder::VecDot);
}

TEST_F(DotTest, GemvFillsExactlyTheRequestedRows) {
  // Rows 2..6: one group of a multi-row kernel plus a leftover row; 1792 = 7 blocks of 256 and
  // 56 blocks of 32 (kernels taking 4 blocks at a time pad the last group).
  const int64_t rows = 9;
  for (Isa isa : available_isas()) {
    set_isa_for_testing(isa);
    for (GgmlType type : kWeightTypes) {
      for (int64_t n : {int64_t{512}, int64_t{1792}}) {
        const size_t stride = row_bytes(type, n);
        std::vector<uint8_t> matrix;
        for (int64_t r = 0; r < rows; ++r) {
          const auto row = weight_row(type, n, static_cast<uint32_t>(r) + 100, r % 2 == 0);
          matrix.insert(matrix.end(), row.begin(), row.end());
        }
        const auto a = activations(type, n, 5);
        std::vector<float> out(rows, -12345.0f);
        gemv(type, n, matrix.data(), stride, 2, 7, a.data(), out.data());
        for (int64_t r = 0; r < rows; ++r) {
          if (r < 2 || r >= 7) {
            EXPECT_EQ(out[r], -12345.0f) << type_name(type) << " row " << r;
            continue;
          }
          EXPECT_EQ(out[r], vec_dot(type, n, matrix.data() + static_cast<size_t>(r) * stride, a.data()))
              << isa_name(isa) << " " << type_name(type) << " n=" << n << " row " << r;
        }
      }
    }
  }
}

TEST(ActivationFormats, MatchGgml) {
  EXPECT_EQ(vec_dot_type(GgmlType::Q4_0), GgmlType::Q8_0);
  EXPECT_EQ(vec_dot_type(GgmlType::IQ4_NL), GgmlType::Q8_0);
  EXPECT_EQ(vec_dot_type(GgmlType::Q5_1), GgmlType::Q8_1);
  EXPECT_EQ(vec_dot_type(GgmlType::Q6_K), GgmlType::Q8_K);
  EXPECT_EQ(vec_dot_type(GgmlType::IQ4_XS), GgmlType::Q8_K);
  EXPECT_EQ(vec_dot_type(GgmlType::F16), GgmlType::F16);
  EXPECT_EQ(vec_dot_type(GgmlType::BF16), GgmlType::BF16);
  EXPECT_EQ(vec_dot_type(GgmlType::F32), GgmlType::F32);
  EXPECT_THROW(vec_dot_type(GgmlType::IQ2_XXS), Error);
}

TEST(ActivationFormats, Q8_0RoundsLikeGgmlAvxCode) {
  // amax 127 gives a unit scale: x.5 ties go to even (not away from zero as roundf would).
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;
  x[1] = 2.5f;
  x[2] = -2.5f;
  x[3] = 3.5f;
  x[4] = 0.49f;
  std::vector<uint8_t> q(34);
  quantize_activations(GgmlType::Q8_0, x.data(), q.data(), 32);
  uint16_t d;
  std::memcpy(&d, q.data(), 2);
  EXPECT_EQ(d, fp32_to_fp16(1.0f));
  const auto* qs = reinterpret_cast<const int8_t*>(q.data() + 2);
  EXPECT_EQ(qs[0], 127);
  EXPECT_EQ(qs[1], 2);
  EXPECT_EQ(qs[2], -2);
  EXPECT_EQ(qs[3], 4);
  EXPECT_EQ(qs[4], 0);

  std::vector<uint8_t> q1(36);
  quantize_activations(GgmlType::Q8_1, x.data(), q1.data(), 32);
  uint16_t s;
  std::memcpy(&s, q1.data() + 2, 2);
  EXPECT_EQ(fp16_to_fp32(s), 127.0f + 2 - 2 + 4);
}

TEST(ActivationFormats, Q8_KMapsTheSignedExtremeToMinus127) {
  std::vector<float> x(256, 0.0f);
  x[0] = 5.0f;
  x[1] = -10.0f;
  x[17] = 1.0f;
  std::vector<uint8_t> q(292);
  quantize_activations(GgmlType::Q8_K, x.data(), q.data(), 256);
  float d;
  std::memcpy(&d, q.data(), 4);
  EXPECT_FLOAT_EQ(d, 1.0f / (-127.0f / -10.0f));
  const auto* qs = reinterpret_cast<const int8_t*>(q.data() + 4);
  EXPECT_EQ(qs[1], -127);
  EXPECT_EQ(qs[0], 64);  // 63.5 rounds to even
  EXPECT_EQ(qs[17], 13);
  int16_t bsums[16];
  std::memcpy(bsums, q.data() + 260, 32);
  EXPECT_EQ(bsums[0], 64 - 127);
  EXPECT_EQ(bsums[1], 13);

  x[1] = 10.0f;  // a positive extreme flips every sign: d < 0
  quantize_activations(GgmlType::Q8_K, x.data(), q.data(), 256);
  std::memcpy(&d, q.data(), 4);
  EXPECT_LT(d, 0.0f);
  EXPECT_EQ(qs[1], -127);
}

TEST(Isa, LevelsAreListedAndSelectable) {
  const auto isas = available_isas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.front(), Isa::Scalar);
  EXPECT_EQ(active_isa(), isas.back());
  std::string names;  // in the XML report, for scripts/test-aarch64.sh to check detection
  for (Isa isa : isas) names += (names.empty() ? "" : " ") + std::string(isa_name(isa));
  RecordProperty("isas", names);
  for (Isa isa : isas) {
    set_isa_for_testing(isa);
    EXPECT_EQ(active_isa(), isa);
    EXPECT_EQ(active_isa_name(), isa_name(isa));
  }
  set_isa_for_testing(isas.back());
}

TEST(DotErrors, BadTypesAndLengthsAreRefused) {
  std::vector<uint8_t> buf(1024);
  EXPECT_THROW(vec_dot(GgmlType::IQ2_XXS, 256, buf.data(), buf.data()), Error);
  EXPECT_THROW(vec_dot(GgmlType::Q4_0, 33, buf.data(), buf.data()), Error);
  EXPECT_THROW(gemv(GgmlType::Q4_K, 100, buf.data(), 144, 0, 1, buf.data(), nullptr), Error);
  std::vector<float> x(33);
  EXPECT_THROW(quantize_activations(GgmlType::Q8_0, x.data(), buf.data(), 33), Error);
  EXPECT_THROW(quantize_activations(GgmlType::Q4_0, x.data(), buf.data(), 32), Error);
}

}  // namespace
}  // namespace bantam::quant
