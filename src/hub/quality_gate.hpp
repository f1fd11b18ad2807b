// The A/B gate of `bantam update --evaluate`: the active version and the candidate run the same
// task set; the candidate is activated only when neither its quality nor its latency regresses
// beyond the thresholds. Both measurements are kept in the catalog as kind "gate" runs, so the
// active version always has the baseline it was admitted with.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hub/client.hpp"
#include "hub/evaluation.hpp"

namespace bantam::hub {

struct GateThresholds {
  double max_quality_drop = 2.0;   // percent worse quality (perplexity up, scores down)
  double max_latency_rise = 25.0;  // percent more time to first token or per generated token
};

// One compared figure. `change` is in percent, positive when the candidate is worse.
struct GateCheck {
  std::string figure;  // "quality (perplexity)", "ttft_ms_p50", "ms_per_token"
  double baseline = 0;
  double candidate = 0;
  double change = 0;
  double limit = 0;
  bool regressed = false;
};

struct GateResult {
  std::vector<GateCheck> checks;
  bool passed() const;
  std::string reasons() const;  // "quality (perplexity) 812.1% worse (limit 2%); ..."
};

// Compares two runs of the same task set and metric. Latency figures missing from either run
// are not compared.
GateResult compare_runs(const MetricRun& baseline, const MetricRun& candidate, const GateThresholds& thresholds);

struct GateOutcome {
  std::string name;
  std::string baseline_version;
  std::string candidate_version;
  MetricRun baseline;
  MetricRun candidate;
  GateResult result;
  bool activated = false;
};

// Stages `offer` (downloaded and verified, not active), evaluates the active version of `model`
// and the candidate, and activates the candidate when it passes. Records the gate runs (the
// active version's always, the candidate's when activated) and logs the decision as an event.
GateOutcome gated_update(Store& store, const std::string& hub_url, const InstalledModel& model,
                         const ModelTarget& offer, const ClientOptions& client,
                         const EvaluationOptions& evaluation, const GateThresholds& thresholds);

std::string gate_table(const GateOutcome& outcome);
nlohmann::json gate_json(const GateOutcome& outcome);

}  // namespace bantam::hub
