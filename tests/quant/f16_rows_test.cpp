// F16 rows: the F16C paths give exactly the scalar conversions, subnormals, overflow and odd
// lengths included (NaNs aside: their payload bits are not specified).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "quant/f16_rows.hpp"
#include "quant/quant.hpp"

namespace bantam::quant {
namespace {

uint32_t bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// Finite floats over the whole F16 range and beyond: subnormal halves, normal ones, overflow.
std::vector<float> samples(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> exponent(-30.0f, 17.0f);
  std::uniform_real_distribution<float> mantissa(1.0f, 2.0f);
  std::vector<float> x(n);
  for (float& v : x) v = (rng() & 1 ? -1.0f : 1.0f) * mantissa(rng) * std::exp2(exponent(rng));
  x[0] = 0.0f;
  x[1] = -0.0f;
  x[2] = 65504.0f;  // largest half
  x[3] = 65520.0f;  // rounds to infinity
  x[4] = std::numeric_limits<float>::infinity();
  x[5] = 5.9604645e-8f;  // smallest subnormal half
  x[6] = 2.9802322e-8f;  // half of it: ties to even (zero)
  return x;
}

TEST(F16Rows, ConversionsEqualTheScalarOnes) {
  for (size_t n : {size_t{1}, size_t{7}, size_t{8}, size_t{61}, size_t{4096}}) {
    const auto x = samples(std::max<size_t>(n, 8), static_cast<uint32_t>(n));
    std::vector<uint16_t> h(n);
    f32_to_f16_row(x.data(), h.data(), static_cast<int64_t>(n));
    std::vector<float> back(n);
    f16_to_f32_row(h.data(), back.data(), static_cast<int64_t>(n));
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(h[i], fp32_to_fp16(x[i])) << "x=" << x[i];
      ASSERT_EQ(bits(back[i]), bits(fp16_to_fp32(h[i]))) << "h=" << h[i];
    }
  }
  // Every half value converts back exactly as the scalar code says (NaNs skipped).
  std::vector<uint16_t> all(65536);
  for (uint32_t i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
  std::vector<float> f(65536);
  f16_to_f32_row(all.data(), f.data(), 65536);
  for (uint32_t i = 0; i < 65536; ++i) {
    if (std::isnan(f[i])) continue;
    ASSERT_EQ(bits(f[i]), bits(fp16_to_fp32(static_cast<uint16_t>(i)))) << i;
  }
}

TEST(F16Rows, RoundedAccumulationEqualsTheScalarSteps) {
  const int64_t n = 67;  // eight-wide steps and a tail
  auto acc = samples(n, 3);
  for (float& a : acc) a = fp16_to_fp32(fp32_to_fp16(a));  // an F16 accumulator
  const auto v = samples(n, 4);
  for (float s : {0.0f, 1.0f, 0.37f, 1e-3f, 7.5f}) {
    std::vector<float> want = acc, got = acc;
    for (int64_t i = 0; i < n; ++i) want[i] = fp16_to_fp32(fp32_to_fp16(std::fma(v[i], s, want[i])));
    f16_fma_round_row(got.data(), v.data(), s, n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(bits(got[i]), bits(want[i])) << "fma s=" << s << " i=" << i;
    for (int64_t i = 0; i < n; ++i) want[i] = fp16_to_fp32(fp32_to_fp16(want[i] * s));
    f16_scale_round_row(got.data(), s, n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(bits(got[i]), bits(want[i])) << "scale s=" << s << " i=" << i;
  }
}

}  // namespace
}  // namespace bantam::quant
