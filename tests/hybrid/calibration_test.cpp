#include "hybrid/calibration.hpp"

#include <gtest/gtest.h>

#include "bantam/error.hpp"

namespace bantam::hybrid {
namespace {

// The router's own decision on an outcome whose numbers are `value` for the rule.
bool router_escalates(ConfidenceRule rule, double value, double threshold) {
  RouterConfig config;
  config.policy = Policy::Auto;
  config.consent = Consent::Always;
  config.min_mean_logprob = -1e9;
  config.min_token_logprob = -1e9;
  config.max_mean_entropy = 1e9;
  LocalOutcome outcome;
  if (rule == ConfidenceRule::MeanEntropy) {
    config.max_mean_entropy = threshold;
    outcome.token_logprobs = {-0.1f};
    outcome.token_entropies = {static_cast<float>(value)};
  } else {
    (rule == ConfidenceRule::MeanLogprob ? config.min_mean_logprob : config.min_token_logprob) = threshold;
    outcome.token_logprobs = {static_cast<float>(value)};
  }
  return after_local(config, RequestFacts{}, outcome, true).route == Route::Cloud;
}

TEST(Calibration, HitsTheTargetRateAndAgreesWithTheRouter) {
  const std::vector<double> logprobs = {-0.5, -2.0, -1.0, -3.0, -0.25, -1.5, -0.75, -2.5};
  for (ConfidenceRule rule : {ConfidenceRule::MeanLogprob, ConfidenceRule::MinLogprob}) {
    for (double rate : {0.0, 0.125, 0.25, 0.5, 0.75, 1.0}) {
      const Calibration c = calibrate(logprobs, rule, rate);
      EXPECT_EQ(c.total, 8u);
      EXPECT_EQ(c.escalated, static_cast<size_t>(rate * 8)) << rate;
      EXPECT_DOUBLE_EQ(c.rate(), rate);
      size_t by_router = 0;
      for (double v : logprobs) by_router += router_escalates(rule, v, c.threshold) ? 1 : 0;
      EXPECT_EQ(by_router, c.escalated) << to_string(rule) << " at " << rate;
    }
  }
  const std::vector<double> entropies = {1.0, 3.0, 2.0, 4.0};
  const Calibration c = calibrate(entropies, ConfidenceRule::MeanEntropy, 0.5);
  EXPECT_EQ(c.escalated, 2u);
  EXPECT_DOUBLE_EQ(c.threshold, 2.5);  // halfway between the kept 2.0 and the escalated 3.0
  EXPECT_TRUE(router_escalates(ConfidenceRule::MeanEntropy, 3.0, c.threshold));
  EXPECT_FALSE(router_escalates(ConfidenceRule::MeanEntropy, 2.0, c.threshold));
}

TEST(Calibration, TiesAreReportedNotHidden) {
  const Calibration c = calibrate({-1.0, -1.0, -1.0, -2.0}, ConfidenceRule::MeanLogprob, 0.5);
  EXPECT_EQ(c.escalated, 1u);  // the three equal values fall on the same side
  EXPECT_DOUBLE_EQ(c.rate(), 0.25);
}

TEST(Calibration, RefusesWhatCannotBeCalibrated) {
  EXPECT_THROW(calibrate({}, ConfidenceRule::MeanLogprob, 0.5), Error);
  EXPECT_THROW(calibrate({-1.0}, ConfidenceRule::MeanLogprob, 1.5), Error);
  EXPECT_THROW(calibrate({-1.0}, ConfidenceRule::MeanLogprob, -0.1), Error);
  EXPECT_THROW(calibrate({std::nan("")}, ConfidenceRule::MeanLogprob, 0.5), Error);
  EXPECT_THROW(parse_confidence_rule("vibes"), Error);
  EXPECT_EQ(parse_confidence_rule("entropy"), ConfidenceRule::MeanEntropy);
  EXPECT_STREQ(flag_name(ConfidenceRule::MinLogprob), "--min-token-logprob");
}

}  // namespace
}  // namespace bantam::hybrid
