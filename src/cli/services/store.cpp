// `bantam list`, `bantam rm NAME`, `bantam update [NAME] [--check] [--evaluate TASKS]`,
// `bantam rollback NAME`: the device's model store.
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bantam/error.hpp"
#include "cli/commands.hpp"
#include "cli/services/hub_common.hpp"
#include "hub/client.hpp"
#include "hub/quality_gate.hpp"

namespace bantam::cli {
namespace {

nlohmann::json version_json(const hub::InstalledVersion& v, const char* status) {
  return {{"name", v.name},           {"version", v.version},       {"sha256", v.sha256},
          {"size", v.size},           {"architecture", v.architecture}, {"gguf_type", v.gguf_type},
          {"source", v.source},       {"installed_at", v.installed_at}, {"status", status}};
}

void add_list(CLI::App& app) {
  struct Options {
    StoreOption store;
    bool json = false;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("list", "List installed models (active and previous versions)");
  add_store_option(cmd, opts->store);
  cmd->add_flag("--json", opts->json, "Print a JSON array");
  cmd->callback([opts] {
    const hub::Store store = hub::Store::open(opts->store.path());
    const auto models = store.list();
    if (opts->json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& m : models) {
        out.push_back(version_json(m.active, "active"));
        if (m.previous) out.push_back(version_json(*m.previous, "previous"));
      }
      fmt::print("{}\n", out.dump(2));
      return;
    }
    if (models.empty()) {
      fmt::print("no models in {} (use `bantam pull`)\n", store.dir().string());
      return;
    }
    fmt::print("{:<24} {:<12} {:<14} {:>10}  {}\n", "NAME", "VERSION", "SHA256", "SIZE", "STATUS");
    for (const auto& m : models) {
      for (const auto* v : {&m.active, m.previous ? &*m.previous : nullptr}) {
        if (!v) continue;
        fmt::print("{:<24} {:<12} {:<14} {:>10}  {}\n", v->name, v->version, v->sha256.substr(0, 12),
                   v->size, v == &m.active ? "active" : "previous");
      }
    }
  });
}

void add_rm(CLI::App& app) {
  struct Options {
    std::string name;
    StoreOption store;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("rm", "Remove a model (all its versions, or NAME:VERSION only) from the store");
  cmd->add_option("name", opts->name, "NAME or NAME:VERSION")->required();
  add_store_option(cmd, opts->store);
  cmd->callback([opts] {
    hub::Store store = hub::Store::open(opts->store.path());
    const auto lock = store.lock();
    if (const auto colon = opts->name.find(':'); colon != std::string::npos) {
      store.remove_version(opts->name.substr(0, colon), opts->name.substr(colon + 1));
    } else {
      store.remove(opts->name);
    }
    const auto gc = store.collect_garbage(hub::kPartialMaxAge);
    fmt::print("removed {} ({} file(s) deleted)\n", opts->name, gc.removed_blobs.size());
  });
}

void add_rollback(CLI::App& app) {
  struct Options {
    std::string name;
    StoreOption store;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("rollback", "Make the previous version of a model active again");
  cmd->add_option("name", opts->name, "Model name")->required();
  add_store_option(cmd, opts->store);
  cmd->callback([opts] {
    hub::Store store = hub::Store::open(opts->store.path());
    const auto lock = store.lock();
    const auto model = store.rollback(opts->name);
    fmt::print("rolled back {} from {} to {}\n", model.name, model.previous->version, model.active.version);
  });
}

void add_update(CLI::App& app) {
  struct Options {
    std::string name;
    std::string hub;
    bool check = false;
    bool json = false;
    hub::EvaluationOptions evaluation;
    hub::GateThresholds gate;
    StoreOption store;
    NetworkOptions net;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("update", "Install newer versions of installed models from their hub");
  cmd->add_option("name", opts->name, "Only this model (default: all)");
  cmd->add_option("--hub", opts->hub, "Hub URL (default: where each model came from, then STORE/config.json)");
  cmd->add_flag("--check", opts->check, "Only say what is available");
  add_evaluation_options(cmd, opts->evaluation, "--evaluate",
                         "A/B gate: run the active and the new version on this JSONL task set and activate the new "
                         "one only if it does not regress");
  cmd->add_option("--max-quality-drop", opts->gate.max_quality_drop,
                  "Percent worse quality the gate accepts (default 2)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-latency-rise", opts->gate.max_latency_rise,
                  "Percent more time to first token or per token the gate accepts (default 25)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", opts->json, "With --evaluate: print the gate comparisons as JSON (messages go to stderr)");
  add_store_option(cmd, opts->store);
  add_network_options(cmd, opts->net);
  cmd->callback([opts] {
    const bool gated = !opts->evaluation.tasks_file.empty();
    if (gated && !hub::fs::is_regular_file(opts->evaluation.tasks_file)) {
      throw Error(fmt::format("--evaluate {}: no such file", opts->evaluation.tasks_file.string()));
    }
    // With --json, stdout carries only the JSON.
    std::FILE* text = opts->json && gated ? stderr : stdout;
    nlohmann::json gates = nlohmann::json::array();
    std::vector<std::string> refused;
    hub::Store store = hub::Store::open(opts->store.path());
    std::vector<hub::InstalledModel> models;
    if (!opts->name.empty()) {
      auto model = store.find(opts->name);
      if (!model) throw Error(fmt::format("no model named {} is installed", opts->name));
      models.push_back(std::move(*model));
    } else {
      models = store.list();
    }
    if (models.empty()) fmt::print(text, "no models installed\n");
    hub::ClientOptions client;
    client.fetch = opts->net.fetch_options();
    std::map<std::string, hub::TargetsMeta> verified;  // one metadata refresh per hub
    for (const auto& model : models) {
      std::string hub_url = !opts->hub.empty() ? opts->hub : model.hub;
      if (hub_url.empty() && model.active.source.starts_with("hf://")) {
        fmt::print(text, "{} came from {}; pull it again to update it\n", model.name, model.active.source);
        continue;
      }
      if (hub_url.empty()) hub_url = store.configured_hub().value_or("");
      if (hub_url.empty()) throw Error(fmt::format("no hub known for {}: pass --hub URL", model.name));
      hub_url = hub::normalize_hub_url(hub_url);
      if (!verified.contains(hub_url)) verified.emplace(hub_url, hub::refresh_metadata(store, hub_url, client));
      const auto check = hub::check_update(store, model, verified.at(hub_url));
      for (const auto& notice : check.notices) fmt::print(text, "{}\n", notice);
      if (!check.offer) {
        fmt::print(text, "{} {} is up to date\n", model.name, model.active.version);
        continue;
      }
      const auto& offer = *check.offer;
      fmt::print(text, "new version {} of {} available (installed: {})\n", offer.version, offer.name,
                 model.active.version);
      if (!offer.notes.empty()) fmt::print(text, "release notes: {}\n", offer.notes);
      if (opts->check) continue;
      ProgressBar bar("updating " + offer.label());
      client.fetch.progress = [&bar](uint64_t done, uint64_t total) { bar(done, total); };
      if (!gated) {
        hub::apply_update(store, hub_url, offer, client);
        client.fetch.progress = nullptr;
        fmt::print(text, "updated {} from {} to {}\n", offer.name, model.active.version, offer.version);
        continue;
      }
      const auto outcome = hub::gated_update(store, hub_url, model, offer, client, opts->evaluation, opts->gate);
      client.fetch.progress = nullptr;
      fmt::print(text, "{}", hub::gate_table(outcome));
      gates.push_back(hub::gate_json(outcome));
      if (outcome.activated) {
        fmt::print(text, "updated {} from {} to {}\n", offer.name, model.active.version, offer.version);
      } else {
        refused.push_back(fmt::format("{} {} ({})", offer.name, offer.version, outcome.result.reasons()));
      }
    }
    if (opts->json && gated) fmt::print("{}\n", gates.dump(2));
    if (!refused.empty()) {
      std::string list;
      for (const auto& r : refused) list += (list.empty() ? "" : ", ") + r;
      throw Error(fmt::format("the A/B gate refused {}", list));
    }
  });
}

}  // namespace

void add_store_commands(CLI::App& app) {
  add_list(app);
  add_rm(app);
  add_update(app);
  add_rollback(app);
}

}  // namespace bantam::cli
