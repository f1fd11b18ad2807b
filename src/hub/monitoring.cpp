#include "hub/monitoring.hpp"

#include <fmt/format.h>

#include "bantam/error.hpp"

namespace bantam::hub {
namespace {

bool same_task_set(const MetricRun& a, const MetricRun& b) {
  return a.tasks_sha256 == b.tasks_sha256 && a.quality_metric == b.quality_metric;
}

// The figure of `recent` is `limit` percent worse than the baseline's, or more.
void check_figure(std::vector<std::string>& drift, const char* what, const MetricRun& baseline,
                  const MetricRun& recent, const char* key, bool higher_better, double limit) {
  const auto b = baseline.value(key), r = recent.value(key);
  if (!b || !r) return;
  const double change = worse_percent(*b, *r, higher_better);
  if (change > limit) {
    drift.push_back(fmt::format("{} {:.1f}% worse than its baseline ({:.4g} -> {:.4g}, limit {:g}%)", what, change,
                                *b, *r, limit));
  }
}

nlohmann::json run_json(const std::optional<MetricRun>& run) {
  if (!run) return nullptr;
  nlohmann::json figures = nlohmann::json::object();
  for (const auto& [key, value] : run->values) figures[key] = value;
  nlohmann::json out = {{"kind", run->kind}, {"recorded_at", run->recorded_at}, {"figures", figures}};
  if (!run->quality_metric.empty()) out["metric"] = run->quality_metric;
  if (!run->tasks_sha256.empty()) out["tasks_sha256"] = run->tasks_sha256;
  return out;
}

nlohmann::json version_health_json(const VersionHealth& v) {
  return {{"version", v.version.version},
          {"sha256", v.version.sha256},
          {"canary_baseline", run_json(v.canary_baseline)},
          {"canary", run_json(v.canary)},
          {"serving_baseline", run_json(v.serving_baseline)},
          {"serving", run_json(v.serving)},
          {"drift", v.drift},
          {"flagged", !v.drift.empty()}};
}

}  // namespace

MetricRun run_canary(Store& store, const std::string& name, const EvaluationOptions& canary) {
  const auto model = store.find(name);
  if (!model) throw Error(fmt::format("no model named {} is installed", name));
  MetricRun run;
  {
    const ModelLease active = lease_model(name + ":" + model->active.version, store.dir());
    run = evaluate_model(active.path, canary);
  }
  run.kind = "canary";
  run.id = store.catalog().record_run(model->active.id, run);
  return run;
}

ServingRecorder::ServingRecorder(const std::filesystem::path& store_dir) : store_(Store::open(store_dir)) {}

void ServingRecorder::record(const std::string& name, const std::string& version, const ServingWindow& window) {
  MetricRun run;
  run.kind = "serve";
  run.values[figure::kRequests] = static_cast<double>(window.requests);
  run.values[figure::kErrors] = static_cast<double>(window.errors);
  if (window.ttft_ms_p95) run.values[figure::kTtftP95] = *window.ttft_ms_p95;
  if (window.latency_ms_p95) run.values[figure::kLatencyP95] = *window.latency_ms_p95;
  if (window.tokens_per_s) run.values[figure::kTokensPerSecond] = *window.tokens_per_s;
  const std::lock_guard lock(mutex_);
  const auto installed = store_.catalog().find_version(name, version);
  if (!installed) throw Error(fmt::format("{}:{} is not installed in {}", name, version, store_.dir().string()));
  store_.catalog().record_run(installed->id, run);
}

VersionHealth assess_version(const Catalog& catalog, const InstalledVersion& version, const DriftThresholds& t) {
  VersionHealth h;
  h.version = version;
  const auto canaries = catalog.runs(version.id, "canary");
  if (!canaries.empty()) {
    h.canary = canaries.back();
    for (const auto& gate : catalog.runs(version.id, "gate")) {
      if (same_task_set(gate, *h.canary)) h.canary_baseline = gate;
    }
    if (!h.canary_baseline) {
      for (const auto& earlier : canaries) {
        if (earlier.id == h.canary->id || !same_task_set(earlier, *h.canary)) continue;
        h.canary_baseline = earlier;
        break;
      }
    }
    if (h.canary_baseline) {
      const std::string score = fmt::format("canary {}", h.canary->quality_metric);
      check_figure(h.drift, score.c_str(), *h.canary_baseline, *h.canary, figure::kQuality,
                   higher_is_better(h.canary->quality_metric), t.max_score_drop);
      check_figure(h.drift, "canary p95 latency", *h.canary_baseline, *h.canary, figure::kLatencyP95, false,
                   t.max_p95_rise);
    }
  }
  const auto windows = catalog.runs(version.id, "serve");
  if (!windows.empty()) {
    h.serving = windows.back();
    if (windows.size() > 1) {
      h.serving_baseline = windows.front();
      check_figure(h.drift, "serving p95 latency", *h.serving_baseline, *h.serving, figure::kLatencyP95, false,
                   t.max_p95_rise);
    }
    const double requests = h.serving->value(figure::kRequests).value_or(0);
    const double errors = h.serving->value(figure::kErrors).value_or(0);
    if (requests > 0 && 100.0 * errors / requests > t.max_error_rate) {
      h.drift.push_back(fmt::format("serving error rate {:.1f}% ({:g} of {:g} requests, limit {:g}%)",
                                    100.0 * errors / requests, errors, requests, t.max_error_rate));
    }
  }
  return h;
}

ModelHealth assess_model(const Store& store, const InstalledModel& model, const DriftThresholds& t) {
  ModelHealth h{model.name, assess_version(store.catalog(), model.active, t), std::nullopt};
  if (model.previous) h.previous = assess_version(store.catalog(), *model.previous, t);
  return h;
}

std::optional<std::string> rollback_on_drift(Store& store, const ModelHealth& health) {
  if (health.active.drift.empty()) return std::nullopt;
  std::string why;
  for (const auto& d : health.active.drift) why += (why.empty() ? "" : "; ") + d;
  std::string message;
  if (!health.previous) {
    message = fmt::format("{} {} drifts ({}) but has no previous version to roll back to", health.name,
                          health.active.version.version, why);
  } else {
    const auto lock = store.lock();
    const auto current = store.find(health.name);
    if (!current || current->active.id != health.active.version.id) {
      return fmt::format("{} changed while it was assessed; not rolled back", health.name);
    }
    store.rollback(health.name);
    message = fmt::format("rolled back {} from {} to {}: {}", health.name, health.active.version.version,
                          health.previous->version.version, why);
  }
  store.catalog().log_event(health.name, message);
  return message;
}

nlohmann::json health_json(const ModelHealth& health) {
  return {{"name", health.name},
          {"active", version_health_json(health.active)},
          {"previous", health.previous ? version_health_json(*health.previous) : nlohmann::json(nullptr)},
          {"flagged", !health.active.drift.empty()}};
}

}  // namespace bantam::hub
