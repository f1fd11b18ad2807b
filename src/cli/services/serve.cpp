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
#include "cli/generation_options.hpp"
#include "hub/store.hpp"
#include "cli/services/route_options.hpp"
#include "cli/speculative_options.hpp"
#include "hybrid/hybrid_config.hpp"
#include "runtime/memory_plan.hpp"
#include "runtime/speculative.hpp"
#include "serve/server.hpp"
#include "cli/model_file.hpp"

namespace bantam::cli {

namespace {

struct ServeOptions {
  std::string model;
  std::string alias;
  std::string host = "127.0.0.1";
  int port = 8080;
  int parallel = 1;
  int64_t context = 0;
  KvCacheTypes kv_types = {};
  int threads = 0;
  int max_queue = 64;
  int max_body_mb = 8;
  int max_connections = 256;
  int max_connections_per_client = 32;
  double header_timeout_seconds = 10.0;
  double body_timeout_seconds = 30.0;
  double send_timeout_seconds = 30.0;
  double idle_timeout_seconds = 30.0;
  bool metrics_public = false;
  bool no_web_chat = false;
  bool context_shift = false;
  int64_t max_embedding_tokens = serve::ServerOptions{}.max_embedding_tokens;
  double template_memory_mb = static_cast<double>(jinja::Limits{}.max_memory_bytes) / (1 << 20);
  uint64_t template_steps = jinja::Limits{}.max_steps;
  double grace_seconds = 10.0;
  std::string api_key_env;
  std::vector<std::string> cors_origins;
  std::string tls_cert;
  std::string tls_key;
  bool log_prompts = false;
  std::vector<std::string> lora;  // NAME=FILE[:SCALE] (chosen per request) or FILE[:SCALE] (always)
  std::string store;
  double metrics_window_seconds = 60.0;
  double watch_interval_seconds = 2.0;
  RouteFlags route;  // hybrid routing: a config file first, then each flag given over it
  serve::RequestPolicy requests;  // sampling defaults (the CLI's unless set), --strict
  serve::ChatFormatOptions chat_format;
  SpeculativeFlags speculative;  // per slot, in the shared forward passes
};

constexpr int kMaxBatch = 512;

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

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
  options.metrics_window = millis(o.metrics_window_seconds);
  options.watch_interval = millis(o.watch_interval_seconds);
  options.host = o.host;
  options.port = o.port;
  options.parallel = o.parallel;
  options.context = o.context > 0 ? o.context : std::min<int64_t>(4096, std::max(1, model->info().n_ctx_train));
  options.kv_types = o.kv_types;
  options.threads = capped_threads(o.threads);
  options.max_queue = o.max_queue;
  options.http_limits.max_body_bytes = static_cast<size_t>(o.max_body_mb) << 20;
  options.http_limits.max_connections = o.max_connections;
  options.http_limits.max_connections_per_client = o.max_connections_per_client;
  options.http_limits.header_timeout = millis(o.header_timeout_seconds);
  options.http_limits.body_timeout = millis(o.body_timeout_seconds);
  options.http_limits.send_timeout = millis(o.send_timeout_seconds);
  options.http_limits.idle_timeout = millis(o.idle_timeout_seconds);
  options.metrics_public = o.metrics_public;
  options.web_chat = !o.no_web_chat;
  options.context_shift = o.context_shift;
  options.cors_origins = o.cors_origins;
  options.tls = {o.tls_cert, o.tls_key};
  options.max_embedding_tokens = o.max_embedding_tokens;
  options.template_limits.max_memory_bytes = static_cast<size_t>(o.template_memory_mb * (1 << 20));
  options.template_limits.max_steps = o.template_steps;
  options.log_prompts = o.log_prompts;
  options.request_policy = o.requests;
  options.chat_format = o.chat_format;
  if (!o.alias.empty()) {
    options.model_id = o.alias;
  } else {
    options.model_id = options.store_model ? options.store_model->name : std::filesystem::path(o.model).stem().string();
  }
  options.hybrid = resolve_route_options(o.route);
  fmt::print(stderr, "bantam serve: {}\n", hybrid::describe(options.hybrid));
  if (!o.api_key_env.empty()) {
    const char* key = std::getenv(o.api_key_env.c_str());
    if (!key || !*key) throw Error(fmt::format("--api-key-env {}: the variable is not set or empty", o.api_key_env));
    options.api_key = key;
  }

  options.speculative = resolve_speculative(o.speculative);
  MemoryPlan plan = plan_memory(*model, options.parallel, options.context, kMaxBatch, options.kv_types);
  if (const auto& draft = options.speculative.draft) {
    check_draft_vocabulary(*model, *draft);  // refused at start, not when the slots are made
    plan = with_draft(plan, *draft);
  }
  fmt::print(stderr, "bantam serve: {}\n", describe(plan));
  if (const auto available = available_memory()) {
    fmt::print(stderr, "bantam serve: {:.1f} MiB available\n", static_cast<double>(*available) / (1024.0 * 1024.0));
    check_fits(*model, plan, *available);
  }

  serve::Server server(std::move(loaded), options);
  for (const serve::AdapterSpec& a : options.adapters) {
    fmt::print(stderr, "bantam serve: adapter {} ({}, scale {})\n",
               a.name.empty() ? "applied to every request" : options.model_id + "+" + a.name, a.path, a.scale);
  }
  const int port = server.bind();
  fmt::print("bantam serve: listening on {}://{}:{}\n", options.tls.enabled() ? "https" : "http", o.host, port);
  std::fflush(stdout);

