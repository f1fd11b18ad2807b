// Options and output shared by the model-store subcommands (hub, pull, list, rm, update, rollback,
// monitor, status).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/progress.hpp"
#include "hub/evaluation.hpp"
#include "hub/fetch.hpp"
#include "hub/store.hpp"

namespace bantam::cli {

struct StoreOption {
  std::string dir;
  hub::fs::path path() const { return dir.empty() ? hub::default_store_dir() : hub::fs::path(dir); }
};

inline void add_store_option(CLI::App* cmd, StoreOption& store) {
  cmd->add_option("--store", store.dir, "Model store folder (default: $XDG_DATA_HOME/bantam or ~/.local/share/bantam)");
}

struct NetworkOptions {
  hub::FetchOptions defaults;
  uint64_t low_speed_limit = defaults.low_speed_limit;
  int64_t low_speed_time = defaults.low_speed_time.count();
  int64_t download_deadline = defaults.download_deadline.count();
  int64_t connect_timeout = defaults.connect_timeout.count();

  hub::FetchOptions fetch_options() const {
    hub::FetchOptions o;
    o.low_speed_limit = low_speed_limit;
    o.low_speed_time = std::chrono::seconds(low_speed_time);
    o.download_deadline = std::chrono::seconds(download_deadline);
    o.connect_timeout = std::chrono::seconds(connect_timeout);
    return o;
  }
};

inline void add_network_options(CLI::App* cmd, NetworkOptions& net) {
  cmd->add_option("--low-speed-limit", net.low_speed_limit,
                  fmt::format("Abandon a transfer slower than this many bytes/s for --low-speed-time (default {})",
                              net.low_speed_limit));
  cmd->add_option("--low-speed-time", net.low_speed_time,
                  fmt::format("Seconds a transfer may stay that slow (default {})", net.low_speed_time))
      ->check(CLI::Range(int64_t{1}, int64_t{86400}));
  cmd->add_option("--download-deadline", net.download_deadline,
                  fmt::format("Seconds a model file may take at most: a download slower than that needs is abandoned "
                              "like one under --low-speed-limit (default {})",
                              net.download_deadline))
      ->check(CLI::Range(int64_t{1}, int64_t{365} * 86400));
  cmd->add_option("--connect-timeout", net.connect_timeout,
                  fmt::format("Seconds to wait for a connection (default {})", net.connect_timeout));
}

// How the A/B gate and the canary monitor run a task set; `tasks_flag` names the task file option.
inline void add_evaluation_options(CLI::App* cmd, hub::EvaluationOptions& o, const std::string& tasks_flag,
                                   const std::string& tasks_help) {
  cmd->add_option(tasks_flag, o.tasks_file, tasks_help);
  cmd->add_option("--metric", o.metric,
                  "Quality metric: perplexity of the references, or exact, rouge-l, bleu, chrf of greedy answers "
                  "(default perplexity)")
      ->check(CLI::IsMember({"perplexity", "exact", "rouge-l", "bleu", "chrf"}));
  cmd->add_option("-n,--max-tokens", o.max_tokens, "Tokens per greedy answer (default 32)")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("-c,--ctx", o.context, "Context length (default 512)")->check(CLI::Range(16, 1 << 22));
  cmd->add_option("-t,--threads", o.threads, "Threads (0: all cores)");
  cmd->add_option("--repeat", o.repeat, "Passes over the tasks; latency figures are the best pass's (default 3)")
      ->check(CLI::Range(1, 100));
}

// Splits NAME[:VERSION].
inline std::pair<std::string, std::string> split_model_spec(const std::string& spec) {
  const auto colon = spec.find(':');
  if (colon == std::string::npos) return {spec, ""};
  return {spec.substr(0, colon), spec.substr(colon + 1)};
}

}  // namespace bantam::cli
