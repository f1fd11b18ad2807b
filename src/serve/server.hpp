// `bantam serve`: the OpenAI-compatible HTTP API over the scheduler. Routes, authentication,
// errors in OpenAI's shape, metrics; chat and text completions live in completions.cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "bantam/bantam.hpp"
#include "hybrid/hybrid_router.hpp"
#include "serve/chat_format.hpp"
#include "serve/http_server.hpp"
#include "serve/metrics.hpp"
#include "serve/openai_request.hpp"
#include "serve/scheduler.hpp"

namespace bantam::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  int parallel = 1;
  int64_t context = 2048;
  int threads = 0;
  int max_queue = 64;
  size_t max_body_bytes = 8u << 20;
  std::string api_key;  // empty: no authentication
  bool log_prompts = false;
  bool log_requests = true;  // a stderr line per request
  std::string model_id;
  // Where chat completions run (local-only by default); router.local_context is set from context.
  hybrid::HybridOptions hybrid;
};

class Server {
 public:
  Server(std::shared_ptr<const Model> model, ServerOptions options);
  ~Server();

  int bind();  // returns the port
  // Serves until shutdown(); the scheduler (KV caches) is built after the socket opens, so
  // /health answers "loading" meanwhile.
  void run();
  // Thread-safe: stops accepting, lets requests finish until `grace` has passed, cancels the rest.
  void shutdown(std::chrono::milliseconds grace);
  bool ready() const { return ready_.load(); }  // the scheduler is up
  const hybrid::HybridRouter& router() const { return *router_; }

 private:
  void handle(const HttpRequest& request, HttpResponse& response);
  void route(const HttpRequest& request, HttpResponse& response);
  void chat_completions(const HttpRequest& request, HttpResponse& response);
  void completions(const HttpRequest& request, HttpResponse& response);
  void embeddings(const HttpRequest& request, HttpResponse& response);
  void models(const HttpRequest& request, HttpResponse& response);
  void router_stats(const HttpRequest& request, HttpResponse& response);
  // The local side of a routed chat request: the whole answer (adding the time from submission to
  // the last token to generation_ms), or the stream of it with `meta` (the route) in every chunk.
  hybrid::LocalAnswer run_chat(const ChatRequest& r, const std::vector<TokenId>& prompt, HttpResponse& response,
                               double& generation_ms);
  void stream_chat(const ChatRequest& r, const std::vector<TokenId>& prompt, const nlohmann::ordered_json& meta,
                   HttpResponse& response);
  void check_auth(const HttpRequest& request) const;
  Scheduler& scheduler() const;  // ApiError 503 while loading
  void check_context(int64_t prompt_tokens, int max_tokens, const char* what) const;
  void log_request(const HttpRequest& request, int status, double seconds) const;

  std::shared_ptr<const Model> model_;
  ServerOptions options_;
  Metrics metrics_;
  std::unique_ptr<ChatFormatter> formatter_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<hybrid::HybridRouter> router_;
  std::atomic<bool> ready_{false};
};

// {"error": {...}} text for an error.
std::string error_body(int status, const std::string& message, const std::string& param = {},
                       const std::string& code = {});
// JSON text with invalid UTF-8 replaced rather than an exception.
std::string dump_json(const nlohmann::ordered_json& j);

}  // namespace bantam::serve
