// What chat and text completions share: ids, finish reasons, usage, token text, server-sent
// events, and what a set of choice jobs ended with.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "bantam/bantam.hpp"
#include "serve/choice_jobs.hpp"

namespace bantam::serve {

std::string random_id(std::string_view prefix);
// OpenAI's finish_reason; "tool_calls" when the answer is tool calls.
std::string finish_name(StopReason reason, bool tool_calls);
// OpenAI's usage object, with the prompt tokens that came from a slot's cache as cached_tokens.
nlohmann::ordered_json usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens);
std::string token_text(const Model& model, TokenId id);
// A token's bytes as OpenAI lists them (chat logprobs' "bytes").
nlohmann::ordered_json bytes_json(const std::string& text);
// "data: JSON\n\n".
std::string sse(const nlohmann::ordered_json& chunk);
// The error event ending a stream whose generation failed.
std::string sse_generation_error(const std::string& error);
// True when the client went away or a job was cancelled (by the client or a shutdown).
bool choices_cancelled(const ChoiceJobs& jobs);
// ApiError 500 naming the failure when a job failed.
void raise_choice_error(const ChoiceJobs& jobs);

}  // namespace bantam::serve
