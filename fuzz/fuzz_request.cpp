// Fuzzes the request path: HTTP bytes → parsed request (framing checks and limits) → OpenAI
// request (bounded JSON, generation parameter ranges, tools, GBNF `grammar`), or ollama's mapped
// onto it → JSON schema or grammar compile, then the compiled recognizer over the body. Anything
// may be refused with an error; nothing may crash, hang or grow without bound.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "bantam/error.hpp"
#include "runtime/json_grammar.hpp"
#include "runtime/output_grammar.hpp"
#include "serve/api_error.hpp"
#include "serve/http_server.hpp"
#include "serve/ollama_request.hpp"
#include "serve/openai_request.hpp"

namespace {

constexpr int kVocab = 512, kEmbd = 64;
constexpr size_t kBodyLimit = 1 << 20;

// The recognizer (a JSON schema's or a GBNF grammar's) must follow any bytes within its bounds.
void exercise(const std::shared_ptr<const bantam::OutputGrammar>& grammar, std::string_view bytes) {
  if (!grammar) return;
  const auto cursor = grammar->start();
  for (size_t i = 0; i < bytes.size() && cursor->feed(bytes.substr(i, 1)); ++i) {
    cursor->can_continue();
  }
  cursor->complete();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace bantam::serve;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const ParsedHttpRequest parsed = parse_http_request(bytes, kBodyLimit);
  if (parsed.status != 0) return 0;
  const std::string& path = parsed.request.path;
  const std::string& body = parsed.request.body;
  const bool any = path != "/v1/chat/completions" && path != "/v1/completions" && path != "/v1/embeddings" &&
                   path != "/api/chat" && path != "/api/generate" && path != "/api/embed";
  nlohmann::json json;
  try {
    json = parse_request_body(body);
  } catch (const ApiError&) {
    return 0;
  }
  try {
    if (any || path == "/v1/chat/completions") {
      const ChatRequest chat = parse_chat_request(json, kVocab);
      exercise(chat.grammar, body);
      for (const ToolSpec& tool : chat.tools) exercise(tool.grammar, body);
    }
  } catch (const ApiError&) {
  } catch (const bantam::Error&) {
  }
  try {
    if (any || path == "/v1/completions") parse_completion_request(json, kVocab);
  } catch (const ApiError&) {
  } catch (const bantam::Error&) {
  }
  try {
    if (any || path == "/v1/embeddings") parse_embedding_request(json, kVocab, kEmbd);
  } catch (const ApiError&) {
  } catch (const bantam::Error&) {
  }
  // ollama's bodies, mapped onto the parsers above.
  try {
    if (any || path == "/api/chat") exercise(parse_ollama_chat(json, kVocab).chat.grammar, body);
  } catch (const ApiError&) {
  } catch (const bantam::Error&) {
  }
  try {
    if (any || path == "/api/generate") exercise(parse_ollama_generate(json, kVocab).chat.grammar, body);
  } catch (const ApiError&) {
  } catch (const bantam::Error&) {
  }
  try {
    if (any || path == "/api/embed") parse_ollama_embed(json, kVocab, kEmbd, false);
  } catch (const ApiError&) {
  } catch (const bantam::Error&) {
  }
  return 0;
}
