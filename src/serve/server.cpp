#include "serve/server.hpp"

#include <ctime>

#include <fmt/format.h>

#include "api/model_impl.hpp"
#include "format/json_input.hpp"
#include "hub/digest.hpp"
#include "serve/api_error.hpp"
#include "serve/llamacpp_api.hpp"
#include "serve/ollama_api.hpp"
#include "serve/openai_request.hpp"
#include "serve/route_access.hpp"
#include "serve/web_page.hpp"
#include "text/chat_template.hpp"

namespace bantam::serve {

namespace {

using ojson = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// Metrics label for a path: the known routes, everything else as "other".
std::string route_label(const std::string& path) {
  for (const char* known : {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models", "/health",
                            "/metrics", "/v1/router/stats", "/v1/router/policy", "/"}) {
    if (path == known) return path;
  }
  if (path.starts_with("/v1/models/")) return "/v1/models/{id}";
  if (is_llamacpp_route(path)) return path;
  if (path.starts_with("/api/")) return ollama_route_label(path);
  return "other";
}

}  // namespace

std::string dump_json(const ojson& j) { return j.dump(-1, ' ', false, ojson::error_handler_t::replace); }

std::string error_body(int status, const std::string& message, const std::string& param, const std::string& code) {
  ojson error{{"message", message}, {"type", ApiError::default_type(status)}};
  error["param"] = param.empty() ? ojson(nullptr) : ojson(param);
  error["code"] = code.empty() ? ojson(nullptr) : ojson(code);
  return dump_json(ojson{{"error", error}});
}

Server::Server(std::shared_ptr<const Model> model, ServerOptions options)
    : Server(LoadedModel{std::move(model), {}, std::nullopt}, std::move(options)) {}

Server::Server(LoadedModel model, ServerOptions options) : options_(std::move(options)), cors_(options_.cors_origins) {
  served_ = prepare(std::move(model));
  options_.hybrid.router.local_context = options_.context;
  router_ = std::make_unique<hybrid::HybridRouter>(options_.hybrid);
  if (options_.store_model) recorder_ = std::make_unique<hub::ServingRecorder>(options_.store_model->store_dir);
  HttpServerOptions http;
  http.host = options_.host;
  http.port = options_.port;
  http.limits = options_.http_limits;
  http.tls = options_.tls;
  http_ = std::make_unique<HttpServer>(
      http, [this](const HttpRequest& request, HttpResponse& response) { handle(request, response); },
      [this](int status, const std::string& message) {
        metrics_.count_request("other", status);
        return error_body(status, message);
      });
}

Server::~Server() = default;

int Server::bind() { return http_->bind(); }

std::unique_ptr<ServedModel> Server::prepare(LoadedModel loaded) const {
  auto served = std::make_unique<ServedModel>(std::move(loaded));
  served->formatter = std::make_unique<ChatFormatter>(served->model(), options_.template_limits, options_.chat_format);
  // Refuses a model whose template fails or runs past its budgets, at start-up and on a swap.
  check_chat_template(served->formatter->chat_template(), options_.template_limits);
  fmt::print(stderr, "bantam serve: chat format: {}\n", served->formatter->format_name());
  served->adapters = std::make_unique<AdapterLibrary>(served->loaded.model, options_.adapters);
  return served;
}

std::unique_ptr<Scheduler> Server::make_scheduler(const std::shared_ptr<const Model>& model) {
  SchedulerOptions s;
  s.slots = options_.parallel;
  s.context = options_.context;
  s.threads = options_.threads;
  s.max_queue = options_.max_queue;
  s.context_shift = options_.context_shift;
  s.kv_types = options_.kv_types;
  s.speculative = options_.speculative;
  return std::make_unique<Scheduler>(model, s, metrics_);
}

void Server::run() {
  std::exception_ptr failure;
  std::thread loader([&] {
    try {
      served_->scheduler = make_scheduler(served_->loaded.model);
      ready_.store(true);
    } catch (...) {
      failure = std::current_exception();
      http_->stop();
    }
  });
  std::thread watcher;
  if (options_.store_model) watcher = std::thread([this] { watch_store(); });
  http_->run();
  loader.join();
  if (watcher.joinable()) {
    {
      std::lock_guard lock(watch_mutex_);
      stop_watch_ = true;
    }
    watch_wake_.notify_all();
    watcher.join();
  }
  if (failure) std::rethrow_exception(failure);
}

void Server::shutdown(std::chrono::milliseconds grace) {
  http_->stop();
  if (!ready_.load()) return;
  const auto deadline = Clock::now() + grace;
  std::vector<std::shared_ptr<ServedModel>> draining;
  {
    std::lock_guard lock(served_mutex_);
    draining.push_back(served_);
    for (const auto& old : retired_) {
      if (auto alive = old.lock()) draining.push_back(std::move(alive));
    }
  }
  for (const auto& served : draining) served->scheduler->drain(deadline);
}

std::shared_ptr<ServedModel> Server::served() const {
  if (!ready_.load()) throw ApiError(503, "the model is loading", "", "model_loading");
  std::lock_guard lock(served_mutex_);
  return served_;
}

void Server::select_adapters(const nlohmann::json& j, Trace& trace) {
  trace.adapters = trace.served->adapters->select(j, options_.model_id);
  trace.model_id = trace.adapters.by_model_id ? j["model"].get<std::string>() : options_.model_id;
}

void Server::check_context(int64_t prompt_tokens, int max_tokens, const char* what) const {
  const int64_t context = options_.context;
  if (prompt_tokens >= context) {
    throw ApiError(400,
                   fmt::format("This model's maximum context length is {} tokens; {} resulted in {} tokens (at most "
                               "{} leave room for one generated token)",
                               context, what, prompt_tokens, context - 1),
                   "messages", "context_length_exceeded");
  }
  if (max_tokens > 0 && prompt_tokens + max_tokens > context && !options_.context_shift) {
    throw ApiError(400,
                   fmt::format("This model's maximum context length is {} tokens; {} resulted in {} tokens and "
                               "max_tokens asks for {} more ({} in all)",
                               context, what, prompt_tokens, max_tokens, prompt_tokens + max_tokens),
                   "max_tokens", "context_length_exceeded");
  }
}

void Server::log_request(const HttpRequest& request, int status, double seconds) const {
  if (!options_.log_requests) return;
  fmt::print(stderr, "bantam serve: {} {} {} {:.3f}s\n", request.method, request.path, status, seconds);
}

void Server::handle(const HttpRequest& received, HttpResponse& response) {
  const auto start = Clock::now();
  Trace trace;
  // An OpenAI route spelled without /v1 runs (and is counted) as the /v1 route.
  std::optional<HttpRequest> aliased;
  if (auto prefixed = openai_route_with_prefix(received.path)) {
    aliased = received;
    aliased->path = std::move(*prefixed);
  }
  const HttpRequest& request = aliased ? *aliased : received;
  try {
    cors_.add_headers(request, response);
    if (!cors_.answer_options(request, response)) {
      if (needs_api_key(request.path, options_.metrics_public)) require_api_key(request, options_.api_key);
      route(request, response, trace);
    }
  } catch (const ApiError& e) {
    // Errors raised before a route runs (the API key, CORS) in the shape of the API asked for.
    if (!response.started()) {
      response.send(e.status, "application/json", [&] {
        if (request.path.starts_with("/api/")) return ollama_error(e.what());
        if (is_llamacpp_route(request.path)) return llamacpp_error(e.status, e.what());
        ojson error{{"message", e.what()}, {"type", e.type}};
        error["param"] = e.param.empty() ? ojson(nullptr) : ojson(e.param);
        error["code"] = e.code.empty() ? ojson(nullptr) : ojson(e.code);
        return dump_json(ojson{{"error", error}});
      }());
    }
  } catch (const QueueFull& e) {
    if (!response.started()) response.send(503, "application/json", error_body(503, e.what(), "", "queue_full"));
  } catch (const std::exception& e) {
    if (!response.started()) response.send(500, "application/json", error_body(500, e.what()));
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  metrics_.count_request(route_label(request.path), response.status());
  record_figures(request.path, response.status(), seconds, trace);
  log_request(received, response.status(), seconds);
}

void Server::record_figures(const std::string& path, int status, double seconds, const Trace& trace) {
  if (!recorder_ || !trace.served) return;
  if (path != "/v1/chat/completions" && path != "/v1/completions" && path != "/v1/embeddings") return;
  // Requests the local model never saw (refused, sent to the cloud) say nothing about it.
  if (!trace.local && status < 500) return;
  ServingWindows::Request figures;
  figures.error = status >= 500;
  figures.latency_ms = seconds * 1000.0;
  if (trace.job) {
    figures.ttft_ms = trace.job->ttft_ms();
    figures.decode_tokens_per_s = trace.job->decode_tokens_per_s();
  }
  windows_.add(trace.served->version(), figures);
}

void Server::route(const HttpRequest& request, HttpResponse& response, Trace& trace) {
  const std::string& path = request.path;
  const bool get = request.method == "GET" || request.method == "HEAD";
  const bool post = request.method == "POST";
  if (path == "/health") {
    if (!get) throw ApiError(405, "use GET /health");
    const bool ready = ready_.load();
    response.send(ready ? 200 : 503, "application/json", dump_json(ojson{{"status", ready ? "ready" : "loading"}}));
    return;
  }
  if (path == "/metrics") {
    if (!get) throw ApiError(405, "use GET /metrics");
    response.send(200, "text/plain; version=0.0.4", render_metrics());
    return;
  }
  if (options_.web_chat && is_web_page(path)) return send_web_page(request, response);
  if (is_llamacpp_route(path)) return llamacpp_api(request, response, trace);
  if (path.starts_with("/api/")) return OllamaApi(*this, request, response, trace).handle();
  if (!path.starts_with("/v1/")) throw ApiError(404, fmt::format("no route for {} {}", request.method, path), "", "unknown_url");
  if (path == "/v1/chat/completions" && post) {
    return chat_completions(request, parse_request_body(request.body), response, trace);
  }
  if (path == "/v1/completions" && post) return completions(parse_request_body(request.body), response, trace);
  if (path == "/v1/embeddings" && post) return embeddings(parse_request_body(request.body), response, trace);
  if ((path == "/v1/models" || path.starts_with("/v1/models/")) && get) return models(request, response);
  if (path == "/v1/router/stats" && get) return router_stats(request, response);
  if (path == "/v1/router/policy" && get) return router_policy(response);
  throw ApiError(404, fmt::format("no route for {} {}", request.method, path), "", "unknown_url");
}

std::string Server::render_metrics() {
  SchedulerGauges gauges;
  std::shared_ptr<ServedModel> current;
  {
    std::lock_guard lock(served_mutex_);
    current = served_;
  }
  if (ready_.load()) gauges = current->scheduler->gauges();
  std::string text = metrics_.render(gauges);
  const auto label = [](const std::string& value) {
    std::string out;
    for (char c : value) {
      if (c == '\\' || c == '"') out += '\\';
      out += c == '\n' ? ' ' : c;
    }
    return out;
  };
  text += "# HELP bantam_model_info The model being served (version: its store version, empty for a file).\n";
  text += "# TYPE bantam_model_info gauge\n";
  text += fmt::format("bantam_model_info{{model=\"{}\",version=\"{}\"}} 1\n", label(options_.model_id),
                      label(current->version()));
  text += "# HELP bantam_model_swaps_total Swaps to another store version while serving.\n";
  text += "# TYPE bantam_model_swaps_total counter\n";
  text += fmt::format("bantam_model_swaps_total {}\n", swaps_.load());
  return text;
}

void Server::models(const HttpRequest& request, HttpResponse& response) {
  std::shared_ptr<ServedModel> current;
  {
    std::lock_guard lock(served_mutex_);
    current = served_;
  }
  ojson cards = ojson::array();
  ojson base{{"id", options_.model_id}, {"object", "model"}, {"created", 0}, {"owned_by", "bantam"}};
  if (options_.store_model) {
    base["bantam"] = {{"store_model", options_.store_model->name}, {"version", current->version()}};
  }
  cards.push_back(base);
  for (const AdapterSpec& a : current->adapters->named()) {
    ojson card{{"id", options_.model_id + "+" + a.name}, {"object", "model"}, {"created", 0}, {"owned_by", "bantam"},
               {"parent", options_.model_id}};
    // The scale as given (a float's shortest text), not its double expansion.
    card["bantam"] = {{"adapter", a.name}, {"scale", std::stod(fmt::format("{}", a.scale))}};
    if (options_.store_model) card["bantam"]["version"] = current->version();
    cards.push_back(std::move(card));
  }
  if (request.path == "/v1/models") {
    response.send(200, "application/json", dump_json(ojson{{"object", "list"}, {"data", cards}}));
    return;
  }
  const std::string id = request.path.substr(std::string("/v1/models/").size());
  for (const ojson& card : cards) {
    if (card["id"] == id) return (void)response.send(200, "application/json", dump_json(card));
  }
  throw ApiError(404, fmt::format("the model '{}' does not exist", id), "model", "model_not_found");
}

void Server::router_stats(const HttpRequest&, HttpResponse& response) {
  nlohmann::json stats = router_->stats();
  const hybrid::AuditSummary audit = router_->audit().summary();
  stats["audit"] = {{"local", audit.local}, {"cloud", audit.cloud}, {"bytes_sent", audit.bytes_sent}};
  response.send(200, "application/json", stats.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void Server::router_policy(HttpResponse& response) {
  response.send(200, "application/json",
                router_->policy().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void Server::embeddings(const nlohmann::json& body, HttpResponse& response, Trace& trace) {
  trace.served = served();
  const ModelInfo& info = trace.served->model().info();
  EmbeddingRequest r = parse_embedding_request(body, info.n_vocab, info.n_embd);
  select_adapters(body, trace);
  if (!trace.adapters.chosen.empty()) {
    throw ApiError(400, "adapters apply to completions; embeddings come from the base model", "model",
                   "invalid_value");
  }
  const bool base64 = r.base64;
  int64_t total = 0;
  const auto vectors = embed_inputs(std::move(r), false, response, trace, total);
  ojson data = ojson::array();
  for (size_t i = 0; i < vectors.size(); ++i) {
    const std::vector<float>& vector = vectors[i];
    ojson item{{"object", "embedding"}, {"index", i}};
    if (base64) {
      item["embedding"] = hub::to_base64(
          std::span(reinterpret_cast<const uint8_t*>(vector.data()), vector.size() * sizeof(float)));
    } else {
      item["embedding"] = vector;
    }
    data.push_back(std::move(item));
  }
  response.send(200, "application/json",
                dump_json(ojson{{"object", "list"},
                                {"data", data},
                                {"model", options_.model_id},
                                {"usage", {{"prompt_tokens", total}, {"total_tokens", total}}}}));
}

std::vector<std::vector<float>> Server::embed_inputs(EmbeddingRequest r, bool truncate, HttpResponse& response,
                                                     Trace& trace, int64_t& total) {
  const Model& model = trace.served->model();
  std::vector<std::vector<TokenId>> inputs = std::move(r.token_inputs);
  // Checked input by input, so an oversized request stops costing tokenization at the cap.
  const auto count = [&](size_t i) {
    std::vector<TokenId>& input = inputs[i];
    if (truncate && static_cast<int64_t>(input.size()) > options_.context) input.resize(options_.context);
    const auto n = static_cast<int64_t>(input.size());
    if (n > options_.context) {
      throw ApiError(400, fmt::format("input {} has {} tokens; the context holds {}", i, n, options_.context), "input",
                     "context_length_exceeded");
    }
    total += n;
    if (total > options_.max_embedding_tokens) {
      throw ApiError(413,
                     fmt::format("the inputs hold {} tokens by input {}, over this server's cap of {} tokens per "
                                 "embeddings request (--max-embedding-tokens)",
                                 total, i, options_.max_embedding_tokens),
                     "input", "request_too_large");
    }
  };
  for (size_t i = 0; i < inputs.size(); ++i) count(i);
  for (const std::string& text : r.texts) {
    inputs.push_back(model.tokenize(text, true, false));
    count(inputs.size() - 1);
  }
  trace.local = true;
  auto vectors = trace.served->scheduler->embed(std::move(inputs), [&response] { return response.client_gone(); });
  if (!vectors) throw ApiError(499, "the client went away");
  metrics_.add_tokens(total, 0);
  return std::move(*vectors);
}

void Server::watch_store() {
  const StoreModelRef& ref = *options_.store_model;
  const bool follow = ref.pinned_version.empty();
  std::optional<hub::Store> store;
  auto next_flush = Clock::now() + options_.metrics_window;
  std::unique_lock lock(watch_mutex_);
  while (!stop_watch_) {
    watch_wake_.wait_until(lock, std::min(Clock::now() + options_.watch_interval, next_flush),
                           [this] { return stop_watch_; });
    if (stop_watch_) break;
    lock.unlock();
    if (Clock::now() >= next_flush) {
      flush_figures();
      next_flush = Clock::now() + options_.metrics_window;
    }
    if (follow && ready_.load()) {
      std::string active;
      try {
        if (!store) store.emplace(hub::Store::open(ref.store_dir));
        if (const auto model = store->find(ref.name)) active = model->active.version;
      } catch (const std::exception& e) {
        fmt::print(stderr, "bantam serve: cannot read the store {}: {}\n", ref.store_dir.string(), e.what());
      }
      std::string current;
      {
        std::lock_guard served_lock(served_mutex_);
        current = served_->version();
      }
      if (!active.empty() && active != current && active != refused_version_) swap_to(active);
    }
    lock.lock();
  }
  lock.unlock();
  flush_figures();  // the last, partial window
}

void Server::swap_to(const std::string& version) {
  const std::string& name = options_.store_model->name;
  std::shared_ptr<ServedModel> next;
  try {
    next = prepare(load_store_model(*options_.store_model, version));
    next->scheduler = make_scheduler(next->loaded.model);
  } catch (const std::exception& e) {
    refused_version_ = version;
    fmt::print(stderr, "bantam serve: not swapping to {}:{}, it does not load: {} (still serving {})\n", name,
               version, e.what(), served_->version());
    return;
  }
  std::shared_ptr<ServedModel> old;
  {
    std::lock_guard lock(served_mutex_);
    old = std::exchange(served_, next);
    std::erase_if(retired_, [](const std::weak_ptr<ServedModel>& w) { return w.expired(); });
    retired_.push_back(old);
  }
  ++swaps_;
  const SchedulerGauges left = old->scheduler->gauges();
  fmt::print(stderr, "bantam serve: swapped {} from version {} to {} ({} running and {} queued requests finish on {})\n",
             name, old->version(), version, left.active_slots, left.queue_depth, old->version());
}

void Server::flush_figures() {
  if (!recorder_) return;
  for (const auto& [version, window] : windows_.take()) {
    try {
      recorder_->record(options_.store_model->name, version, window);
    } catch (const std::exception& e) {
      fmt::print(stderr, "bantam serve: serving figures of {}:{} not recorded: {}\n", options_.store_model->name,
                 version, e.what());
    }
  }
}

}  // namespace bantam::serve
