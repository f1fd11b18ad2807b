// The pieces `bantam run` and `bantam chat` need to send one turn through the HybridRouter: the
// chat request the router (and, when it escalates, the cloud) sees, the local answer in the shape
// the router expects, and the one-line route summary the CLI prints on stderr.
#pragma once

#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "bantam/bantam.hpp"
#include "hybrid/hybrid_router.hpp"

namespace bantam::hybrid {

// What the user said for this invocation, as serve clients say it in the request's "bantam" field.
struct TurnOverrides {
  bool cloud_consent = false;  // --allow-cloud: this invocation opts in under --cloud-consent ask
  std::string route;           // "" (the policy decides), "local", "cloud" or "auto"
};

// An OpenAI chat completion request for `messages`: max_tokens (when limited), temperature and
// stop strings from `generate`, and the overrides in a "bantam" field (which the router strips
// before anything is sent).
nlohmann::json turn_request(std::span<const ChatMessage> messages, const GenerateOptions& generate,
                            const TurnOverrides& overrides);

// The local model's answer as a chat.completion, with the sampler's log-probabilities of the chosen
// tokens for the confidence rules (the public TokenEvent has no entropy, so that rule stays quiet).
LocalAnswer turn_answer(const GenerateResult& result, std::vector<float> token_logprobs, const std::string& model_id);

// The first choice's message text of a chat.completion; Error when the response has none.
std::string answer_text(const nlohmann::json& response);

// "route: cloud (reason: low-confidence, escalated_from: local)" from a response's "bantam" object
// (fallback_from and cloud_denied are added when present).
std::string route_line(const nlohmann::json& meta);

}  // namespace bantam::hybrid
