// Watching installed versions after activation: canary runs (`bantam monitor`), serving figures
// a server records, drift detection against each version's baseline (`bantam status`) and the
// automatic rollback of a drifting version.
//
// Baselines: a canary run is compared with the version's latest gate run on the same task set
// and metric, else with its first canary run on them; a serving window with the version's first
// serving window.
#pragma once

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hub/evaluation.hpp"
#include "hub/store.hpp"

namespace bantam::hub {

// Evaluates the active version of `name` on a canary task set and records it as a "canary" run.
MetricRun run_canary(Store& store, const std::string& name, const EvaluationOptions& canary);

// Figures a server aggregated over one window of requests to one model version.
struct ServingWindow {
  uint64_t requests = 0;
  uint64_t errors = 0;  // requests that failed (the server's 5xx answers)
  std::optional<double> ttft_ms_p95;
  std::optional<double> latency_ms_p95;
  std::optional<double> tokens_per_s;
};

// For `bantam serve`: records per-version serving figures in the store's catalog, e.g. once a
// minute per model being served. Thread-safe; each call is one short SQLite transaction.
class ServingRecorder {
 public:
  explicit ServingRecorder(const std::filesystem::path& store_dir);
  // Throws Error when NAME:VERSION is not installed (any more).
  void record(const std::string& name, const std::string& version, const ServingWindow& window);

 private:
  std::mutex mutex_;  // one catalog connection, one transaction at a time
  Store store_;
};

struct DriftThresholds {
  double max_score_drop = 5.0;  // percent worse canary quality than the baseline
  double max_p95_rise = 50.0;   // percent higher p95 latency than the baseline
  double max_error_rate = 5.0;  // percent of failed requests in the latest serving window
};

struct VersionHealth {
  InstalledVersion version;
  std::optional<MetricRun> canary_baseline;
  std::optional<MetricRun> canary;  // the latest canary run
  std::optional<MetricRun> serving_baseline;
  std::optional<MetricRun> serving;  // the latest serving window
  std::vector<std::string> drift;   // why this version is flagged; empty when healthy
};

struct ModelHealth {
  std::string name;
  VersionHealth active;
  std::optional<VersionHealth> previous;
};

VersionHealth assess_version(const Catalog& catalog, const InstalledVersion& version, const DriftThresholds& t);
ModelHealth assess_model(const Store& store, const InstalledModel& model, const DriftThresholds& t);

// When the active version drifts and a previous one is installed: rolls back, logs why in the
// catalog and returns the message; nullopt when nothing was done. Takes the store lock.
std::optional<std::string> rollback_on_drift(Store& store, const ModelHealth& health);

nlohmann::json health_json(const ModelHealth& health);

}  // namespace bantam::hub
