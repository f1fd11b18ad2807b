// `bantam serve -m MODEL [--host H] [--port P] [--parallel N] [-c CTX] ...`: the OpenAI-compatible
// HTTP server. SIGTERM/SIGINT stop accepting, let running requests finish for a grace period,
// then cancel what is left.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "bantam/bantam.hpp"
#include "cli/commands.hpp"
#include "hub/store.hpp"
#include "hybrid/hybrid_config.hpp"
#include "serve/memory_plan.hpp"
#include "serve/server.hpp"

namespace bantam::cli {

namespace {

struct ServeOptions {
  std::string model;
  std::string alias;
  std::string host = "127.0.0.1";
  int port = 8080;
  int parallel = 1;
  int64_t context = 0;
  int threads = 0;
  int max_queue = 64;
  int max_body_mb = 8;
  double grace_seconds = 10.0;
  std::string api_key_env;
  bool log_prompts = false;
  std::vector<std::string> lora;  // NAME=FILE[:SCALE] (chosen per request) or FILE[:SCALE] (always)
  std::string store;
  double metrics_window_seconds = 60.0;
  double watch_interval_seconds = 2.0;
  // Hybrid routing: a config file first, then each flag given on the command line over it.
  std::string hybrid_config;
  hybrid::HybridOptions hybrid;
  std::string route_policy, cloud_consent, sensitive;
  std::vector<std::string> redact_patterns;
  std::vector<std::string> safety_rules;
  int64_t cloud_timeout_ms = 0, cloud_connect_timeout_ms = 0, breaker_cool_down_ms = 0;
  CLI::App* command = nullptr;
  bool given(const char* flag) const { return command->count(flag) > 0; }
};

hybrid::HybridOptions hybrid_options(const ServeOptions& o) {
  hybrid::HybridOptions h;
  if (!o.hybrid_config.empty()) hybrid::load_hybrid_config(o.hybrid_config, h);
  const hybrid::HybridOptions& flags = o.hybrid;
  if (o.given("--cloud-url")) h.cloud.url = flags.cloud.url;
  if (o.given("--cloud-model")) h.cloud.model = flags.cloud.model;
  if (o.given("--cloud-key-env")) h.cloud.api_key_env = flags.cloud.api_key_env;
  if (o.given("--cloud-timeout-ms")) h.cloud.total_timeout = std::chrono::milliseconds(o.cloud_timeout_ms);
  if (o.given("--cloud-connect-timeout-ms"))
    h.cloud.connect_timeout = std::chrono::milliseconds(o.cloud_connect_timeout_ms);
  if (o.given("--cloud-attempts")) h.cloud.max_attempts = flags.cloud.max_attempts;
  if (o.given("--cloud-alias")) h.router.cloud_aliases = flags.router.cloud_aliases;
  // A cloud without an explicit policy is used in auto mode; no cloud means local-only.
  if (o.given("--route-policy")) {
    h.router.policy = hybrid::parse_policy(o.route_policy);
  } else if (o.hybrid_config.empty() && !h.cloud.url.empty()) {
    h.router.policy = hybrid::Policy::Auto;
  }
  if (o.given("--cloud-consent")) h.router.consent = hybrid::parse_consent(o.cloud_consent);
  if (o.given("--sensitive")) h.router.sensitive = hybrid::parse_sensitive(o.sensitive);
  if (o.given("--min-mean-logprob")) h.router.min_mean_logprob = flags.router.min_mean_logprob;
  if (o.given("--min-token-logprob")) h.router.min_token_logprob = flags.router.min_token_logprob;
  if (o.given("--max-mean-entropy")) h.router.max_mean_entropy = flags.router.max_mean_entropy;
  if (o.given("--latency-budget-ms")) h.router.latency_budget_ms = flags.router.latency_budget_ms;
  if (o.given("--breaker-threshold")) h.breaker_threshold = flags.breaker_threshold;
  if (o.given("--breaker-cooldown-ms")) h.breaker_cool_down = std::chrono::milliseconds(o.breaker_cool_down_ms);
  for (const std::string& spec : o.redact_patterns) h.extra_patterns.push_back(hybrid::parse_extra_pattern(spec));
  for (const std::string& spec : o.safety_rules) h.safety_rules.push_back(hybrid::parse_safety_rule(spec));
  if (o.given("--moderation-url")) h.moderation.url = flags.moderation.url;
  if (o.given("--moderation-model")) h.moderation.model = flags.moderation.model;
  if (o.given("--moderation-key-env")) h.moderation.api_key_env = flags.moderation.api_key_env;
  if (o.given("--audit-log")) h.audit_path = flags.audit_path;
  if (o.given("--audit-prompts")) h.audit_prompts = true;
  // Asking for the cloud model by name is always a cloud request.
  if (!h.cloud.model.empty()) h.router.cloud_aliases.push_back(h.cloud.model);
  hybrid::check_hybrid_options(h);
  return h;
}

constexpr int kMaxBatch = 512;

void serve(const ServeOptions& o) {
  // Signals go to one waiting thread, not to whichever thread they happen to hit.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  serve::ServerOptions options;
  options.store_model = serve::store_model_ref(o.model, o.store.empty() ? hub::default_store_dir() : std::filesystem::path(o.store));
  serve::LoadedModel loaded =
      options.store_model ? serve::load_store_model(*options.store_model) : serve::LoadedModel{Model::load(o.model), {}, std::nullopt};
  const std::shared_ptr<const Model> model = loaded.model;
  if (options.store_model) {
    fmt::print(stderr, "bantam serve: {} version {} from the store {}{}\n", options.store_model->name, loaded.version,
               options.store_model->store_dir.string(),
               options.store_model->pinned_version.empty() ? " (follows the active version)" : "");
  }
  for (const std::string& spec : o.lora) options.adapters.push_back(serve::parse_adapter_spec(spec));
  options.metrics_window = std::chrono::milliseconds(static_cast<int64_t>(o.metrics_window_seconds * 1000));
  options.watch_interval = std::chrono::milliseconds(static_cast<int64_t>(o.watch_interval_seconds * 1000));
  options.host = o.host;
  options.port = o.port;
  options.parallel = o.parallel;
  options.context = o.context > 0 ? o.context : std::min<int64_t>(4096, std::max(1, model->info().n_ctx_train));
  options.threads = o.threads;
  options.max_queue = o.max_queue;
  options.max_body_bytes = static_cast<size_t>(o.max_body_mb) << 20;
  options.log_prompts = o.log_prompts;
  if (!o.alias.empty()) {
    options.model_id = o.alias;
  } else {
    options.model_id = options.store_model ? options.store_model->name : std::filesystem::path(o.model).stem().string();
  }
  options.hybrid = hybrid_options(o);
  fmt::print(stderr, "bantam serve: {}\n", hybrid::describe(options.hybrid));
  if (!o.api_key_env.empty()) {
    const char* key = std::getenv(o.api_key_env.c_str());
    if (!key || !*key) throw Error(fmt::format("--api-key-env {}: the variable is not set or empty", o.api_key_env));
    options.api_key = key;
  }

  const serve::MemoryPlan plan = serve::plan_memory(*model, options.parallel, options.context, kMaxBatch);
  fmt::print(stderr, "bantam serve: {}\n", serve::describe(plan));
  if (const auto available = serve::available_memory()) {
    fmt::print(stderr, "bantam serve: {:.1f} MiB available\n", static_cast<double>(*available) / (1024.0 * 1024.0));
    serve::check_fits(*model, plan, *available, kMaxBatch);
  }

  serve::Server server(std::move(loaded), options);
  for (const serve::AdapterSpec& a : options.adapters) {
    fmt::print(stderr, "bantam serve: adapter {} ({}, scale {})\n",
               a.name.empty() ? "applied to every request" : options.model_id + "+" + a.name, a.path, a.scale);
  }
  const int port = server.bind();
  fmt::print("bantam serve: listening on http://{}:{}\n", o.host, port);
  std::fflush(stdout);

  std::thread waiter([&] {
    int received = 0;
    sigwait(&signals, &received);
    fmt::print(stderr, "bantam serve: signal {}, shutting down\n", received);
    server.shutdown(std::chrono::milliseconds(static_cast<int64_t>(o.grace_seconds * 1000)));
  });
  try {
    server.run();
  } catch (...) {
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    throw;
  }
  waiter.join();
  fmt::print(stderr, "bantam serve: stopped\n");
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  auto* cmd = app.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API");
  cmd->add_option("-m,--model", o->model, "GGUF model file, or NAME[:VERSION] of an installed model")->required();
  cmd->add_option("--store", o->store, "Model store folder (default: $XDG_DATA_HOME/bantam or ~/.local/share/bantam)");
  cmd->add_option("--lora", o->lora,
                  "Adapter NAME=FILE[:SCALE] requests choose (model BASE+NAME or \"bantam\": {\"adapters\": ...}), "
                  "or FILE[:SCALE] applied to every request (repeatable)");
  cmd->add_option("--metrics-window", o->metrics_window_seconds,
                  "Seconds per serving window recorded in the store (store models)")
      ->check(CLI::Range(0.05, 86400.0));
  cmd->add_option("--watch-interval", o->watch_interval_seconds,
                  "Seconds between checks for a newly active store version (NAME without :VERSION)")
      ->check(CLI::Range(0.05, 3600.0));
  cmd->add_option("--alias", o->alias, "Model id clients use (default: the file name without .gguf)");
  cmd->add_option("--host", o->host, "Address to listen on (default 127.0.0.1: this machine only)");
  cmd->add_option("--port", o->port, "Port (0: any free port)")->check(CLI::Range(0, 65535));
  cmd->add_option("--parallel,-n", o->parallel, "Slots generating at once")->check(CLI::Range(1, 256));
  cmd->add_option("-c,--ctx-size", o->context, "Positions per slot (default: the model's, at most 4096)")
      ->check(CLI::Range(int64_t{16}, int64_t{1} << 22));
  cmd->add_option("-t,--threads", o->threads, "Compute threads (0: all cores)")->check(CLI::Range(0, 1024));
  cmd->add_option("--max-queue", o->max_queue, "Requests that may wait for a slot before 503")->check(CLI::Range(0, 100000));
  cmd->add_option("--max-body-mb", o->max_body_mb, "Largest request body in MiB (413 beyond)")->check(CLI::Range(1, 1024));
  cmd->add_option("--shutdown-grace", o->grace_seconds, "Seconds running requests get after SIGTERM")->check(CLI::Range(0.0, 3600.0));
  cmd->add_option("--api-key-env", o->api_key_env, "Require 'Authorization: Bearer KEY' with KEY from this variable");
  cmd->add_flag("--log-prompts", o->log_prompts, "Log prompt text (off: only routes, status and timings)");
  o->command = cmd;
  const std::string hybrid_group = "Hybrid routing (chat completions)";
  auto* h = &o->hybrid;
  cmd->add_option("--hybrid-config", o->hybrid_config, "JSON file with the hybrid settings (flags override it)")
      ->check(CLI::ExistingFile)->group(hybrid_group);
  cmd->add_option("--route-policy", o->route_policy,
                  "local-only | auto | cloud-preferred (default: auto with a cloud, else local-only)")
      ->check(CLI::IsMember({"local-only", "auto", "cloud-preferred"}))->group(hybrid_group);
  cmd->add_option("--cloud-url", h->cloud.url, "OpenAI-compatible endpoint of the cloud model")->group(hybrid_group);
  cmd->add_option("--cloud-model", h->cloud.model, "Model name sent to the cloud (also a cloud alias)")->group(hybrid_group);
  cmd->add_option("--cloud-key-env", h->cloud.api_key_env, "Environment variable holding the cloud API key")
      ->group(hybrid_group);
  cmd->add_option("--cloud-alias", h->router.cloud_aliases, "A requested model name that means the cloud (repeatable)")
      ->group(hybrid_group);
  cmd->add_option("--cloud-consent", o->cloud_consent,
                  "never | ask (requests opt in with \"bantam\": {\"cloud_consent\": true}) | always (default never)")
      ->check(CLI::IsMember({"never", "ask", "always"}))->group(hybrid_group);
  cmd->add_option("--sensitive", o->sensitive,
                  "Cloud-bound requests with personal data: redact | keep-local | block (default redact)")
      ->check(CLI::IsMember({"redact", "keep-local", "block"}))->group(hybrid_group);
  cmd->add_option("--redact-pattern", o->redact_patterns, "Extra data to redact, LABEL=PCRE2 regex (repeatable)")
      ->group(hybrid_group);
  cmd->add_option("--cloud-timeout-ms", o->cloud_timeout_ms, "Whole cloud request limit per attempt")
      ->check(CLI::Range(int64_t{1}, int64_t{3600000}))->group(hybrid_group);
  cmd->add_option("--cloud-connect-timeout-ms", o->cloud_connect_timeout_ms, "Cloud connection limit per attempt")
      ->check(CLI::Range(int64_t{1}, int64_t{600000}))->group(hybrid_group);
  cmd->add_option("--cloud-attempts", h->cloud.max_attempts, "Cloud tries before falling back (retries only before streaming)")
      ->check(CLI::Range(1, 10))->group(hybrid_group);
  cmd->add_option("--breaker-threshold", h->breaker_threshold, "Consecutive cloud failures that open the circuit breaker")
      ->check(CLI::Range(1, 1000))->group(hybrid_group);
  cmd->add_option("--breaker-cooldown-ms", o->breaker_cool_down_ms, "How long an open breaker keeps the cloud off")
      ->check(CLI::Range(int64_t{0}, int64_t{86400000}))->group(hybrid_group);
  cmd->add_option("--min-mean-logprob", h->router.min_mean_logprob, "auto: escalate below this mean token log-prob")
      ->group(hybrid_group);
  cmd->add_option("--min-token-logprob", h->router.min_token_logprob, "auto: escalate when any token's log-prob is lower")
      ->group(hybrid_group);
  cmd->add_option("--max-mean-entropy", h->router.max_mean_entropy, "auto: escalate above this mean entropy (nats)")
      ->group(hybrid_group);
  cmd->add_option("--latency-budget-ms", h->router.latency_budget_ms, "auto: escalate when the local queue wait would exceed this (0: off)")
      ->check(CLI::Range(0.0, 1e9))->group(hybrid_group);
  cmd->add_option("--audit-log", h->audit_path, "SQLite file recording each routing decision (default: in memory)")
      ->group(hybrid_group);
  cmd->add_flag("--audit-prompts", h->audit_prompts, "Also store prompt text in the audit log")->group(hybrid_group);
  cmd->add_option("--safety-rule", o->safety_rules,
                  "Pre-filter ACTION:NAME=REGEX, ACTION refuse | local | moderate (repeatable; case-insensitive)")
      ->group(hybrid_group);
  cmd->add_option("--moderation-url", h->moderation.url, "OpenAI-compatible /v1/moderations endpoint for 'moderate' rules")
      ->group(hybrid_group);
  cmd->add_option("--moderation-model", h->moderation.model, "Model name sent to the moderation endpoint")
      ->group(hybrid_group);
  cmd->add_option("--moderation-key-env", h->moderation.api_key_env, "Environment variable holding its API key")
      ->group(hybrid_group);
  cmd->callback([o] { serve(*o); });
}

}  // namespace bantam::cli
