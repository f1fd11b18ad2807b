#include "serve/request_fields.hpp"

#include <algorithm>
#include <array>
#include <string_view>

#include <fmt/format.h>

#include "serve/api_error.hpp"

#ifndef BANTAM_VERSION
#define BANTAM_VERSION "dev"
#endif
#ifndef BANTAM_GIT_COMMIT
#define BANTAM_GIT_COMMIT "unknown"
#endif

namespace bantam::serve {

namespace {

using json = nlohmann::ordered_json;

// Read by both endpoints (openai_request.cpp); "bantam" holds the router's and adapters' options.
constexpr std::array kGenerationFields = {
    "model",          "stream",           "stream_options",   "max_tokens",        "temperature",
    "top_p",          "top_k",            "min_p",            "repeat_penalty",    "repeat_last_n",
    "presence_penalty", "frequency_penalty", "seed",          "n",                 "stop",
    "logit_bias",     "grammar",          "bantam"};
constexpr std::array kChatFields = {"messages",   "max_completion_tokens", "logprobs",           "top_logprobs",
                                    "response_format", "tools",            "tool_choice",        "parallel_tool_calls"};
constexpr std::array kCompletionFields = {"prompt", "logprobs", "echo", "suffix", "best_of"};

// OpenAI's fields that do not change the answer (bookkeeping, caching, latency hints): passing
// over them answers exactly what was asked, so --strict accepts them too.
constexpr std::array kOutputNeutralFields = {"user",        "metadata",          "store",
                                             "service_tier", "safety_identifier", "prompt_cache_key",
                                             "prompt_cache_retention", "prediction"};

// OpenAI's chat fields that would change the answer and that bantam does not implement.
struct Unsupported {
  std::string_view name;
  std::string_view why;
};
constexpr std::array kUnsupportedChatFields = {
    Unsupported{"audio", "audio output is not supported"},
    Unsupported{"reasoning_effort", "the served model has no reasoning-effort control"},
    Unsupported{"verbosity", "the served model has no verbosity control"},
    Unsupported{"web_search_options", "web search is not supported"},
    Unsupported{"functions", "the legacy 'functions' field is not supported; use 'tools'"},
    Unsupported{"function_call", "the legacy 'function_call' field is not supported; use 'tool_choice'"},
};

template <size_t N>
bool listed(const std::array<const char*, N>& names, std::string_view key) {
  return std::any_of(names.begin(), names.end(), [&](const char* name) { return key == name; });
}

bool known(std::string_view key, OpenAiEndpoint endpoint) {
  if (listed(kGenerationFields, key) || listed(kOutputNeutralFields, key)) return true;
  return endpoint == OpenAiEndpoint::ChatCompletions ? listed(kChatFields, key) : listed(kCompletionFields, key);
}

void check_modalities(const json& value) {
  const bool text_only = value.is_array() && std::all_of(value.begin(), value.end(), [](const json& m) {
                           return m.is_string() && m.get<std::string>() == "text";
                         });
  if (!text_only) {
    throw ApiError(400, "'modalities' may only ask for [\"text\"]: other output is not supported", "modalities",
                   "unsupported_value");
  }
}

}  // namespace

void check_request_fields(const json& body, OpenAiEndpoint endpoint, bool strict) {
  for (const auto& item : body.items()) {
    const std::string& key = item.key();  // a name, not a structured binding: clang 14's lambdas cannot capture those
    const json& value = item.value();
    if (value.is_null()) continue;  // clients send explicit nulls for "not set"
    if (endpoint == OpenAiEndpoint::ChatCompletions) {
      if (key == "modalities") {
        check_modalities(value);
        continue;
      }
      const auto unsupported = std::find_if(kUnsupportedChatFields.begin(), kUnsupportedChatFields.end(),
                                            [&](const Unsupported& u) { return u.name == key; });
      if (unsupported != kUnsupportedChatFields.end()) {
        throw ApiError(400, fmt::format("'{}' is not supported: {}", key, unsupported->why), key, "unsupported_parameter");
      }
    }
    if (strict && !known(key, endpoint)) {
      throw ApiError(400, fmt::format("unknown field '{}' (the server runs with --strict)", key), key,
                     "unknown_parameter");
    }
  }
}

const std::string& system_fingerprint() {
  static const std::string fingerprint = fmt::format("bantam-{}-{}", BANTAM_VERSION, BANTAM_GIT_COMMIT);
  return fingerprint;
}

}  // namespace bantam::serve
