// Request bodies of the OpenAI API, parsed and checked field by field: a wrong type, a number out
// of range, an unknown role or an unenforceable schema is an ApiError (400) naming the field.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bantam/bantam.hpp"
#include "runtime/json_grammar.hpp"

namespace bantam::serve {

struct ToolSpec {
  std::string name;
  std::string description;
  nlohmann::json parameters;  // a JSON schema (object)
  std::shared_ptr<const JsonGrammar> grammar;
};

enum class ToolChoice { None, Auto, Required, Named };

// Fields shared by chat and text completions.
struct GenerationFields {
  std::string model;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  int max_tokens = -1;         // -1: not given
  SamplingOptions sampling;
  std::vector<std::string> stop;
  std::vector<std::pair<TokenId, float>> logit_bias;
};

struct ChatRequest : GenerationFields {
  nlohmann::ordered_json messages;  // each: role, content (string), maybe tool_calls, tool_call_id, name
  bool logprobs = false;
  int top_logprobs = 0;
  std::shared_ptr<const JsonGrammar> grammar;  // response_format json_object / json_schema
  std::vector<ToolSpec> tools;
  ToolChoice tool_choice = ToolChoice::None;
  std::string named_tool;  // ToolChoice::Named
};

struct CompletionRequest : GenerationFields {
  std::string prompt;
  int logprobs = -1;  // -1: none, else alternatives per token (0..5)
};

struct EmbeddingRequest {
  std::string model;
  std::vector<std::string> texts;                 // input as strings, or
  std::vector<std::vector<TokenId>> token_inputs;  // input as token ids
  bool base64 = false;
};

// Bodies are parsed from text here, so malformed JSON is also an ApiError.
ChatRequest parse_chat_request(const std::string& body, int n_vocab);
CompletionRequest parse_completion_request(const std::string& body, int n_vocab);
EmbeddingRequest parse_embedding_request(const std::string& body, int n_vocab, int n_embd);

}  // namespace bantam::serve
