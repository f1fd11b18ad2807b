// The int8 GEMM against a scalar float64 reference of the same math: each (row, token) must equal
// the dot of the dequantized weight row with the activations as quantized for the kernel
// (int8_activation_values), within float rounding of the per-block terms; the activations must be
// within half a quantization step of the input (plus the fp16 rounding of scales that have one).
// Every level of this CPU that takes the int8 GEMM is checked (AVX-512 VNNI; every NEON level:
// sdot, smmla and smull tiles with their own activation layouts); at the others no type may claim it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>
#include <vector>

#include "bantam/error.hpp"
#include "quant/dot.hpp"
#include "quant/int8_gemm.hpp"
#include "quant/quant.hpp"
#include "quant_test_util.hpp"

namespace bantam::quant {
namespace {

constexpr GgmlType kTypes[] = {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0,   GgmlType::Q5_1,
                               GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K,   GgmlType::Q6_K,
                               GgmlType::IQ4_NL, GgmlType::IQ4_XS, GgmlType::Q2_K, GgmlType::Q3_K};
constexpr float kUntouched = -12345.0f;

// Which levels take which types: every NEON level takes every type with an int8 form; AVX-512
// VNNI all but Q2_K and Q3_K (its panels have no unpackers for them).
bool expected_support(Isa isa, GgmlType type) {
  if (isa == Isa::Neon || isa == Isa::NeonDotprod || isa == Isa::NeonI8mm) return true;
  return isa == Isa::Avx512Vnni && type != GgmlType::Q2_K && type != GgmlType::Q3_K;
}

// Restores the best level when a test ends, whatever it forced.
struct BestIsaAfterwards {
  ~BestIsaAfterwards() { set_isa_for_testing(available_isas().back()); }
};

void check_against_reference(GgmlType type, int64_t k, int64_t rows, int64_t tokens) {
  const size_t stride = row_bytes(type, k);
  std::vector<uint8_t> weights;
  std::vector<std::vector<float>> dequantized;
  for (int64_t r = 0; r < rows; ++r) {
    const auto row = test::weight_row(type, k, static_cast<uint32_t>(r) * 11 + 5, r % 3 == 0);
    weights.insert(weights.end(), row.begin(), row.end());
    dequantized.push_back(test::dequantize(type, row, k));
  }
  std::vector<float> x;
  for (int64_t t = 0; t < tokens; ++t) {
    const auto v = test::gaussian(static_cast<size_t>(k), static_cast<uint32_t>(t) * 3 + 1, t % 2 ? 3.0f : 0.2f);
    x.insert(x.end(), v.begin(), v.end());
  }
  x[5] = 0;  // a zero block keeps its zero scale
  for (int i = 0; i < 32; ++i) x[static_cast<size_t>(k + i)] = 0;

  Int8Activations acts;
  reserve_int8_activations(type, k, tokens, acts);
  // Two ranges, as threads take them.
  const int64_t split_token = std::min<int64_t>(7, tokens);
  quantize_int8_activations(type, x.data(), 0, split_token, acts);
  quantize_int8_activations(type, x.data(), split_token, tokens, acts);

  const size_t out_stride = rows + 3;
  std::vector<float> out(static_cast<size_t>(tokens) * out_stride, kUntouched);
  // Rows in two ranges, the second starting inside a panel.
  const int64_t split_row = std::min<int64_t>(20, rows);
  int8_gemm(type, weights.data(), stride, 0, split_row, acts, out.data(), out_stride);
  int8_gemm(type, weights.data(), stride, split_row, rows, acts, out.data(), out_stride);

  for (int64_t t = 0; t < tokens; ++t) {
    const std::vector<double> a = int8_activation_values(acts, t);
    for (int64_t i = 0; i < k; ++i) {
      const double step = std::fabs(a[static_cast<size_t>(i)] - x[static_cast<size_t>(t * k + i)]);
      double amax = 0;
      for (int64_t j = i / 32 * 32; j < i / 32 * 32 + 32; ++j) amax = std::max(amax, std::fabs(double{x[static_cast<size_t>(t * k + j)]}));
      ASSERT_LE(step, amax / 127.0 * (0.5 + 127.0 / 2048) + 1e-6) << "token " << t << " element " << i;
    }
    for (int64_t r = 0; r < rows; ++r) {
      double expected = 0, magnitude = 0;
      for (int64_t i = 0; i < k; ++i) {
        const double term = double{dequantized[static_cast<size_t>(r)][static_cast<size_t>(i)]} * a[static_cast<size_t>(i)];
        expected += term;
        magnitude += std::fabs(term);
      }
      const float got = out[static_cast<size_t>(t) * out_stride + static_cast<size_t>(r)];
      // Per block: a product of exact integers with float scales (a few roundings each), summed in
      // float over k / 16 blocks.
      EXPECT_NEAR(got, expected, 2e-6 * magnitude + 1e-9) << type_name(type) << " row " << r << " token " << t;
    }
    for (size_t c = static_cast<size_t>(rows); c < out_stride; ++c) {
      EXPECT_EQ(out[static_cast<size_t>(t) * out_stride + c], kUntouched) << "wrote past the rows";
    }
  }
}

class Int8GemmTest : public ::testing::TestWithParam<GgmlType> {};

TEST_P(Int8GemmTest, EveryRowAndTokenMatchesTheFloat64Reference) {
  const GgmlType type = GetParam();
  BestIsaAfterwards restore;
  for (Isa isa : available_isas()) {
    set_isa_for_testing(isa);
    SCOPED_TRACE(isa_name(isa));
    ASSERT_EQ(int8_gemm_supports(type), expected_support(isa, type));
    // Elsewhere matmul keeps the per-type kernels (tested in gemm_test.cpp).
    if (!int8_gemm_supports(type)) continue;
    // 37 rows (two whole panels and a short one), 19 tokens (two tiles and a short odd one); 9
    // rows (one short panel, a short quad) by 17 tokens (a last group of one); then stories260K's
    // row count.
    for (const auto& [k, rows, tokens] :
         {std::tuple<int64_t, int64_t, int64_t>{512, 37, 19}, {256, 9, 17}, {256, 172, 20}}) {
      SCOPED_TRACE(testing::Message() << k << " x " << rows << ", " << tokens << " tokens");
      check_against_reference(type, k, rows, tokens);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, Int8GemmTest, ::testing::ValuesIn(kTypes),
                         [](const auto& info) { return std::string(type_name(info.param)); });

// The largest block sums there can be: Q8_0 levels of -128 (a file may hold them) times
// activations of 127 (|sum| = 32 * 128 * 127, the bound the aarch64 tiles' float conversion
// relies on), both signs, every level.
TEST(Int8Gemm, ExtremeBlockSumsAreExact) {
  BestIsaAfterwards restore;
  constexpr int64_t k = 64, rows = 5, tokens = 17;
  std::vector<uint8_t> weights(static_cast<size_t>(rows) * row_bytes(GgmlType::Q8_0, k));
  for (size_t b = 0; b < weights.size(); b += 34) {
    const uint16_t one = fp32_to_fp16(1.0f);
    std::memcpy(&weights[b], &one, 2);
    std::memset(&weights[b + 2], 0x80, 32);  // -128
  }
  std::vector<float> x(static_cast<size_t>(tokens * k));
  for (size_t i = 0; i < x.size(); ++i) x[i] = (i / k) % 2 ? -1.0f : 1.0f;
  for (Isa isa : available_isas()) {
    set_isa_for_testing(isa);
    if (!int8_gemm_supports(GgmlType::Q8_0)) continue;
    Int8Activations acts;
    reserve_int8_activations(GgmlType::Q8_0, k, tokens, acts);
    quantize_int8_activations(GgmlType::Q8_0, x.data(), 0, tokens, acts);
    std::vector<float> out(static_cast<size_t>(rows * tokens));
    int8_gemm(GgmlType::Q8_0, weights.data(), row_bytes(GgmlType::Q8_0, k), 0, rows, acts, out.data(), rows);
    for (int64_t t = 0; t < tokens; ++t) {
      // da = fp16(1/127), q = +-127: each block sums to -+520192 exactly.
      const double expected = (t % 2 ? 1.0 : -1.0) * 2 * 520192.0 * fp16_to_fp32(fp32_to_fp16(1.0f / 127));
      for (int64_t r = 0; r < rows; ++r) {
        EXPECT_NEAR(out[static_cast<size_t>(t * rows + r)], expected, 1e-6 * std::fabs(expected))
            << isa_name(isa) << " row " << r << " token " << t;
      }
    }
  }
}

TEST(Int8Gemm, TypesWithoutAnInt8FormAreRefused) {
  EXPECT_FALSE(int8_gemm_supports(GgmlType::F16));
  EXPECT_FALSE(int8_gemm_supports(GgmlType::Q8_K));
  EXPECT_FALSE(int8_gemm_supports(GgmlType::IQ2_XXS));
  Int8Activations acts;
  EXPECT_THROW(reserve_int8_activations(GgmlType::F32, 64, 2, acts), Error);
}

TEST(Int8Gemm, ActivationsOfAnotherLevelAreRefused) {
  BestIsaAfterwards restore;
  const std::vector<Isa> isas = available_isas();
  for (Isa prepared : isas) {
    set_isa_for_testing(prepared);
    if (!int8_gemm_supports(GgmlType::Q8_0)) continue;
    Int8Activations acts;
    reserve_int8_activations(GgmlType::Q8_0, 32, 1, acts);
    const std::vector<float> x(32, 1.0f);
    quantize_int8_activations(GgmlType::Q8_0, x.data(), 0, 1, acts);
    const auto row = test::weight_row(GgmlType::Q8_0, 32, 1, false);
    float out = 0;
    for (Isa running : isas) {
      set_isa_for_testing(running);
      if (!int8_gemm_supports(GgmlType::Q8_0)) continue;
      const Int8Activations fresh = [&] {
        Int8Activations a;
        reserve_int8_activations(GgmlType::Q8_0, 32, 1, a);
        return a;
      }();
      if (fresh.layout == acts.layout) {
        EXPECT_NO_THROW(int8_gemm(GgmlType::Q8_0, row.data(), row.size(), 0, 1, acts, &out, 1));
      } else {
        EXPECT_THROW(int8_gemm(GgmlType::Q8_0, row.data(), row.size(), 0, 1, acts, &out, 1), Error)
            << isa_name(prepared) << " -> " << isa_name(running);
      }
    }
  }
}

}  // namespace
}  // namespace bantam::quant
