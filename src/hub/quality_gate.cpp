#include "hub/quality_gate.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "bantam/error.hpp"

namespace bantam::hub {
namespace {

GateCheck make_check(std::string figure, double baseline, double candidate, bool higher_better, double limit) {
  GateCheck c{std::move(figure), baseline, candidate, worse_percent(baseline, candidate, higher_better), limit};
  c.regressed = c.change > limit;
  return c;
}

}  // namespace

bool GateResult::passed() const {
  return std::none_of(checks.begin(), checks.end(), [](const GateCheck& c) { return c.regressed; });
}

std::string GateResult::reasons() const {
  std::string out;
  for (const auto& c : checks) {
    if (!c.regressed) continue;
    if (!out.empty()) out += "; ";
    out += fmt::format("{} {:.1f}% worse (limit {:g}%)", c.figure, c.change, c.limit);
  }
  return out;
}

GateResult compare_runs(const MetricRun& baseline, const MetricRun& candidate, const GateThresholds& t) {
  if (baseline.quality_metric != candidate.quality_metric || baseline.tasks_sha256 != candidate.tasks_sha256) {
    throw Error(fmt::format("cannot compare a {} run on tasks {} with a {} run on tasks {}", baseline.quality_metric,
                            baseline.tasks_sha256.substr(0, 12), candidate.quality_metric,
                            candidate.tasks_sha256.substr(0, 12)));
  }
  GateResult result;
  const auto quality_b = baseline.value(figure::kQuality), quality_c = candidate.value(figure::kQuality);
  if (!quality_b || !quality_c) throw Error("an A/B gate run lacks its quality figure");
  result.checks.push_back(make_check(fmt::format("quality ({})", baseline.quality_metric), *quality_b, *quality_c,
                                     higher_is_better(baseline.quality_metric), t.max_quality_drop));
  if (const auto b = baseline.value(figure::kTtftP50), c = candidate.value(figure::kTtftP50); b && c) {
    result.checks.push_back(make_check(figure::kTtftP50, *b, *c, false, t.max_latency_rise));
  }
  const auto tps_b = baseline.value(figure::kTokensPerSecond), tps_c = candidate.value(figure::kTokensPerSecond);
  if (tps_b && tps_c && *tps_b > 0 && *tps_c > 0) {
    result.checks.push_back(make_check("ms_per_token", 1000.0 / *tps_b, 1000.0 / *tps_c, false, t.max_latency_rise));
  }
  return result;
}

GateOutcome gated_update(Store& store, const std::string& hub_url, const InstalledModel& model,
                         const ModelTarget& offer, const ClientOptions& client, const EvaluationOptions& evaluation,
                         const GateThresholds& thresholds) {
  GateOutcome out;
  out.name = model.name;
  out.baseline_version = model.active.version;
  out.candidate_version = offer.version;
  StagedModel staged = stage_update(store, hub_url, offer, client);
  try {
    // The shared lock keeps garbage collection off the active file while it runs.
    const ModelLease active = lease_model(model.name + ":" + model.active.version, store.dir());
    auto runs = evaluate_models({active.path, staged.file}, evaluation);
    out.baseline = std::move(runs[0]);
    out.candidate = std::move(runs[1]);
  } catch (...) {
    discard_staged(store, std::move(staged));
    throw;
  }
  out.baseline.kind = out.candidate.kind = "gate";
  out.result = compare_runs(out.baseline, out.candidate, thresholds);
  store.catalog().record_run(model.active.id, out.baseline);
  if (!out.result.passed()) {
    discard_staged(store, std::move(staged));
    store.catalog().log_event(model.name, fmt::format("A/B gate refused {} (active {} kept): {}", offer.version,
                                                      model.active.version, out.result.reasons()));
    return out;
  }
  activate_staged(store, std::move(staged));
  out.activated = true;
  const auto installed = store.catalog().find_version(model.name, offer.version);
  if (!installed) throw Error(fmt::format("{} {} vanished from the catalog after activation", model.name, offer.version));
  store.catalog().record_run(installed->id, out.candidate);
  store.catalog().log_event(model.name, fmt::format("A/B gate activated {} (was {})", offer.version,
                                                    model.active.version));
  return out;
}

std::string gate_table(const GateOutcome& o) {
  std::string out = fmt::format("A/B gate for {}: {} (active) vs {} (candidate)\n", o.name, o.baseline_version,
                                o.candidate_version);
  out += fmt::format("{:<22} {:>12} {:>12} {:>10} {:>8}\n", "FIGURE", o.baseline_version, o.candidate_version,
                     "WORSE BY", "LIMIT");
  for (const auto& c : o.result.checks) {
    out += fmt::format("{:<22} {:>12.4g} {:>12.4g} {:>9.1f}% {:>7g}%{}\n", c.figure, c.baseline, c.candidate,
                       c.change, c.limit, c.regressed ? "  REGRESSED" : "");
  }
  if (o.activated) {
    out += fmt::format("activated {} {}\n", o.name, o.candidate_version);
  } else {
    out += fmt::format("refused {} {}: {}; {} stays active\n", o.name, o.candidate_version, o.result.reasons(),
                       o.baseline_version);
  }
  return out;
}

nlohmann::json gate_json(const GateOutcome& o) {
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& c : o.result.checks) {
    checks.push_back({{"figure", c.figure},
                      {"baseline", c.baseline},
                      {"candidate", c.candidate},
                      {"worse_by_percent", c.change},
                      {"limit_percent", c.limit},
                      {"regressed", c.regressed}});
  }
  return {{"name", o.name},
          {"baseline_version", o.baseline_version},
          {"candidate_version", o.candidate_version},
          {"metric", o.baseline.quality_metric},
          {"checks", checks},
          {"activated", o.activated},
          {"reasons", o.result.reasons()}};
}

}  // namespace bantam::hub
