// Request bodies of ollama's REST API (/api/chat, /api/generate, /api/embed), read by mapping
// ollama's fields onto the OpenAI request they mean and parsing that with openai_request's
// parsers, so both APIs check generation parameters once, against runtime/generation_params. An
// error names ollama's field ("options.num_predict", "format"), not the OpenAI one it became.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "serve/openai_request.hpp"

namespace bantam::serve {

struct OllamaGenerateRequest {
  std::string model;
  bool stream = true;  // ollama streams unless told "stream": false
  // messages (from /api/chat, or system + prompt of /api/generate), sampling, stop, format, tools
  ChatRequest chat;
  std::optional<int64_t> num_ctx;  // options.num_ctx: caps prompt plus answer below the server's context
  bool raw = false;                // /api/generate "raw": the prompt is tokenized as it is, no template
  std::string prompt;              // /api/generate's prompt (what raw tokenizes)
  bool load_only = false;          // no prompt / no messages: ollama's "load the model" request
};

struct OllamaEmbedRequest {
  std::string model;
  EmbeddingRequest inputs;
  bool truncate = true;  // cut inputs longer than the context rather than refuse them
};

OllamaGenerateRequest parse_ollama_chat(const nlohmann::json& body, int n_vocab);
OllamaGenerateRequest parse_ollama_generate(const nlohmann::json& body, int n_vocab);
// /api/embed ("input": a string or strings) and the older /api/embeddings ("prompt": one string).
OllamaEmbedRequest parse_ollama_embed(const nlohmann::json& body, int n_vocab, int n_embd, bool legacy);
// "model" of any ollama request: a string, required.
std::string ollama_model_field(const nlohmann::json& body);

}  // namespace bantam::serve