  std::thread waiter([&] {
    int received = 0;
    sigwait(&signals, &received);
    fmt::print(stderr, "bantam serve: signal {}, shutting down\n", received);
    server.shutdown(millis(o.grace_seconds));
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
  cmd->add_option("-m,--model", o->model, kModelOptionHelp)->required();
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
  cmd->add_option("--parallel", o->parallel, "Slots generating at once")->check(CLI::Range(1, 256));
  cmd->add_option("-c,--ctx-size", o->context, "Positions per slot (default: the model's, at most 4096)")
      ->check(CLI::Range(int64_t{16}, int64_t{1} << 22));
  add_kv_type_options(*cmd, o->kv_types);
  cmd->add_option("-t,--threads", o->threads, "Compute threads (0: all cores)")->check(CLI::Range(0, 1024));
  cmd->add_option("--max-queue", o->max_queue, "Requests that may wait for a slot before 503")->check(CLI::Range(0, 100000));
  cmd->add_option("--max-body-mb", o->max_body_mb, "Largest request body in MiB (413 beyond)")->check(CLI::Range(1, 1024));
  cmd->add_option("--max-connections", o->max_connections, "Open connections at most (503 beyond)")
      ->check(CLI::Range(1, 65536));
  cmd->add_option("--max-connections-per-client", o->max_connections_per_client,
                  "Open connections per client address (429 beyond; behind a proxy all clients share one)")
      ->check(CLI::Range(1, 65536));
  cmd->add_option("--header-timeout", o->header_timeout_seconds, "Seconds a request's whole header block may take")
      ->check(CLI::Range(0.05, 3600.0));
  cmd->add_option("--body-timeout", o->body_timeout_seconds, "Seconds a request's whole body may take")
      ->check(CLI::Range(0.05, 3600.0));
  cmd->add_option("--send-timeout", o->send_timeout_seconds,
                  "Seconds an answer may make no progress before the connection is dropped")
      ->check(CLI::Range(0.05, 3600.0));
  cmd->add_option("--idle-timeout", o->idle_timeout_seconds,
                  "Seconds a keep-alive connection may wait for its next request")
      ->check(CLI::Range(0.05, 3600.0));
  cmd->add_flag("--metrics-public", o->metrics_public, "Serve /metrics without the API key");
  cmd->add_flag("--no-web-chat", o->no_web_chat, "Do not serve the chat page at / (the API is unchanged)");
  cmd->add_flag("--context-shift", o->context_shift,
                "When a slot's context fills, drop the oldest half of its tokens after the system prompt and go on");
  cmd->add_option("--max-embedding-tokens", o->max_embedding_tokens,
                  "Most tokens one embeddings request may hold, all inputs together (413 beyond; default 65536)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--template-memory-mb", o->template_memory_mb,
                  "MiB of strings and lists a chat template render may hold at once (default 16)")
      ->check(CLI::Range(0.25, 4096.0));
  cmd->add_option("--template-steps", o->template_steps,
                  "Evaluation steps a chat template render may take (default 4000000, about half a second)")
      ->check(CLI::Range(uint64_t{1000}, uint64_t{1} << 40));
  cmd->add_option("--shutdown-grace", o->grace_seconds, "Seconds running requests get after SIGTERM")->check(CLI::Range(0.0, 3600.0));
  cmd->add_option("--api-key-env", o->api_key_env,
                  "Require 'Authorization: Bearer KEY' with KEY from this variable on every route but /health, "
                  "/metrics (see --metrics-public) and the web page's files");
  cmd->add_option("--cors-origin", o->cors_origins,
                  "Let web pages of this origin (SCHEME://HOST[:PORT], or * for any) call the API (repeatable; "
                  "default none)");
  auto* tls_cert = cmd->add_option("--tls-cert", o->tls_cert, "Serve HTTPS with this PEM certificate (chain) file");
  auto* tls_key = cmd->add_option("--tls-key", o->tls_key, "The PEM private key of --tls-cert (unencrypted)");
  tls_cert->needs(tls_key);
  tls_key->needs(tls_cert);
  cmd->add_flag("--log-prompts", o->log_prompts, "Log prompt text (off: only routes, status and timings)");
  // Defaults of requests that leave a field out: the same flags, checks and defaults as run/chat.
  add_sampling_options(*cmd, o->requests.sampling);
  add_max_tokens_option(*cmd, o->requests.max_tokens, "-n,--max-tokens,--n-predict");
  cmd->add_flag("--strict", o->requests.strict,
                "Refuse request fields bantam does not know (default: pass over them, as OpenAI-compatible servers do)");
  cmd->add_option("--chat-template,--chat-template-file", o->chat_format.template_file,
                  "Jinja chat template FILE in place of the model's (default: the model's, else its family's format)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--system,--system-prompt", o->chat_format.default_system, "System message of chat requests that have none");
  // Consent and route come per request here, so no --allow-cloud / --route.
  add_route_options(*cmd, o->route, "Hybrid routing (chat completions)", false);
  add_speculative_options(*cmd, o->speculative);
  cmd->callback([o] { serve(*o); });
}

}  // namespace bantam::cli
