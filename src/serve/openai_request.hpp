// Request bodies of the OpenAI API, parsed and checked field by field: a wrong type, a number out
// of range, an unknown role or an unenforceable schema is an ApiError (400) naming the field.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bantam/bantam.hpp"
#include "runtime/generation.hpp"
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
  // max_tokens (-1: not given), sampling, stop and logit_bias; the endpoints add the rest.
  GenerationSpec generation;
};

struct ChatRequest : GenerationFields {
  nlohmann::ordered_json messages;  // each: role, content (string), maybe tool_calls, tool_call_id, name
  bool logprobs = false;
  int top_logprobs = 0;
  std::shared_ptr<const OutputGrammar> grammar;  // response_format json_object / json_schema, or grammar (GBNF)
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

// A request body as JSON, parsed once per request (malformed JSON or a non-object is an
// ApiError); the parsers below, the adapter choice and the router all read this one value.
nlohmann::json parse_request_body(const std::string& body);
ChatRequest parse_chat_request(const nlohmann::json& body, int n_vocab);
CompletionRequest parse_completion_request(const nlohmann::json& body, int n_vocab);
EmbeddingRequest parse_embedding_request(const nlohmann::json& body, int n_vocab, int n_embd);

}  // namespace bantam::serve
