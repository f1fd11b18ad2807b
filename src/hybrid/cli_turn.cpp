#include "hybrid/cli_turn.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace bantam::hybrid {

using nlohmann::json;

json turn_request(std::span<const ChatMessage> messages, const GenerateOptions& generate,
                  const TurnOverrides& overrides) {
  json list = json::array();
  for (const ChatMessage& m : messages) list.push_back({{"role", m.role}, {"content", m.content}});
  json body{{"messages", std::move(list)}, {"temperature", std::max(0.0f, generate.sampling.temperature)}};
  if (generate.max_tokens > 0) body["max_tokens"] = generate.max_tokens;
  if (!generate.stop.empty()) body["stop"] = generate.stop;
  json bantam = json::object();
  if (overrides.cloud_consent) bantam["cloud_consent"] = true;
  if (!overrides.route.empty()) bantam["route"] = overrides.route;
  if (!bantam.empty()) body["bantam"] = std::move(bantam);
  return body;
}

LocalAnswer turn_answer(const GenerateResult& result, std::vector<float> token_logprobs, const std::string& model_id) {
  LocalAnswer answer;
  const bool stopped = result.stop_reason == StopReason::EndOfGeneration || result.stop_reason == StopReason::StopString;
  json choice{{"index", 0},
              {"message", {{"role", "assistant"}, {"content", result.text}}},
              {"finish_reason", stopped ? "stop" : "length"}};
  const auto generated = static_cast<int64_t>(result.tokens.size());
  answer.response = json{{"object", "chat.completion"},
                         {"model", model_id},
                         {"choices", json::array({choice})},
                         {"usage", {{"prompt_tokens", result.prompt_tokens},
                                    {"completion_tokens", generated},
                                    {"total_tokens", result.prompt_tokens + generated}}}};
  answer.outcome.token_logprobs = std::move(token_logprobs);
  answer.tokens_in = result.prompt_tokens;
  answer.tokens_out = generated;
  return answer;
}

std::string answer_text(const json& response) {
  if (response.is_object() && response.contains("choices") && response["choices"].is_array() &&
      !response["choices"].empty()) {
    const json& choice = response["choices"][0];
    if (choice.is_object() && choice.contains("message") && choice["message"].is_object()) {
      const json& message = choice["message"];
      if (message.contains("content") && message["content"].is_string()) return message["content"].get<std::string>();
    }
  }
  throw Error("the chat completion has no choices[0].message.content text");
}

std::string route_line(const json& meta) {
  auto field = [&](const char* name) {
    return meta.is_object() && meta.contains(name) && meta[name].is_string() ? meta[name].get<std::string>() : "";
  };
  const std::string route = field("route");
  std::string line = fmt::format("route: {} (reason: {}", route.empty() ? "unknown" : route, field("reason"));
  for (const char* extra : {"escalated_from", "fallback_from", "cloud_denied"}) {
    const std::string value = field(extra);
    if (!value.empty()) line += fmt::format(", {}: {}", extra, value);
  }
  return line + ")";
}

}  // namespace bantam::hybrid
