// ollama's REST API on `bantam serve` (/api/chat, /api/generate, /api/tags, /api/show,
// /api/embed, /api/embeddings, /api/ps, /api/version): the same model, scheduler, generation
// parameters and API key as the OpenAI routes, answered in ollama's shapes (NDJSON streams,
// durations in nanoseconds) with errors as {"error": "..."}. These routes always run on the local
// model: ollama's clients know nothing of the hybrid router, so nothing they send may leave the
// machine.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/ollama_request.hpp"
#include "serve/server.hpp"

namespace bantam::serve {

// Metrics label of an /api/ path: the ollama route, or "other".
std::string ollama_route_label(const std::string& path);
// An error body in ollama's shape, {"error": MESSAGE}.
std::string ollama_error(const std::string& message);

// One ollama request on `server`: handle() answers it, errors included, and never throws.
class OllamaApi {
 public:
  OllamaApi(Server& server, const HttpRequest& request, HttpResponse& response, Server::Trace& trace);
  void handle();

 private:
  enum class Shape { Chat, Generate };  // "message" or "response" in each answer
  void route();
  void chat(const nlohmann::json& body);
  void generate(const nlohmann::json& body);
  // Runs the prompt on the scheduler and answers whole or as an NDJSON stream.
  void run(const OllamaGenerateRequest& r, std::vector<TokenId> prompt, Shape shape);
  void answer_load(const std::string& model, Shape shape);
  void tags();
  void ps();
  void show(const nlohmann::json& body);
  void embed(const nlohmann::json& body, bool legacy);
  // The model a request names (NAME, NAME:latest, NAME+ADAPTER...): its adapters go into the
  // trace; 404 naming it when this server does not serve it.
  void select_model(const std::string& name);
  // The models /api/tags and /api/ps list: the base model and one per named adapter.
  std::vector<nlohmann::ordered_json> model_entries();
  void fail(int status, const std::string& message);

  Server& server_;
  const HttpRequest& request_;
  HttpResponse& response_;
  Server::Trace& trace_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace bantam::serve
