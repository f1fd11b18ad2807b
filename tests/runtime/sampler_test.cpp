// The sampler chain (with fixed seeds) and the stop-string filter.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/sampler.hpp"
#include "runtime/stop_strings.hpp"

namespace bantam {
namespace {

const std::vector<float> kLogits{0.0f, 1.0f, 2.0f, 3.0f, 1.5f};

std::vector<double> softmax(const std::vector<float>& logits, float temperature = 1.0f) {
  std::vector<double> p(logits.size());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp(logits[i] / temperature);
  for (double& v : p) v /= sum;
  return p;
}

SamplingOptions plain(float temperature = 1.0f) {
  SamplingOptions options;
  options.temperature = temperature;
  options.top_k = 0;
  options.top_p = 1.0f;
  options.min_p = 0.0f;
  options.seed = 1234;
  return options;
}

TEST(Sampler, GreedyTakesTheLargestLogitAndTheLowestIdOnTies) {
  Sampler sampler(plain(0.0f));
  EXPECT_EQ(sampler.sample(kLogits, {}).id, 3);
  EXPECT_EQ(sampler.sample(std::vector<float>{1, 5, 5, 2}, {}).id, 1);
}

TEST(Sampler, DrawsFollowTheSoftmax) {
  for (float temperature : {1.0f, 0.5f}) {
    Sampler sampler(plain(temperature));
    std::vector<int> counts(kLogits.size());
    const int n = 40000;
    for (int i = 0; i < n; ++i) ++counts[sampler.sample(kLogits, {}).id];
    const auto p = softmax(kLogits, temperature);
    for (size_t i = 0; i < p.size(); ++i) EXPECT_NEAR(counts[i] / double(n), p[i], 0.01) << i;
  }
}

TEST(Sampler, SameSeedSameDraws) {
  Sampler a(plain()), b(plain());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.sample(kLogits, {}).id, b.sample(kLogits, {}).id);
}

std::vector<TokenId> kept(const SamplingOptions& options, std::span<const TokenId> history = {}) {
  std::vector<TokenId> ids;
  for (const auto& c : Sampler(options).distribution(kLogits, history)) ids.push_back(c.id);
  return ids;
}

TEST(Sampler, TopKKeepsTheKBest) {
  auto options = plain();
  options.top_k = 2;
  EXPECT_EQ(kept(options), (std::vector<TokenId>{3, 2}));
}

TEST(Sampler, TopPKeepsTheSmallestSetReachingP) {
  const auto p = softmax(kLogits);  // p[3] ~ 0.50, p[2] ~ 0.18, p[4] ~ 0.11
  auto options = plain();
  options.top_p = static_cast<float>(p[3] + p[2]) - 0.01f;
  EXPECT_EQ(kept(options), (std::vector<TokenId>{3, 2}));
  options.top_p = static_cast<float>(p[3]) - 0.01f;
  EXPECT_EQ(kept(options), (std::vector<TokenId>{3}));
}

TEST(Sampler, MinPDropsTokensFarBelowTheBest) {
  auto options = plain();
  options.min_p = 0.3f;  // keeps p >= 0.3 * p_max: logits >= 3 + ln 0.3 = 1.80
  EXPECT_EQ(kept(options), (std::vector<TokenId>{3, 2}));
}

TEST(Sampler, FilteredDistributionIsRenormalized) {
  auto options = plain();
  options.top_k = 2;
  const auto candidates = Sampler(options).distribution(kLogits, {});
  EXPECT_NEAR(candidates[0].p + candidates[1].p, 1.0, 1e-6);
  EXPECT_NEAR(candidates[0].p, 1.0 / (1.0 + std::exp(-1.0)), 1e-6);
}

TEST(Sampler, PenaltiesLowerRepeatedTokens) {
  auto options = plain(0.0f);
  options.repeat_penalty = 1.4f;  // 3 -> 2.14, still above 2
  const std::vector<TokenId> history{3};
  EXPECT_EQ(Sampler(options).sample(kLogits, history).id, 3);
  options.repeat_penalty = 2.0f;  // 3 -> 1.5 < 2
  EXPECT_EQ(Sampler(options).sample(kLogits, history).id, 2);
  options = plain(0.0f);
  options.frequency_penalty = 0.6f;  // twice seen: 3 - 1.2 = 1.8 < 2
  EXPECT_EQ(Sampler(options).sample(kLogits, std::vector<TokenId>{3, 3}).id, 2);
  options = plain(0.0f);
  options.presence_penalty = 1.1f;
  EXPECT_EQ(Sampler(options).sample(kLogits, std::vector<TokenId>{3, 3}).id, 2);
  options.penalty_last_n = 1;  // 3 is outside the window now
  EXPECT_EQ(Sampler(options).sample(kLogits, std::vector<TokenId>{3, 0}).id, 3);
}

TEST(Sampler, ReportsLogprobAndEntropyOfTheModelDistribution) {
  const auto p = softmax(kLogits);
  const auto chosen = Sampler(plain(0.0f)).sample(kLogits, {});
  EXPECT_NEAR(chosen.logprob, std::log(p[3]), 1e-5);
  double entropy = 0;
  for (double v : p) entropy -= v * std::log(v);
  EXPECT_NEAR(chosen.entropy, entropy, 1e-5);
  EXPECT_NEAR(score_token(std::vector<float>(8, 0.5f), 2).entropy, std::log(8.0), 1e-5);
}

TEST(StopStrings, HoldsBackPossibleStartsAndCutsAtTheStop) {
  StopStringFilter filter({"</end>", "STOP"});
  EXPECT_EQ(filter.push("Hello </"), "Hello ");
  EXPECT_EQ(filter.push("en"), "");
  EXPECT_EQ(filter.push("try"), "</entry");  // not a stop after all
  EXPECT_EQ(filter.push(" done</e"), " done");
  EXPECT_EQ(filter.push("nd> more"), "");
  EXPECT_TRUE(filter.stopped());
  EXPECT_EQ(filter.push("x"), "");
}

TEST(StopStrings, EarliestStopWinsAndFlushReleasesTheRest) {
  StopStringFilter filter({"bc", "abcd"});
  EXPECT_EQ(filter.push("xabcd"), "x");
  StopStringFilter open({"STOP"});
  EXPECT_EQ(open.push("end ST"), "end ");
  EXPECT_EQ(open.flush(), "ST");
  StopStringFilter none({});
  EXPECT_EQ(none.push("anything"), "anything");
}

}  // namespace
}  // namespace bantam
