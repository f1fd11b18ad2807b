// `bantam serve`: the OpenAI-compatible HTTP API over the scheduler. Routes, authentication,
// errors in OpenAI's shape, metrics; chat and text completions live in completions.cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bantam/bantam.hpp"
#include "hybrid/hybrid_router.hpp"
#include "serve/chat_format.hpp"
#include "serve/cors.hpp"
#include "serve/http_server.hpp"
#include "serve/metrics.hpp"
#include "serve/openai_request.hpp"
#include "runtime/scheduler.hpp"
#include "serve/served_model.hpp"

namespace bantam::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  int parallel = 1;
  int64_t context = 2048;
  KvCacheTypes kv_types = {};  // per slot's cache
  int threads = 0;
  int max_queue = 64;
  SpeculativeOptions speculative = {};  // per slot (--lookup, --model-draft, ...)
  bool context_shift = false;  // --context-shift: a full slot drops old tokens instead of ending (runtime/context_shift.hpp)
  HttpLimits http_limits;  // connections, deadlines, body size
  HttpTlsFiles tls;  // HTTPS when set
  std::vector<std::string> cors_origins;  // pages of these origins may call the API (cors.hpp)
  jinja::Limits template_limits;  // budgets of every chat template render (the model's template)
  int64_t max_embedding_tokens = 65536;  // per embeddings request, all inputs together (413 beyond)
  std::string api_key;  // empty: no authentication; else every route but the open ones (route_access.hpp)
  bool metrics_public = false;  // /metrics without the API key
  bool web_chat = true;  // the chat page at / (web_page.hpp); --no-web-chat turns it off
  bool log_prompts = false;
  bool log_requests = true;  // a stderr line per request
  std::string model_id;
  // Sampling and max_tokens of requests that leave them out (serve's flags), and --strict.
  RequestPolicy request_policy;
  ChatFormatOptions chat_format;  // --chat-template, --system
  // Where chat completions run (local-only by default); router.local_context is set from context.
  hybrid::HybridOptions hybrid;
  // Named adapters requests may choose, and unnamed ones applied to every request.
  std::vector<AdapterSpec> adapters;
  // Serving a store model: its versions are watched (unless pinned) and swapped to when another
  // one becomes active, and serving figures are recorded per version once a window.
  std::optional<StoreModelRef> store_model;
  std::chrono::milliseconds watch_interval{2000};
  std::chrono::milliseconds metrics_window{60000};
};

class OllamaApi;

class Server {
 public:
  // Error naming the file when an adapter of options.adapters is refused.
  Server(std::shared_ptr<const Model> model, ServerOptions options);
  Server(LoadedModel model, ServerOptions options);
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
  friend class OllamaApi;  // ollama's routes (ollama_api.cpp) run on the same model and scheduler
  // What one request ran on: the model it started with, its job, its adapters.
  struct Trace {
    std::shared_ptr<ServedModel> served;
    std::shared_ptr<Job> job;
    bool local = false;  // the local model answered (or tried to)
    AdapterSelection adapters;
    std::string model_id;  // the id answers carry
  };
  void handle(const HttpRequest& request, HttpResponse& response);
  void route(const HttpRequest& request, HttpResponse& response, Trace& trace);
  // `body`: the request body, parsed once by route().
  void chat_completions(const HttpRequest& request, nlohmann::json body, HttpResponse& response, Trace& trace);
  void completions(const nlohmann::json& body, HttpResponse& response, Trace& trace);
  void embeddings(const nlohmann::json& body, HttpResponse& response, Trace& trace);
  // The inputs' vectors on trace.served, adding their tokens to `total`; texts are tokenized one
  // by one, so an oversized request stops costing at the cap. `truncate`: an input longer than
  // the context is cut to it rather than refused.
  std::vector<std::vector<float>> embed_inputs(EmbeddingRequest r, bool truncate, HttpResponse& response,
                                               Trace& trace, int64_t& total);
  void models(const HttpRequest& request, HttpResponse& response);
  void router_stats(const HttpRequest& request, HttpResponse& response);
  // GET /v1/router/policy: what the chat page needs to offer (or explain) the cloud switch.
  void router_policy(HttpResponse& response);
  // llama.cpp's native routes (llamacpp_api.cpp): /completion, /infill, /tokenize, ...
  void llamacpp_api(const HttpRequest& request, HttpResponse& response, Trace& trace);
  void native_completion(const nlohmann::json& body, std::vector<TokenId> prompt, HttpResponse& response, Trace& trace);
  nlohmann::ordered_json props(const ServedModel& served) const;
  std::string render_metrics();
  // The local side of a routed chat request: the whole answer (adding the time from submission to
  // the last token to generation_ms), or the stream of it with `meta` (the route) in every chunk.
  hybrid::LocalAnswer run_chat(const ChatRequest& r, const std::vector<TokenId>& prompt, HttpResponse& response,
                               double& generation_ms, Trace& trace);
  void stream_chat(const ChatRequest& r, const std::vector<TokenId>& prompt, const nlohmann::ordered_json& meta,
                   HttpResponse& response, Trace& trace);
  std::shared_ptr<ServedModel> served() const;  // ApiError 503 while loading
  // The request's adapters (from "model" and "bantam.adapters"), and the model id to answer with.
  void select_adapters(const nlohmann::json& body, Trace& trace);
  void check_context(int64_t prompt_tokens, int max_tokens, const char* what) const;
  void log_request(const HttpRequest& request, int status, double seconds) const;
  void record_figures(const std::string& path, int status, double seconds, const Trace& trace);

  // A ServedModel with its formatter and adapters (Error when an adapter is refused); the
  // scheduler is built separately, as it takes the KV cache memory.
  std::unique_ptr<ServedModel> prepare(LoadedModel loaded) const;
  std::unique_ptr<Scheduler> make_scheduler(const std::shared_ptr<const Model>& model);
  // Store models: checks the active version every watch interval, swaps to a new one, and hands
  // the serving figures to the recorder every metrics window, until stop_watch_.
  void watch_store();
  void swap_to(const std::string& version);
  void flush_figures();

  ServerOptions options_;
  CorsPolicy cors_;
  Metrics metrics_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<hybrid::HybridRouter> router_;
  std::atomic<bool> ready_{false};

  mutable std::mutex served_mutex_;
  std::shared_ptr<ServedModel> served_;
  std::vector<std::weak_ptr<ServedModel>> retired_;  // swapped out, maybe still finishing requests
  std::atomic<int64_t> swaps_{0};

  std::mutex watch_mutex_;
  std::condition_variable watch_wake_;
  bool stop_watch_ = false;
  std::string refused_version_;  // a version that failed to load is not retried
  ServingWindows windows_;
  std::unique_ptr<hub::ServingRecorder> recorder_;
};

// {"error": {...}} text for an error.
std::string error_body(int status, const std::string& message, const std::string& param = {},
                       const std::string& code = {});
// JSON text with invalid UTF-8 replaced rather than an exception.
std::string dump_json(const nlohmann::ordered_json& j);

}  // namespace bantam::serve
