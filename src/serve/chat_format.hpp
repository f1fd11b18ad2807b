// Chat requests to prompt tokens through the model's chat template, tools included, and the
// model's tool calls back from text.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bantam/bantam.hpp"
#include "serve/openai_request.hpp"
#include "text/chat_template.hpp"

namespace bantam::serve {

struct ToolCall {
  std::string name;
  std::string arguments;  // JSON text
};

// Tool calls the model writes when the template has no format of its own.
inline constexpr std::string_view kToolCallOpen = "<tool_call>";
inline constexpr std::string_view kToolCallClose = "</tool_call>";

// How the server formats chats (serve's --chat-template and --system).
struct ChatFormatOptions {
  std::string template_file;   // empty: the model's template, else its family's built-in format
  std::string default_system;  // the system message of a request that has none (empty: none)
};

class ChatFormatter {
 public:
  // Error when the model has no usable template (or the template file cannot be read or parsed);
  // `limits` bound every render of it.
  ChatFormatter(const Model& model, const jinja::Limits& limits, const ChatFormatOptions& options = {});
  std::vector<TokenId> prompt_tokens(const ChatRequest& request) const;
  std::string prompt_text(const ChatRequest& request) const;
  // Leading tokens of `prompt` (this request's) that its system part renders to: what a context
  // shift keeps. 0 when the template renders no system part alone.
  int system_tokens(const ChatRequest& request, std::span<const TokenId> prompt) const;
  const ChatTemplate& chat_template() const { return template_; }

  // Which format chats are rendered with, for people (serve's start-up line, /props):
  // "the model's chat template", "FILE (--chat-template)", or, for a model without a template,
  // "NAME (built-in fallback ...)" with the format its family documents (Llama 2, ChatML, ...).
  const std::string& format_name() const { return format_name_; }

 private:
  const Model& model_;
  ChatTemplate template_;
  std::string format_name_;
  std::string default_system_;
  bool template_knows_tools_;
  bool template_knows_tool_calls_;
  jinja::Limits limits_;
};

// "<tool_call>{"name": ..., "arguments": {...}}</tool_call>" blocks naming known tools; nullopt
// when the text is not wholly tool calls.
std::optional<std::vector<ToolCall>> parse_tool_calls(const std::string& text, const std::vector<ToolSpec>& tools);

// Output grammar for tool_choice "required": {"name": one of the tools, "arguments": its schema}.
std::shared_ptr<const JsonGrammar> required_tool_grammar(const std::vector<ToolSpec>& tools);

}  // namespace bantam::serve
