#include "serve/chat_format.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "api/model_impl.hpp"
#include "format/input_file.hpp"
#include "format/json_input.hpp"
#include "serve/api_error.hpp"

namespace bantam::serve {

namespace {

using ojson = nlohmann::ordered_json;

std::string tool_call_text(const std::string& name, const std::string& arguments) {
  ojson args;
  try {
    args = parse_json<ojson>(arguments, "the tool call's arguments");
  } catch (const JsonInputError&) {
    args = arguments;
  }
  return fmt::format("{}{}{}", kToolCallOpen, ojson{{"name", name}, {"arguments", args}}.dump(), kToolCallClose);
}

}  // namespace

namespace {

ChatTemplate chosen_template(const Model& model, const ChatFormatOptions& options) {
  const gguf::File& file = model.impl().file;
  if (options.template_file.empty()) return ChatTemplate::from_gguf(file);
  return ChatTemplate::for_gguf(read_input_file(options.template_file), file);
}

std::string format_description(const ChatFormatOptions& options, const ChatTemplate& chat) {
  if (!options.template_file.empty()) return options.template_file + " (--chat-template)";
  if (chat.fallback_format().empty()) return "the model's chat template";
  return chat.fallback_format() + " (built-in: the model has no chat template, so its family's documented format)";
}

}  // namespace

ChatFormatter::ChatFormatter(const Model& model, const jinja::Limits& limits, const ChatFormatOptions& options)
    : model_(model),
      template_(chosen_template(model, options)),
      format_name_(format_description(options, template_)),
      default_system_(options.default_system),
      limits_(limits) {
  template_knows_tools_ = template_.source().find("tools") != std::string::npos;
  template_knows_tool_calls_ = template_.source().find("tool_calls") != std::string::npos;
}

std::string ChatFormatter::prompt_text(const ChatRequest& request) const {
  ChatRequest with_system;
  const bool has_system = !request.messages.empty() && request.messages[0]["role"] == "system";
  if (!default_system_.empty() && !has_system) {
    with_system = request;
    with_system.messages.insert(with_system.messages.begin(), ojson{{"role", "system"}, {"content", default_system_}});
  }
  const ChatRequest& r = with_system.messages.empty() ? request : with_system;
  ojson messages = ojson::array();
  const bool use_tools = !r.tools.empty() && r.tool_choice != ToolChoice::None;
  if (use_tools && !template_knows_tools_) {
    // The template has no place for tools: describe them in a system message of our own.
    std::string text = fmt::format(
        "You may call functions. To call one, reply with only {}{{\"name\": <function name>, \"arguments\": "
        "<arguments object>}}{}. Functions:",
        kToolCallOpen, kToolCallClose);
    for (const ToolSpec& t : r.tools) {
      text += "\n" + ojson{{"name", t.name}, {"description", t.description}, {"parameters", t.parameters}}.dump();
    }
    if (!r.messages.empty() && r.messages[0]["role"] == "system") {
      text = r.messages[0]["content"].get<std::string>() + "\n\n" + text;
    }
    messages.push_back({{"role", "system"}, {"content", text}});
  }
  for (size_t i = 0; i < r.messages.size(); ++i) {
    const ojson& m = r.messages[i];
    if (i == 0 && use_tools && !template_knows_tools_ && m["role"] == "system") continue;
    if (template_knows_tool_calls_) {
      messages.push_back(m);
      continue;
    }
    // Without a template format, tool calls and results travel as text.
    ojson plain{{"role", m["role"]}, {"content", m["content"]}};
    if (m.contains("tool_calls")) {
      std::string text = m["content"].get<std::string>();
      for (const auto& call : m["tool_calls"]) {
        text += tool_call_text(call["function"]["name"].get<std::string>(), call["function"]["arguments"].get<std::string>());
      }
      plain["content"] = text;
    }
    if (m["role"] == "tool") {
      plain["role"] = "user";
      plain["content"] = fmt::format("<tool_response>{}</tool_response>", m["content"].get<std::string>());
    }
    messages.push_back(std::move(plain));
  }
  ChatRenderOptions options;
  options.add_generation_prompt = true;
  options.limits = limits_;
  if (use_tools && template_knows_tools_) {
    ojson tools = ojson::array();
    for (const ToolSpec& t : r.tools) {
      tools.push_back({{"type", "function"},
                       {"function", {{"name", t.name}, {"description", t.description}, {"parameters", t.parameters}}}});
    }
    options.tools = tools;
  }
  try {
    return template_.render(messages, options);
  } catch (const Error& e) {
    throw ApiError(400, fmt::format("the chat template cannot render these messages: {}", e.what()), "messages",
                   "template_error");
  }
}

std::vector<TokenId> ChatFormatter::prompt_tokens(const ChatRequest& r) const {
  const Tokenizer& tokenizer = model_.impl().text();
  std::vector<TokenId> tokens = tokenizer.encode(prompt_text(r), false, true);
  if (tokenizer.add_bos() && tokenizer.bos() >= 0 && (tokens.empty() || tokens.front() != tokenizer.bos())) {
    tokens.insert(tokens.begin(), tokenizer.bos());
  }
  return tokens;
}

int ChatFormatter::system_tokens(const ChatRequest& request, std::span<const TokenId> prompt) const {
  ChatRequest system = request;
  system.messages = nlohmann::ordered_json::array();
  for (const auto& m : request.messages) {
    const auto role = m.find("role");
    if (role == m.end() || *role != "system") break;
    system.messages.push_back(m);
  }
  if (system.messages.empty() && default_system_.empty()) return 0;
  // A stand-in user turn: formats that fold the system prompt into the first user turn (Llama 2's
  // [INST]) render it only with one; the common prefix ends where the user's words begin.
  system.messages.push_back({{"role", "user"}, {"content", "x"}});
  std::vector<TokenId> alone;
  try {
    alone = prompt_tokens(system);
  } catch (const std::exception&) {  // a template that needs a user turn: only the BOS is kept
    return 0;
  }
  const auto common = std::mismatch(alone.begin(), alone.end(), prompt.begin(), prompt.end());
  return static_cast<int>(common.first - alone.begin());
}

std::optional<std::vector<ToolCall>> parse_tool_calls(const std::string& text, const std::vector<ToolSpec>& tools) {
  std::vector<ToolCall> calls;
  size_t pos = 0;
  const auto skip_space = [&] {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
  };
  skip_space();
  while (pos < text.size()) {
    if (text.compare(pos, kToolCallOpen.size(), kToolCallOpen) != 0) return std::nullopt;
    pos += kToolCallOpen.size();
    const size_t end = text.find(kToolCallClose, pos);
    if (end == std::string::npos) return std::nullopt;
    nlohmann::json call;
    try {
      call = parse_json(std::string_view(text).substr(pos, end - pos), "the tool call");
    } catch (const JsonInputError&) {
      return std::nullopt;
    }
    if (!call.is_object() || !call.contains("name") || !call["name"].is_string() || !call.contains("arguments")) {
      return std::nullopt;
    }
    const std::string name = call["name"].get<std::string>();
    if (std::none_of(tools.begin(), tools.end(), [&](const ToolSpec& t) { return t.name == name; })) return std::nullopt;
    const auto& args = call["arguments"];
    calls.push_back({name, args.is_string() ? args.get<std::string>() : args.dump()});
    pos = end + kToolCallClose.size();
    skip_space();
  }
  if (calls.empty()) return std::nullopt;
  return calls;
}

std::shared_ptr<const JsonGrammar> required_tool_grammar(const std::vector<ToolSpec>& tools) {
  nlohmann::json options = nlohmann::json::array();
  for (const ToolSpec& t : tools) {
    options.push_back({{"type", "object"},
                       {"properties", {{"name", {{"const", t.name}}}, {"arguments", t.parameters}}},
                       {"required", {"name", "arguments"}},
                       {"additionalProperties", false}});
  }
  try {
    return JsonGrammar::from_schema({{"anyOf", options}});
  } catch (const Error& e) {
    throw ApiError(400, fmt::format("tools: {}", e.what()), "tools", "unsupported_schema");
  }
}

}  // namespace bantam::serve
