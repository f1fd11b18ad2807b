// Picking a confidence threshold from measured local answers, so that the auto policy escalates a
// chosen share of requests like them (`bantam route-calibrate`), and scoring an escalation rule on
// such measurements.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "hybrid/router.hpp"

namespace bantam::hybrid {

// Which of the confidence numbers a threshold applies to.
enum class ConfidenceRule { MeanLogprob, MinLogprob, MeanEntropy };
ConfidenceRule parse_confidence_rule(std::string_view text);  // "mean-logprob" | "min-logprob" | "entropy"
const char* to_string(ConfidenceRule rule);
// The serve flag that sets the rule's threshold, e.g. "--min-mean-logprob".
const char* flag_name(ConfidenceRule rule);

double confidence_value(const Confidence& confidence, ConfidenceRule rule);
// Whether the router escalates an answer with this value: log-probabilities below the threshold,
// entropy above it (the comparisons after_local makes).
bool escalates(ConfidenceRule rule, double value, double threshold);

struct Calibration {
  double threshold = 0;
  size_t escalated = 0;  // how many of the values the threshold escalates
  size_t total = 0;
  double rate() const { return total == 0 ? 0.0 : static_cast<double>(escalated) / static_cast<double>(total); }
};

// The threshold that escalates round(target_rate * n) of the values: halfway between the last
// value escalated and the first kept (ties may make the achieved rate differ; it is reported).
// Throws bantam::Error for no values, a non-finite value or a rate outside [0, 1].
Calibration calibrate(std::vector<double> values, ConfidenceRule rule, double target_rate);

}  // namespace bantam::hybrid
