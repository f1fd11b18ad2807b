#include "serve/completion_parts.hpp"

#include <random>

#include <fmt/format.h>

#include "api/model_impl.hpp"
#include "serve/api_error.hpp"
#include "serve/server.hpp"

namespace bantam::serve {

using ojson = nlohmann::ordered_json;

std::string random_id(std::string_view prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}{:016x}{:08x}", prefix, rng(), static_cast<uint32_t>(rng()));
}

std::string finish_name(StopReason reason, bool tool_calls) {
  const std::string_view name = openai_finish_reason(reason);
  return tool_calls && name == "stop" ? "tool_calls" : std::string(name);
}

ojson usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens) {
  return ojson{{"prompt_tokens", prompt_tokens},
               {"completion_tokens", completion_tokens},
               {"total_tokens", prompt_tokens + completion_tokens},
               {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}}};
}

std::string token_text(const Model& model, TokenId id) { return model.impl().text().token_bytes(id); }

ojson bytes_json(const std::string& text) {
  ojson bytes = ojson::array();
  for (unsigned char c : text) bytes.push_back(static_cast<int>(c));
  return bytes;
}

std::string sse(const ojson& chunk) { return "data: " + dump_json(chunk) + "\n\n"; }

std::string sse_generation_error(const std::string& error) {
  return sse(ojson{{"error", {{"message", fmt::format("generation failed: {}", error)},
                              {"type", "server_error"}, {"param", nullptr}, {"code", nullptr}}}});
}

bool choices_cancelled(const ChoiceJobs& jobs) {
  if (jobs.cancelled()) return true;
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (jobs.job(i).finish_reason() == StopReason::Cancelled) return true;
  }
  return false;
}

void raise_choice_error(const ChoiceJobs& jobs) {
  if (const auto error = jobs.error()) throw ApiError(500, fmt::format("generation failed: {}", *error));
}

}  // namespace bantam::serve
