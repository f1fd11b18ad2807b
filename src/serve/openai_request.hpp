// Request bodies of the OpenAI API, parsed and checked field by field: a wrong type, a number out
// of range, an unknown role or an unenforceable schema is an ApiError (400) naming the field.
// Bodies are read as ordered_json so a JSON schema keeps the order of its properties.
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

// What the server applies to every request: the sampling and max_tokens a request leaves out
// (serve's --temp, --top-k, ..., --n-predict; the CLI's defaults unless set), and whether a field
// bantam does not know is refused (--strict) rather than passed over.
struct RequestPolicy {
  SamplingOptions sampling;
  int max_tokens = -1;  // -1: chat runs until done; text completions take OpenAI's 16
  bool strict = false;
};

// Fields shared by chat and text completions.
struct GenerationFields {
  std::string model;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  int n = 1;                   // choices, each sampled on its own
  // max_tokens (-1: not given), sampling, stop and logit_bias; the endpoints add the rest.
  GenerationSpec generation;

  // Choice `index`'s generation: with a seed, choice i samples with seed + i, so the same request
  // gives the same n answers and they differ from each other.
  GenerationSpec for_choice(int index) const;
};

struct ChatRequest : GenerationFields {
  nlohmann::ordered_json messages;  // each: role, content (string), maybe tool_calls, tool_call_id, name
  bool logprobs = false;
  int top_logprobs = 0;
  std::shared_ptr<const OutputGrammar> grammar;  // response_format json_object / json_schema, or grammar (GBNF)
  std::vector<ToolSpec> tools;
  ToolChoice tool_choice = ToolChoice::None;
  std::string named_tool;  // ToolChoice::Named
  bool parallel_tool_calls = true;  // false: an answer holds at most one tool call
};

// One prompt of a text completion: text the server tokenizes, or token ids as given.
struct CompletionPrompt {
  std::string text;
  std::vector<TokenId> tokens;
  bool is_tokens = false;
};

struct CompletionRequest : GenerationFields {
  std::vector<CompletionPrompt> prompts;  // n choices each; choice index = prompt * n + choice
  int logprobs = -1;  // -1: none, else alternatives per token (0..20)
  bool echo = false;  // the prompt's text (and, with logprobs, its tokens' logprobs) comes first
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
// The same with its keys in the order they were sent (what a JSON schema's properties need).
nlohmann::ordered_json parse_ordered_request_body(const std::string& body);
ChatRequest parse_chat_request(const nlohmann::ordered_json& body, int n_vocab, const RequestPolicy& policy = {});
CompletionRequest parse_completion_request(const nlohmann::ordered_json& body, int n_vocab,
                                           const RequestPolicy& policy = {});
EmbeddingRequest parse_embedding_request(const nlohmann::ordered_json& body, int n_vocab, int n_embd);

}  // namespace bantam::serve
