#include "hybrid/calibration.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "bantam/error.hpp"

namespace bantam::hybrid {

ConfidenceRule parse_confidence_rule(std::string_view text) {
  if (text == "mean-logprob") return ConfidenceRule::MeanLogprob;
  if (text == "min-logprob") return ConfidenceRule::MinLogprob;
  if (text == "entropy") return ConfidenceRule::MeanEntropy;
  throw Error(fmt::format("confidence rule '{}' is not mean-logprob, min-logprob or entropy", text));
}

const char* to_string(ConfidenceRule rule) {
  switch (rule) {
    case ConfidenceRule::MeanLogprob: return "mean-logprob";
    case ConfidenceRule::MinLogprob: return "min-logprob";
    case ConfidenceRule::MeanEntropy: return "entropy";
  }
  return "?";
}

const char* flag_name(ConfidenceRule rule) {
  switch (rule) {
    case ConfidenceRule::MeanLogprob: return "--min-mean-logprob";
    case ConfidenceRule::MinLogprob: return "--min-token-logprob";
    case ConfidenceRule::MeanEntropy: return "--max-mean-entropy";
  }
  return "?";
}

double confidence_value(const Confidence& confidence, ConfidenceRule rule) {
  switch (rule) {
    case ConfidenceRule::MeanLogprob: return confidence.mean_logprob;
    case ConfidenceRule::MinLogprob: return confidence.min_logprob;
    case ConfidenceRule::MeanEntropy: return confidence.mean_entropy;
  }
  return 0;
}

bool escalates(ConfidenceRule rule, double value, double threshold) {
  return rule == ConfidenceRule::MeanEntropy ? value > threshold : value < threshold;
}

Calibration calibrate(std::vector<double> values, ConfidenceRule rule, double target_rate) {
  if (values.empty()) throw Error("calibration: no measured answers");
  if (!(target_rate >= 0 && target_rate <= 1))
    throw Error(fmt::format("calibration: target rate {} is not between 0 and 1", target_rate));
  for (double v : values)
    if (!std::isfinite(v)) throw Error("calibration: a measured confidence is not finite");
  // Order from most to least escalation-worthy: lowest log-probabilities, highest entropies first.
  const bool high_escalates = rule == ConfidenceRule::MeanEntropy;
  std::sort(values.begin(), values.end(), [&](double a, double b) { return high_escalates ? a > b : a < b; });
  const size_t n = values.size();
  const auto k = static_cast<size_t>(std::llround(target_rate * static_cast<double>(n)));
  // A margin past the extremes so that "escalate none" and "escalate all" hold strictly.
  const double margin = 1e-6 + 1e-6 * std::fabs(values.back()) + 1e-6 * std::fabs(values.front());
  Calibration out;
  if (k == 0) {
    out.threshold = high_escalates ? values.front() + margin : values.front() - margin;
  } else if (k >= n) {
    out.threshold = high_escalates ? values.back() - margin : values.back() + margin;
  } else {
    out.threshold = (values[k - 1] + values[k]) / 2;
  }
  out.total = n;
  out.escalated = static_cast<size_t>(
      std::count_if(values.begin(), values.end(), [&](double v) { return escalates(rule, v, out.threshold); }));
  return out;
}

}  // namespace bantam::hybrid
