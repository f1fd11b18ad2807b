#include "serve/server.hpp"

#include <ctime>

#include <fmt/format.h>

#include "api/model_impl.hpp"
#include "serve/api_error.hpp"
#include "serve/openai_request.hpp"

namespace bantam::serve {

namespace {

using ojson = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

std::string base64(const void* data, size_t size) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* bytes = static_cast<const uint8_t*>(data);
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  for (size_t i = 0; i < size; i += 3) {
    const uint32_t b0 = bytes[i];
    const uint32_t b1 = i + 1 < size ? bytes[i + 1] : 0;
    const uint32_t b2 = i + 2 < size ? bytes[i + 2] : 0;
    const uint32_t triple = (b0 << 16) | (b1 << 8) | b2;
    out += kAlphabet[(triple >> 18) & 63];
    out += kAlphabet[(triple >> 12) & 63];
    out += i + 1 < size ? kAlphabet[(triple >> 6) & 63] : '=';
    out += i + 2 < size ? kAlphabet[triple & 63] : '=';
  }
  return out;
}

// Metrics label for a path: the known routes, everything else as "other".
std::string route_label(const std::string& path) {
  for (const char* known : {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models", "/health",
                            "/metrics", "/v1/router/stats"}) {
    if (path == known) return path;
  }
  if (path.starts_with("/v1/models/")) return "/v1/models/{id}";
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
    : model_(std::move(model)), options_(std::move(options)) {
  formatter_ = std::make_unique<ChatFormatter>(*model_);
  options_.hybrid.router.local_context = options_.context;
  router_ = std::make_unique<hybrid::HybridRouter>(options_.hybrid);
  HttpServerOptions http;
  http.host = options_.host;
  http.port = options_.port;
  http.max_body_bytes = options_.max_body_bytes;
  http_ = std::make_unique<HttpServer>(
      http, [this](const HttpRequest& request, HttpResponse& response) { handle(request, response); },
      [this](int status, const std::string& message, HttpResponse& response) {
        metrics_.count_request("other", status);
        response.send(status, "application/json", error_body(status, message));
      });
}

Server::~Server() = default;

int Server::bind() { return http_->bind(); }

void Server::run() {
  std::exception_ptr failure;
  std::thread loader([&] {
    try {
      SchedulerOptions s;
      s.slots = options_.parallel;
      s.context = options_.context;
      s.threads = options_.threads;
      s.max_queue = options_.max_queue;
      scheduler_ = std::make_unique<Scheduler>(model_, s, metrics_);
      ready_.store(true);
    } catch (...) {
      failure = std::current_exception();
      http_->stop();
    }
  });
  http_->run();
  loader.join();
  if (failure) std::rethrow_exception(failure);
}

void Server::shutdown(std::chrono::milliseconds grace) {
  http_->stop();
  if (ready_.load()) scheduler_->drain(Clock::now() + grace);
}

Scheduler& Server::scheduler() const {
  if (!ready_.load()) throw ApiError(503, "the model is loading", "", "model_loading");
  return *scheduler_;
}

void Server::check_auth(const HttpRequest& request) const {
  if (options_.api_key.empty()) return;
  const std::string header = request.header("authorization");
  const std::string expected = "Bearer " + options_.api_key;
  // Compare in time independent of where the first difference is.
  bool same = header.size() == expected.size();
  unsigned char diff = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    diff |= static_cast<unsigned char>((i < header.size() ? header[i] : 0) ^ expected[i]);
  }
  same = same && diff == 0;
  if (!same) {
    throw ApiError(401, header.empty() ? "missing API key: send 'Authorization: Bearer <key>'" : "incorrect API key",
                   "", "invalid_api_key");
  }
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
  if (max_tokens > 0 && prompt_tokens + max_tokens > context) {
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

void Server::handle(const HttpRequest& request, HttpResponse& response) {
  const auto start = Clock::now();
  try {
    route(request, response);
  } catch (const ApiError& e) {
    if (!response.started()) {
      response.send(e.status, "application/json", [&] {
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
  metrics_.count_request(route_label(request.path), response.status());
  log_request(request, response.status(), std::chrono::duration<double>(Clock::now() - start).count());
}

void Server::route(const HttpRequest& request, HttpResponse& response) {
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
    GaugeValues gauges;
    if (ready_.load()) gauges = scheduler_->gauges();
    response.send(200, "text/plain; version=0.0.4", metrics_.render(gauges));
    return;
  }
  if (!path.starts_with("/v1/")) throw ApiError(404, fmt::format("no route for {} {}", request.method, path), "", "unknown_url");
  check_auth(request);
  if (path == "/v1/chat/completions" && post) return chat_completions(request, response);
  if (path == "/v1/completions" && post) return completions(request, response);
  if (path == "/v1/embeddings" && post) return embeddings(request, response);
  if ((path == "/v1/models" || path.starts_with("/v1/models/")) && get) return models(request, response);
  if (path == "/v1/router/stats" && get) return router_stats(request, response);
  throw ApiError(404, fmt::format("no route for {} {}", request.method, path), "", "unknown_url");
}

void Server::models(const HttpRequest& request, HttpResponse& response) {
  const ojson card{{"id", options_.model_id}, {"object", "model"}, {"created", 0}, {"owned_by", "bantam"}};
  if (request.path == "/v1/models") {
    response.send(200, "application/json", dump_json(ojson{{"object", "list"}, {"data", ojson::array({card})}}));
    return;
  }
  const std::string id = request.path.substr(std::string("/v1/models/").size());
  if (id != options_.model_id) throw ApiError(404, fmt::format("the model '{}' does not exist", id), "model", "model_not_found");
  response.send(200, "application/json", dump_json(card));
}

void Server::router_stats(const HttpRequest&, HttpResponse& response) {
  nlohmann::json stats = router_->stats();
  const hybrid::AuditSummary audit = router_->audit().summary();
  stats["audit"] = {{"local", audit.local}, {"cloud", audit.cloud}, {"bytes_sent", audit.bytes_sent}};
  response.send(200, "application/json", stats.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void Server::embeddings(const HttpRequest& request, HttpResponse& response) {
  const ModelInfo& info = model_->info();
  EmbeddingRequest r = parse_embedding_request(request.body, info.n_vocab, info.n_embd);
  std::vector<std::vector<TokenId>> inputs = std::move(r.token_inputs);
  for (const std::string& text : r.texts) inputs.push_back(model_->tokenize(text, true, false));
  int64_t total = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto n = static_cast<int64_t>(inputs[i].size());
    if (n > options_.context) {
      throw ApiError(400, fmt::format("input {} has {} tokens; the context holds {}", i, n, options_.context), "input",
                     "context_length_exceeded");
    }
    total += n;
  }
  const auto vectors = scheduler().embed(inputs);
  metrics_.add_tokens(total, 0);
  ojson data = ojson::array();
  for (size_t i = 0; i < vectors.size(); ++i) {
    ojson item{{"object", "embedding"}, {"index", i}};
    if (r.base64) {
      item["embedding"] = base64(vectors[i].data(), vectors[i].size() * sizeof(float));
    } else {
      item["embedding"] = vectors[i];
    }
    data.push_back(std::move(item));
  }
  response.send(200, "application/json",
                dump_json(ojson{{"object", "list"},
                                {"data", data},
                                {"model", options_.model_id},
                                {"usage", {{"prompt_tokens", total}, {"total_tokens", total}}}}));
}

}  // namespace bantam::serve
