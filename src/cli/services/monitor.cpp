// `bantam monitor --canary TASKS [NAME] [--interval S] [--count N]` and
// `bantam status [NAME] [--json] [--auto-rollback]`: watching installed versions for drift.
#include <chrono>
#include <ctime>
#include <thread>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bantam/error.hpp"
#include "cli/commands.hpp"
#include "cli/services/hub_common.hpp"
#include "hub/monitoring.hpp"

namespace bantam::cli {
namespace {

void add_drift_options(CLI::App* cmd, hub::DriftThresholds& t, bool& auto_rollback) {
  cmd->add_option("--max-score-drop", t.max_score_drop,
                  "Flag a version whose canary quality is this many percent worse than its baseline (default 5)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-p95-rise", t.max_p95_rise,
                  "Flag a version whose p95 latency is this many percent above its baseline (default 50)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-error-rate", t.max_error_rate,
                  "Flag a version failing more than this percent of served requests (default 5)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--auto-rollback", auto_rollback,
                "Roll a flagged active version back to the previous one (logged on stderr and in the catalog)");
}

std::vector<hub::InstalledModel> selected_models(const hub::Store& store, const std::string& name) {
  if (name.empty()) return store.list();
  auto model = store.find(name);
  if (!model) throw Error(fmt::format("no model named {} is installed in {}", name, store.dir().string()));
  return {std::move(*model)};
}

std::string figures_line(const hub::MetricRun& run) {
  std::string out;
  if (const auto q = run.value(hub::figure::kQuality)) out += fmt::format("  {} {:.4g}", run.quality_metric, *q);
  if (const auto v = run.value(hub::figure::kRequests)) {
    out += fmt::format("  {:g} requests, {:g} errors", *v, run.value(hub::figure::kErrors).value_or(0));
  }
  if (const auto v = run.value(hub::figure::kTtftP50)) out += fmt::format("  ttft p50 {:.1f} ms", *v);
  if (const auto v = run.value(hub::figure::kTtftP95)) out += fmt::format("  ttft p95 {:.1f} ms", *v);
  if (const auto v = run.value(hub::figure::kLatencyP95)) out += fmt::format("  p95 {:.1f} ms", *v);
  if (const auto v = run.value(hub::figure::kTokensPerSecond)) out += fmt::format("  {:.1f} tok/s", *v);
  return out;
}

std::string when(int64_t unix_seconds) {
  return fmt::format("{:%Y-%m-%d %H:%M:%S}", fmt::gmtime(static_cast<std::time_t>(unix_seconds)));
}

void print_version(const hub::VersionHealth& v, const char* status) {
  fmt::print("  {} {} ({})\n", v.version.version, v.version.sha256.substr(0, 12), status);
  const std::pair<const char*, const std::optional<hub::MetricRun>*> rows[] = {
      {"baseline", &v.canary_baseline}, {"canary", &v.canary}, {"serving from", &v.serving_baseline},
      {"serving", &v.serving}};
  bool any = false;
  for (const auto& [label, run] : rows) {
    if (!*run) continue;
    any = true;
    fmt::print("    {:<13}{} ({} at {})\n", label, figures_line(**run), (*run)->kind, when((*run)->recorded_at));
  }
  if (!any) fmt::print("    no canary or serving figures yet\n");
  for (const auto& d : v.drift) fmt::print("    DRIFT: {}\n", d);
}

// Rolls back flagged models when asked; says so on stderr.
void act_on_drift(hub::Store& store, const hub::ModelHealth& health, bool auto_rollback) {
  if (health.active.drift.empty()) return;
  if (!auto_rollback) {
    for (const auto& d : health.active.drift) {
      fmt::print(stderr, "bantam: {} {} drifts: {}\n", health.name, health.active.version.version, d);
    }
    return;
  }
  if (const auto message = hub::rollback_on_drift(store, health)) fmt::print(stderr, "bantam: {}\n", *message);
}

void add_monitor(CLI::App& app) {
  struct Options {
    std::string name;
    hub::EvaluationOptions canary;
    double interval = 0;
    int count = 0;
    hub::DriftThresholds thresholds;
    bool auto_rollback = false;
    StoreOption store;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("monitor", "Run a canary task set on active versions and record the figures");
  cmd->add_option("name", opts->name, "Only this model (default: all)");
  add_evaluation_options(cmd, opts->canary, "--canary", "JSONL task set (as `bantam eval --tasks`)");
  cmd->get_option("--canary")->required();
  cmd->add_option("--interval", opts->interval, "Seconds between canary runs (default: run once)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--count", opts->count, "Number of runs (default: 1, or forever with --interval)")
      ->check(CLI::NonNegativeNumber);
  add_drift_options(cmd, opts->thresholds, opts->auto_rollback);
  add_store_option(cmd, opts->store);
  cmd->callback([opts] {
    if (!hub::fs::is_regular_file(opts->canary.tasks_file)) {
      throw Error(fmt::format("--canary {}: no such file", opts->canary.tasks_file.string()));
    }
    hub::Store store = hub::Store::open(opts->store.path());
    const int runs = opts->count > 0 ? opts->count : (opts->interval > 0 ? 0 : 1);
    for (int round = 0; runs == 0 || round < runs; ++round) {
      if (round > 0) std::this_thread::sleep_for(std::chrono::duration<double>(opts->interval));
      const auto models = selected_models(store, opts->name);
      if (models.empty()) fmt::print("no models installed\n");
      for (const auto& model : models) {
        const auto run = hub::run_canary(store, model.name, opts->canary);
        fmt::print("canary {} {}:{}\n", model.name, model.active.version, figures_line(run));
        std::fflush(stdout);
        act_on_drift(store, hub::assess_model(store, *store.find(model.name), opts->thresholds),
                     opts->auto_rollback);
      }
    }
  });
}

void add_status(CLI::App& app) {
  struct Options {
    std::string name;
    bool json = false;
    hub::DriftThresholds thresholds;
    bool auto_rollback = false;
    StoreOption store;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("status", "Active and previous versions with their baseline and recent figures");
  cmd->add_option("name", opts->name, "Only this model (default: all)");
  cmd->add_flag("--json", opts->json, "Print a JSON array");
  add_drift_options(cmd, opts->thresholds, opts->auto_rollback);
  add_store_option(cmd, opts->store);
  cmd->callback([opts] {
    hub::Store store = hub::Store::open(opts->store.path());
    nlohmann::json out = nlohmann::json::array();
    const auto models = selected_models(store, opts->name);
    if (models.empty() && !opts->json) fmt::print("no models in {} (use `bantam pull`)\n", store.dir().string());
    for (const auto& model : models) {
      const auto health = hub::assess_model(store, model, opts->thresholds);
      if (opts->json) {
        out.push_back(hub::health_json(health));
      } else {
        fmt::print("{}{}\n", model.name, health.active.drift.empty() ? "" : "  [DRIFT]");
        print_version(health.active, "active");
        if (health.previous) print_version(*health.previous, "previous");
      }
      act_on_drift(store, health, opts->auto_rollback);
      const auto events = store.catalog().events(model.name);
      if (opts->json) {
        nlohmann::json log = nlohmann::json::array();
        for (const auto& e : events) log.push_back({{"recorded_at", e.recorded_at}, {"message", e.message}});
        out.back()["events"] = log;
        if (opts->auto_rollback && !health.active.drift.empty()) out.back()["active_now"] = store.find(model.name)->active.version;
        continue;
      }
      // The last few, enough to see why the active version is what it is.
      constexpr size_t kShownEvents = 3;
      for (size_t i = events.size() > kShownEvents ? events.size() - kShownEvents : 0; i < events.size(); ++i) {
        fmt::print("  event {}: {}\n", when(events[i].recorded_at), events[i].message);
      }
    }
    if (opts->json) fmt::print("{}\n", out.dump(2));
  });
}

}  // namespace

void add_monitor_commands(CLI::App& app) {
  add_monitor(app);
  add_status(app);
}

}  // namespace bantam::cli
