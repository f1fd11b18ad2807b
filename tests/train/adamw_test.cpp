// AdamW against steps worked out by hand from the update rule.
#include <gtest/gtest.h>

#include <cmath>

#include "bantam/error.hpp"
#include "train/adamw.hpp"

namespace bantam::train {
namespace {

// One parameter, two steps: gradients 0.5 then -1 (before grad_scale 0.5: 1.0 and -2.0).
TEST(AdamW, TwoStepsMatchTheHandComputedUpdate) {
  AdamW adam({1}, AdamWOptions{.lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0});
  std::vector<float> p = {1.0f};
  std::vector<float> g = {1.0f};
  std::vector<std::span<float>> params = {p};
  std::vector<std::span<const float>> grads = {g};
  adam.step(params, grads, 0.5f);
  // m = 0.05, v = 0.00025; m^ = 0.5, v^ = 0.25: the first step moves by lr * sign(g).
  EXPECT_NEAR(p[0], 0.9, 1e-6);
  g[0] = -2.0f;
  adam.step(params, grads, 0.5f);
  // m = 0.9*0.05 - 0.1 = -0.055, v = 0.999*0.00025 + 0.001 = 0.00124975;
  // m^ = -0.055/0.19, v^ = 0.00124975/(1 - 0.999^2): p = 0.9 + 0.1 * 0.2894737 / 0.7906888.
  const double m_hat = -0.055 / 0.19;
  const double v_hat = 0.00124975 / (1.0 - 0.999 * 0.999);
  EXPECT_NEAR(p[0], 0.9 - 0.1 * m_hat / (std::sqrt(v_hat) + 1e-8), 1e-6);
  EXPECT_NEAR(p[0], 0.936610, 1e-5);
  EXPECT_EQ(adam.steps(), 2);
  EXPECT_NEAR(adam.first_moments()[0][0], -0.055, 1e-7);
  EXPECT_NEAR(adam.second_moments()[0][0], 0.00124975, 1e-7);  // 1 - 0.999f is 0.00099999 in float
}

TEST(AdamW, WeightDecayIsDecoupledFromTheGradient) {
  // A zero gradient moves nothing but the decay: p (1 - lr wd).
  AdamW adam({2}, AdamWOptions{.lr = 0.01f, .weight_decay = 0.5f});
  std::vector<float> p = {2.0f, -4.0f};
  std::vector<float> g = {0.0f, 0.0f};
  std::vector<std::span<float>> params = {p};
  std::vector<std::span<const float>> grads = {g};
  adam.step(params, grads, 1.0f);
  EXPECT_FLOAT_EQ(p[0], 2.0f * (1 - 0.005f));
  EXPECT_FLOAT_EQ(p[1], -4.0f * (1 - 0.005f));
}

TEST(AdamW, SpansOfTheWrongSizeAreRefused) {
  AdamW adam({2, 3}, AdamWOptions{});
  std::vector<float> a(2), b(2);
  std::vector<std::span<float>> params = {a, b};
  std::vector<std::span<const float>> grads = {a, b};
  EXPECT_THROW(adam.step(params, grads, 1.0f), Error);
  EXPECT_THROW(AdamW({1}, AdamWOptions{.lr = 0}), Error);
}

}  // namespace
}  // namespace bantam::train
