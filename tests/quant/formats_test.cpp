// Scalar (de)quantizers: fp16/bf16 conversion, error bounds on gaussian data against naive
// max-based quantization, block layouts, and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "bantam/error.hpp"
#include "quant/blocks.hpp"
#include "quant/quant.hpp"
#include "quant_test_util.hpp"

namespace bantam::quant {
namespace {

using test::gaussian;
using test::relative_rmse;
using test::roundtrip;

TEST(Half, ConvertsExactlyRepresentableValuesBothWays) {
  for (float f : {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f}) {
    EXPECT_EQ(fp16_to_fp32(fp32_to_fp16(f)), f) << f;
  }
  for (float f : {0.0f, -0.0f, 1.0f, -2.5f, 3.0e38f, 1.0e-40f}) {
    EXPECT_EQ(bf16_to_fp32(fp32_to_bf16(f)), bf16_to_fp32(fp32_to_bf16(bf16_to_fp32(fp32_to_bf16(f)))));
  }
  EXPECT_EQ(bf16_to_fp32(fp32_to_bf16(-2.5f)), -2.5f);
  EXPECT_EQ(fp32_to_fp16(1.0f + 1.0f / 2048), fp32_to_fp16(1.0f));  // tie rounds to even
  EXPECT_EQ(fp32_to_fp16(70000.0f), 0x7C00);                         // overflow to inf
  EXPECT_TRUE(std::isnan(fp16_to_fp32(fp32_to_fp16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_EQ(bf16_to_fp32(fp32_to_bf16(1.00390625f)), 1.0f);  // tie rounds to even
}

// Naive baselines without any search, with exact float scales (so they even have an edge).
// Symmetric: levels -k..k-1 with scale = signed max / -k. Affine: levels 0..m over [min, max].
std::vector<float> naive_symmetric(const std::vector<float>& x, int group, int k) {
  std::vector<float> out(x.size());
  for (size_t g = 0; g < x.size(); g += group) {
    float amax = 0, max = 0;
    for (int i = 0; i < group; ++i) {
      if (std::fabs(x[g + i]) > amax) {
        amax = std::fabs(x[g + i]);
        max = x[g + i];
      }
    }
    const float d = max / static_cast<float>(-k);
    for (int i = 0; i < group; ++i) {
      const float l = d != 0 ? std::clamp(std::round(x[g + i] / d), static_cast<float>(-k), static_cast<float>(k - 1)) : 0;
      out[g + i] = l * d;
    }
  }
  return out;
}

std::vector<float> naive_affine(const std::vector<float>& x, int group, int m) {
  std::vector<float> out(x.size());
  for (size_t g = 0; g < x.size(); g += group) {
    const auto [lo, hi] = std::minmax_element(x.begin() + static_cast<long>(g), x.begin() + static_cast<long>(g) + group);
    const float d = (*hi - *lo) / static_cast<float>(m);
    for (int i = 0; i < group; ++i) {
      const float l = d != 0 ? std::round((x[g + i] - *lo) / d) : 0;
      out[g + i] = l * d + *lo;
    }
  }
  return out;
}

std::vector<float> naive_iq4(const std::vector<float>& x) {
  std::vector<float> out(x.size());
  for (size_t g = 0; g < x.size(); g += 32) {
    float amax = 0, max = 0;
    for (int i = 0; i < 32; ++i) {
      if (std::fabs(x[g + i]) > amax) {
        amax = std::fabs(x[g + i]);
        max = x[g + i];
      }
    }
    const float d = max / static_cast<float>(kIQ4Values[0]);
    for (int i = 0; i < 32; ++i) {
      float best = kIQ4Values[0] * d;
      for (int8_t v : kIQ4Values) {
        if (std::fabs(v * d - x[g + i]) < std::fabs(best - x[g + i])) best = v * d;
      }
      out[g + i] = best;
    }
  }
  return out;
}

struct ErrorCase {
  GgmlType type;
  double max_rmse;        // relative RMSE bound on unit gaussian data
  double max_vs_naive;    // ratio bound against the naive baseline (0: no baseline)
};

// Bounds are measured values (seed fixed) with ~3% headroom; the naive ratios show the scale
// search pays off where llama-quantize uses one.
class QuantError : public ::testing::TestWithParam<ErrorCase> {};

std::vector<float> naive_for(GgmlType type, const std::vector<float>& x) {
  switch (type) {
    case GgmlType::Q2_K: return naive_affine(x, 16, 3);
    case GgmlType::Q3_K: return naive_symmetric(x, 16, 4);
    case GgmlType::Q4_K: return naive_affine(x, 32, 15);
    case GgmlType::Q5_K: return naive_affine(x, 32, 31);
    case GgmlType::Q6_K: return naive_symmetric(x, 16, 32);
    case GgmlType::IQ4_NL: case GgmlType::IQ4_XS: return naive_iq4(x);
    default: return {};
  }
}

TEST_P(QuantError, GaussianDataStaysWithinBound) {
  const ErrorCase c = GetParam();
  const auto x = gaussian(256 * 64, 1234);
  const double rmse = relative_rmse(roundtrip(c.type, x), x);
  RecordProperty("rmse", std::to_string(rmse));
  EXPECT_LT(rmse, c.max_rmse) << type_name(c.type);
  if (c.max_vs_naive > 0) {
    const double naive = relative_rmse(naive_for(c.type, x), x);
    EXPECT_LT(rmse / naive, c.max_vs_naive) << type_name(c.type) << " rmse " << rmse << " naive " << naive;
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllTypes, QuantError,
    ::testing::Values(ErrorCase{GgmlType::F16, 2.2e-4, 0}, ErrorCase{GgmlType::BF16, 1.75e-3, 0},
                      ErrorCase{GgmlType::Q8_0, 5.6e-3, 0}, ErrorCase{GgmlType::Q8_1, 5.6e-3, 0},
                      ErrorCase{GgmlType::Q5_0, 4.4e-2, 0}, ErrorCase{GgmlType::Q5_1, 3.9e-2, 0},
                      ErrorCase{GgmlType::Q4_0, 8.9e-2, 0}, ErrorCase{GgmlType::Q4_1, 8.1e-2, 0},
                      ErrorCase{GgmlType::Q8_K, 7.3e-3, 0}, ErrorCase{GgmlType::Q6_K, 1.85e-2, 0.96},
                      ErrorCase{GgmlType::Q5_K, 3.75e-2, 0.975}, ErrorCase{GgmlType::Q4_K, 7.4e-2, 0.935},
                      ErrorCase{GgmlType::Q3_K, 0.157, 0.985}, ErrorCase{GgmlType::Q2_K, 0.31, 0.93},
                      ErrorCase{GgmlType::IQ4_NL, 7.9e-2, 0.965}, ErrorCase{GgmlType::IQ4_XS, 8.0e-2, 0.97}),
    [](const auto& info) { return std::string(type_name(info.param.type)); });

}  // namespace
}  // namespace bantam::quant
