// The int8 GEMM against a scalar float64 reference of the same math: each (row, token) must equal
// the dot of the dequantized weight row with the activations as quantized for the kernel
// (int8_activation_values), within float rounding of the per-block terms; the activations must be
// within half a quantization step of the input (plus the fp16 rounding of scales that have one).
// Where the CPU lacks the kernels, the test checks that no type claims them.
#include <gtest/gtest.h>

#include <cmath>
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
                               GgmlType::IQ4_NL, GgmlType::IQ4_XS};
constexpr float kUntouched = -12345.0f;

bool have_kernels() { return int8_gemm_supports(GgmlType::Q8_0); }

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
  quantize_int8_activations(type, x.data(), 0, 7, acts);  // two ranges, as threads take them
  quantize_int8_activations(type, x.data(), 7, tokens, acts);

  const size_t out_stride = rows + 3;
  std::vector<float> out(static_cast<size_t>(tokens) * out_stride, kUntouched);
  // Rows in two ranges, the second starting inside a panel.
  int8_gemm(type, weights.data(), stride, 0, 20, acts, out.data(), out_stride);
  int8_gemm(type, weights.data(), stride, 20, rows, acts, out.data(), out_stride);

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
  if (!have_kernels()) {
    // Without AVX-512 VNNI no type takes this path (matmul keeps the per-type kernels, tested in
    // gemm_test.cpp), and asking for it is an error rather than a wrong answer.
    EXPECT_FALSE(int8_gemm_supports(type));
    return;
  }
  ASSERT_TRUE(int8_gemm_supports(type));
  // 37 rows (two whole panels and a short one), 19 tokens (two tiles and a short one); then
  // stories260K's row count.
  for (const auto& [k, rows, tokens] : {std::tuple<int64_t, int64_t, int64_t>{512, 37, 19}, {256, 172, 20}}) {
    SCOPED_TRACE(testing::Message() << k << " x " << rows << ", " << tokens << " tokens");
    check_against_reference(type, k, rows, tokens);
  }
}

INSTANTIATE_TEST_SUITE_P(Types, Int8GemmTest, ::testing::ValuesIn(kTypes),
                         [](const auto& info) { return std::string(type_name(info.param)); });

TEST(Int8Gemm, TypesWithoutAnInt8FormAreRefused) {
  EXPECT_FALSE(int8_gemm_supports(GgmlType::F16));
  EXPECT_FALSE(int8_gemm_supports(GgmlType::Q2_K));
  Int8Activations acts;
  EXPECT_THROW(reserve_int8_activations(GgmlType::F32, 64, 2, acts), Error);
}

TEST(Int8Gemm, OnlyTheVnniLevelTakesIt) {
  for (Isa isa : available_isas()) {
    set_isa_for_testing(isa);
    EXPECT_EQ(int8_gemm_supports(GgmlType::Q4_K), isa == Isa::Avx512Vnni) << isa_name(isa);
  }
  set_isa_for_testing(available_isas().back());
}

}  // namespace
}  // namespace bantam::quant
