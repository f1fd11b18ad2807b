#include "serve/openai_request.hpp"

#include <fmt/format.h>

#include "format/json_input.hpp"
#include "runtime/generation_params.hpp"
#include "serve/api_error.hpp"
#include "serve/request_fields.hpp"
#include "serve/grammar_field.hpp"

namespace bantam::serve {

namespace {

using json = nlohmann::ordered_json;

constexpr int kMaxMessages = 4096;
constexpr int kMaxStops = 4;
constexpr size_t kMaxStopBytes = 256;
constexpr int kMaxTools = 128;
constexpr int kMaxChoices = 128;  // OpenAI's limit on n
constexpr size_t kMaxPrompts = 2048;

bool present(const json& j, const char* key) { return j.contains(key) && !j[key].is_null(); }

// A real generation parameter (runtime/generation_params.hpp): the request's value, checked
// against the table's range, else the server's default.
float real_param(const json& j, const char* name, float fallback) {
  const GenerationParam& p = generation_param(name);
  if (!present(j, name)) return fallback;
  const json& v = j[name];
  if (!v.is_number()) throw ApiError(400, fmt::format("'{}' must be a number", name), name, "invalid_type");
  if (!in_range(p, v.get<double>())) {
    throw ApiError(400, fmt::format("'{}' is {}; it must be {}", name, v.dump(), range_text(p)), name,
                   "invalid_value");
  }
  return static_cast<float>(v.get<double>());
}

int64_t integer_field(const json& j, const char* key, int64_t lo, int64_t hi, int64_t fallback) {
  if (!present(j, key)) return fallback;
  const json& v = j[key];
  if (!v.is_number_integer()) {
    if (v.is_number_float() && v.get<double>() == std::floor(v.get<double>()) && std::abs(v.get<double>()) < 9e15) {
      const auto x = static_cast<int64_t>(v.get<double>());
      if (x >= lo && x <= hi) return x;
    }
    if (v.is_number()) {
      throw ApiError(400, fmt::format("'{}' is {}; it must be an integer from {} to {}", key, v.dump(), lo, hi), key,
                     "invalid_value");
    }
    throw ApiError(400, fmt::format("'{}' must be an integer", key), key, "invalid_type");
  }
  // Unsigned values above INT64_MAX are "huge" too.
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi)) {
    throw ApiError(400, fmt::format("'{}' is {}; it must be an integer from {} to {}", key, v.dump(), lo, hi), key,
                   "invalid_value");
  }
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) {
    throw ApiError(400, fmt::format("'{}' is {}; it must be an integer from {} to {}", key, x, lo, hi), key,
                   "invalid_value");
  }
  return x;
}

// An integer generation parameter, read as `key` (an alias such as max_completion_tokens), else
// the server's default.
int64_t integer_param(const json& j, const char* key, const char* name, int64_t fallback) {
  const GenerationParam& p = generation_param(name);
  return integer_field(j, key, p.int_min, p.int_max, fallback);
}

bool bool_field(const json& j, const char* key, bool fallback) {
  if (!present(j, key)) return fallback;
  if (!j[key].is_boolean()) throw ApiError(400, fmt::format("'{}' must be a boolean", key), key, "invalid_type");
  return j[key].get<bool>();
}

std::string string_field(const json& j, const char* key, const std::string& param) {
  if (!present(j, key)) return {};
  if (!j[key].is_string()) throw ApiError(400, fmt::format("'{}' must be a string", param), param, "invalid_type");
  return j[key].get<std::string>();
}

void parse_generation_fields(const json& j, int n_vocab, const RequestPolicy& policy, GenerationFields& g) {
  g.model = string_field(j, "model", "model");
  g.stream = bool_field(j, "stream", false);
  if (present(j, "stream_options")) {
    if (!j["stream_options"].is_object()) {
      throw ApiError(400, "'stream_options' must be an object", "stream_options", "invalid_type");
    }
    g.include_usage = bool_field(j["stream_options"], "include_usage", false);
  }
  const char* max_tokens_key = present(j, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  g.generation.max_tokens = static_cast<int>(integer_param(j, max_tokens_key, "max_tokens", policy.max_tokens));
  SamplingOptions& s = g.generation.sampling;
  const SamplingOptions& d = policy.sampling;
  s.temperature = real_param(j, "temperature", d.temperature);
  s.top_p = real_param(j, "top_p", d.top_p);
  s.top_k = static_cast<int>(integer_param(j, "top_k", "top_k", d.top_k));
  s.min_p = real_param(j, "min_p", d.min_p);
  s.repeat_penalty = real_param(j, "repeat_penalty", d.repeat_penalty);
  s.penalty_last_n = static_cast<int>(integer_param(j, "repeat_last_n", "repeat_last_n", d.penalty_last_n));
  s.presence_penalty = real_param(j, "presence_penalty", d.presence_penalty);
  s.frequency_penalty = real_param(j, "frequency_penalty", d.frequency_penalty);
  // Sampler seed 0 means "random", so a client's seed s maps to s + 1.
  s.seed = d.seed;
  if (present(j, "seed")) s.seed = static_cast<uint64_t>(integer_param(j, "seed", "seed", 0)) + 1;
  g.n = static_cast<int>(integer_field(j, "n", 1, kMaxChoices, 1));

  if (present(j, "stop")) {
    const json& stop = j["stop"];
    std::vector<json> items;
    if (stop.is_string()) {
      items.push_back(stop);
    } else if (stop.is_array()) {
      items.assign(stop.begin(), stop.end());
    } else {
      throw ApiError(400, "'stop' must be a string or an array of strings", "stop", "invalid_type");
    }
    if (items.size() > static_cast<size_t>(kMaxStops)) {
      throw ApiError(400, fmt::format("'stop' has {} strings; at most {} are allowed", items.size(), kMaxStops), "stop",
                     "invalid_value");
    }
    for (const json& item : items) {
      if (!item.is_string()) throw ApiError(400, "'stop' must contain only strings", "stop", "invalid_type");
      const std::string text = item.get<std::string>();
      if (text.empty() || text.size() > kMaxStopBytes) {
        throw ApiError(400, fmt::format("each stop string must be 1 to {} bytes", kMaxStopBytes), "stop", "invalid_value");
      }
      g.generation.stop.push_back(text);
    }
  }
  if (present(j, "logit_bias")) {
    const json& bias = j["logit_bias"];
    if (!bias.is_object()) throw ApiError(400, "'logit_bias' must be an object", "logit_bias", "invalid_type");
    for (const auto& [key, value] : bias.items()) {
      int64_t id = -1;
      try {
        size_t used = 0;
        id = std::stoll(key, &used);
        if (used != key.size()) id = -1;
      } catch (const std::exception&) {
        id = -1;
      }
      if (id < 0 || id >= n_vocab) {
        throw ApiError(400, fmt::format("'logit_bias' key '{}' is not a token id of this model (0..{})", key, n_vocab - 1),
                       "logit_bias", "invalid_value");
      }
      if (!value.is_number() || value.get<double>() < -100.0 || value.get<double>() > 100.0) {
        throw ApiError(400, fmt::format("'logit_bias' value for token {} must be a number from -100 to 100", key),
                       "logit_bias", "invalid_value");
      }
      g.generation.logit_bias.emplace_back(static_cast<TokenId>(id), value.get<float>());
    }
  }
}

std::shared_ptr<const JsonGrammar> compile_schema(const json& schema, const std::string& param) {
  try {
    return JsonGrammar::from_schema(schema);
  } catch (const Error& e) {
    throw ApiError(400, fmt::format("{}: {}", param, e.what()), param, "unsupported_schema");
  }
}

// Text of a message's content: a string, null, or an array of text parts.
std::string message_content(const json& content, const std::string& param) {
  if (content.is_null()) return {};
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) throw ApiError(400, fmt::format("'{}' must be a string or an array of parts", param), param, "invalid_type");
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string part_param = fmt::format("{}[{}]", param, i);
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
      throw ApiError(400, fmt::format("'{}' must be an object with a 'type'", part_param), part_param, "invalid_type");
    }
    const std::string type = part["type"].get<std::string>();
    if (type != "text") {
      throw ApiError(400, fmt::format("content part type '{}' is not supported (only 'text')", type), part_param,
                     "unsupported_value");
    }
    if (!part.contains("text") || !part["text"].is_string()) {
      throw ApiError(400, fmt::format("'{}.text' must be a string", part_param), part_param + ".text", "invalid_type");
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

bool valid_function_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  }
  return true;
}

nlohmann::ordered_json parse_messages(const json& j) {
  if (!j.contains("messages")) throw ApiError(400, "'messages' is required", "messages", "missing_required_parameter");
  const json& list = j["messages"];
  if (!list.is_array()) throw ApiError(400, "'messages' must be an array", "messages", "invalid_type");
  if (list.empty()) throw ApiError(400, "'messages' must not be empty", "messages", "invalid_value");
  if (list.size() > static_cast<size_t>(kMaxMessages)) {
    throw ApiError(400, fmt::format("'messages' has {} entries; at most {}", list.size(), kMaxMessages), "messages",
                   "invalid_value");
  }
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (size_t i = 0; i < list.size(); ++i) {
    const json& m = list[i];
    const std::string param = fmt::format("messages[{}]", i);
    if (!m.is_object()) throw ApiError(400, fmt::format("'{}' must be an object", param), param, "invalid_type");
    if (!m.contains("role") || !m["role"].is_string()) {
      throw ApiError(400, fmt::format("'{}.role' must be a string", param), param + ".role", "invalid_type");
    }
    std::string role = m["role"].get<std::string>();
    if (role == "developer") role = "system";
    if (role != "system" && role != "user" && role != "assistant" && role != "tool") {
      throw ApiError(400, fmt::format("'{}.role' is '{}'; it must be system, developer, user, assistant or tool", param, role),
                     param + ".role", "invalid_value");
    }
    nlohmann::ordered_json message;
    message["role"] = role;
    const bool has_tool_calls = role == "assistant" && present(m, "tool_calls");
    if (!m.contains("content") && !has_tool_calls) {
      throw ApiError(400, fmt::format("'{}.content' is required", param), param + ".content", "missing_required_parameter");
    }
    message["content"] = message_content(m.value("content", json()), param + ".content");
    if (has_tool_calls) {
      const json& calls = m["tool_calls"];
      if (!calls.is_array()) throw ApiError(400, fmt::format("'{}.tool_calls' must be an array", param), param + ".tool_calls", "invalid_type");
      nlohmann::ordered_json parsed = nlohmann::ordered_json::array();
      for (size_t k = 0; k < calls.size(); ++k) {
        const json& call = calls[k];
        const std::string call_param = fmt::format("{}.tool_calls[{}]", param, k);
        if (!call.is_object() || !call.contains("function") || !call["function"].is_object() ||
            !call["function"].contains("name") || !call["function"]["name"].is_string()) {
          throw ApiError(400, fmt::format("'{}' must have function.name", call_param), call_param, "invalid_type");
        }
        const json& fn = call["function"];
        std::string arguments = "{}";
        if (present(fn, "arguments")) {
          if (!fn["arguments"].is_string()) {
            throw ApiError(400, fmt::format("'{}.function.arguments' must be a string", call_param),
                           call_param + ".function.arguments", "invalid_type");
          }
          arguments = fn["arguments"].get<std::string>();
        }
        parsed.push_back({{"id", string_field(call, "id", call_param + ".id")},
                          {"type", "function"},
                          {"function", {{"name", fn["name"]}, {"arguments", arguments}}}});
      }
      message["tool_calls"] = parsed;
    }
    if (role == "tool") {
      message["tool_call_id"] = string_field(m, "tool_call_id", param + ".tool_call_id");
    }
    if (present(m, "name")) message["name"] = string_field(m, "name", param + ".name");
    out.push_back(std::move(message));
  }
  return out;
}

void parse_tools(const json& j, ChatRequest& r) {
  if (present(j, "tools")) {
    const json& tools = j["tools"];
    if (!tools.is_array()) throw ApiError(400, "'tools' must be an array", "tools", "invalid_type");
    if (tools.size() > static_cast<size_t>(kMaxTools)) {
      throw ApiError(400, fmt::format("'tools' has {} entries; at most {}", tools.size(), kMaxTools), "tools", "invalid_value");
    }
    for (size_t i = 0; i < tools.size(); ++i) {
      const json& t = tools[i];
      const std::string param = fmt::format("tools[{}]", i);
      if (!t.is_object() || !t.contains("type") || t["type"] != "function" || !t.contains("function") ||
          !t["function"].is_object()) {
        throw ApiError(400, fmt::format("'{}' must be {{\"type\": \"function\", \"function\": {{...}}}}", param), param,
                       "invalid_type");
      }
      const json& fn = t["function"];
      ToolSpec spec;
      spec.name = string_field(fn, "name", param + ".function.name");
      if (!valid_function_name(spec.name)) {
        throw ApiError(400, fmt::format("'{}.function.name' must be 1-64 letters, digits, '_' or '-'", param),
                       param + ".function.name", "invalid_value");
      }
      spec.description = string_field(fn, "description", param + ".function.description");
      spec.parameters = present(fn, "parameters") ? fn["parameters"] : json{{"type", "object"}, {"properties", json::object()}};
      if (!spec.parameters.is_object()) {
        throw ApiError(400, fmt::format("'{}.function.parameters' must be a JSON schema object", param),
                       param + ".function.parameters", "invalid_type");
      }
      spec.grammar = compile_schema(spec.parameters, param + ".function.parameters");
      r.tools.push_back(std::move(spec));
    }
  }
  r.tool_choice = r.tools.empty() ? ToolChoice::None : ToolChoice::Auto;
  if (!present(j, "tool_choice")) return;
  const json& choice = j["tool_choice"];
  if (choice.is_string()) {
    const std::string mode = choice.get<std::string>();
    if (mode == "none") {
      r.tool_choice = ToolChoice::None;
    } else if (mode == "auto" || mode == "required") {
      if (r.tools.empty()) throw ApiError(400, fmt::format("tool_choice '{}' needs 'tools'", mode), "tool_choice", "invalid_value");
      r.tool_choice = mode == "auto" ? ToolChoice::Auto : ToolChoice::Required;
    } else {
      throw ApiError(400, fmt::format("'tool_choice' is '{}'; it must be none, auto or required", mode), "tool_choice",
                     "invalid_value");
    }
    return;
  }
  if (!choice.is_object() || !choice.contains("function") || !choice["function"].is_object()) {
    throw ApiError(400, "'tool_choice' must be a string or {\"type\": \"function\", \"function\": {\"name\": ...}}",
                   "tool_choice", "invalid_type");
  }
  r.named_tool = string_field(choice["function"], "name", "tool_choice.function.name");
  const bool known = std::any_of(r.tools.begin(), r.tools.end(), [&](const ToolSpec& t) { return t.name == r.named_tool; });
  if (!known) {
    throw ApiError(400, fmt::format("tool_choice names '{}', which is not in 'tools'", r.named_tool),
                   "tool_choice.function.name", "invalid_value");
  }
  r.tool_choice = ToolChoice::Named;
}

}  // namespace

namespace {

template <class Json>
Json parse_body(const std::string& body) {
  Json j;
  try {
    j = parse_json<Json>(body, "the request body");
  } catch (const JsonInputError& e) {
    throw ApiError(400, e.what(), e.path(), "invalid_json");
  }
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object", "", "invalid_json");
  return j;
}

// A token id list of a prompt: every entry an id of this model.
std::vector<TokenId> token_ids(const json& list, int n_vocab, const std::string& param) {
  std::vector<TokenId> ids;
  ids.reserve(list.size());
  for (const json& v : list) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= n_vocab) {
      throw ApiError(400, fmt::format("'{}' must hold token ids from 0 to {}", param, n_vocab - 1), param, "invalid_value");
    }
    ids.push_back(static_cast<TokenId>(v.get<int64_t>()));
  }
  if (ids.empty()) throw ApiError(400, fmt::format("'{}' has no tokens", param), param, "invalid_value");
  return ids;
}

// OpenAI's four prompt shapes: a string, an array of strings, an array of token ids, an array of
// token id arrays.
std::vector<CompletionPrompt> parse_prompts(const json& j, int n_vocab) {
  if (!j.contains("prompt")) throw ApiError(400, "'prompt' is required", "prompt", "missing_required_parameter");
  const json& prompt = j["prompt"];
  std::vector<CompletionPrompt> prompts;
  if (prompt.is_string()) {
    prompts.push_back({prompt.get<std::string>(), {}, false});
    return prompts;
  }
  const char* shapes = "'prompt' must be a string, an array of strings, an array of token ids or an array of token id arrays";
  if (!prompt.is_array() || prompt.empty()) throw ApiError(400, shapes, "prompt", "invalid_type");
  if (prompt[0].is_number()) {
    prompts.push_back({{}, token_ids(prompt, n_vocab, "prompt"), true});
    return prompts;
  }
  if (prompt.size() > kMaxPrompts) {
    throw ApiError(400, fmt::format("'prompt' has {} entries; at most {}", prompt.size(), kMaxPrompts), "prompt",
                   "invalid_value");
  }
  for (size_t i = 0; i < prompt.size(); ++i) {
    const std::string param = fmt::format("prompt[{}]", i);
    if (prompt[i].is_string()) {
      prompts.push_back({prompt[i].get<std::string>(), {}, false});
    } else if (prompt[i].is_array()) {
      prompts.push_back({{}, token_ids(prompt[i], n_vocab, param), true});
    } else {
      throw ApiError(400, shapes, param, "invalid_type");
    }
  }
  return prompts;
}

}  // namespace

GenerationSpec GenerationFields::for_choice(int index) const {
  GenerationSpec spec = generation;
  if (spec.sampling.seed != 0) spec.sampling.seed += static_cast<uint64_t>(index);
  return spec;
}

json parse_ordered_request_body(const std::string& body) { return parse_body<json>(body); }

nlohmann::json parse_request_body(const std::string& body) { return parse_body<nlohmann::json>(body); }

ChatRequest parse_chat_request(const json& j, int n_vocab, const RequestPolicy& policy) {
  check_request_fields(j, OpenAiEndpoint::ChatCompletions, policy.strict);
  ChatRequest r;
  parse_generation_fields(j, n_vocab, policy, r);
  r.messages = parse_messages(j);
  r.logprobs = bool_field(j, "logprobs", false);
  r.top_logprobs = static_cast<int>(integer_field(j, "top_logprobs", 0, 20, 0));
  if (present(j, "top_logprobs") && !r.logprobs) {
    throw ApiError(400, "'top_logprobs' needs 'logprobs': true", "top_logprobs", "invalid_value");
  }
  if (present(j, "response_format")) {
    const json& format = j["response_format"];
    if (!format.is_object() || !format.contains("type") || !format["type"].is_string()) {
      throw ApiError(400, "'response_format' must be an object with a 'type'", "response_format", "invalid_type");
    }
    const std::string type = format["type"].get<std::string>();
    if (type == "json_object") {
      r.grammar = JsonGrammar::any_object();
    } else if (type == "json_schema") {
      if (!format.contains("json_schema") || !format["json_schema"].is_object()) {
        throw ApiError(400, "'response_format.json_schema' must be an object", "response_format.json_schema", "invalid_type");
      }
      const json& spec = format["json_schema"];
      if (!spec.contains("schema") || !spec["schema"].is_object()) {
        throw ApiError(400, "'response_format.json_schema.schema' must be a JSON schema object",
                       "response_format.json_schema.schema", "invalid_type");
      }
      r.grammar = compile_schema(spec["schema"], "response_format.json_schema.schema");
    } else if (type != "text") {
      throw ApiError(400, fmt::format("'response_format.type' is '{}'; it must be text, json_object or json_schema", type),
                     "response_format.type", "invalid_value");
    }
  }
  if (auto gbnf = grammar_field(j)) {
    if (r.grammar) throw ApiError(400, "'grammar' cannot be combined with 'response_format'", "grammar", "invalid_value");
    r.grammar = std::move(gbnf);
  }
  parse_tools(j, r);
  r.parallel_tool_calls = bool_field(j, "parallel_tool_calls", true);
  if (r.grammar && (r.tool_choice == ToolChoice::Required || r.tool_choice == ToolChoice::Named)) {
    throw ApiError(400, "'response_format' cannot be combined with a forced tool call", "response_format", "invalid_value");
  }
  return r;
}

CompletionRequest parse_completion_request(const json& j, int n_vocab, const RequestPolicy& policy) {
  check_request_fields(j, OpenAiEndpoint::Completions, policy.strict);
  CompletionRequest r;
  // max_tokens 0 is a completion's way to score a prompt (with echo and logprobs), so the range
  // starts at 0 here.
  const bool zero_tokens = present(j, "max_tokens") && j["max_tokens"].is_number() && j["max_tokens"].get<double>() == 0;
  if (zero_tokens) {
    json fields = j;
    fields.erase("max_tokens");
    parse_generation_fields(fields, n_vocab, policy, r);
    r.generation.max_tokens = 0;
  } else {
    parse_generation_fields(j, n_vocab, policy, r);
  }
  r.prompts = parse_prompts(j, n_vocab);
  r.echo = bool_field(j, "echo", false);
  if (!string_field(j, "suffix", "suffix").empty()) {
    throw ApiError(400,
                   "'suffix' (fill-in-the-middle) is not supported on /v1/completions; use /infill with a model "
                   "that has fill-in-the-middle tokens",
                   "suffix", "unsupported_parameter");
  }
  const int64_t best_of = integer_field(j, "best_of", 1, kMaxChoices, r.n);
  if (best_of != r.n) {
    throw ApiError(400, fmt::format("'best_of' is {}; only best_of = n ({}) is supported", best_of, r.n), "best_of",
                   "unsupported_value");
  }
  // OpenAI allows 5; lm-evaluation-harness's older local-completions asks for 10.
  r.logprobs = static_cast<int>(integer_field(j, "logprobs", 0, 20, -1));
  r.generation.grammar = grammar_field(j);
  return r;
}

EmbeddingRequest parse_embedding_request(const json& j, int n_vocab, int n_embd) {
  EmbeddingRequest r;
  r.model = string_field(j, "model", "model");
  if (!j.contains("input")) throw ApiError(400, "'input' is required", "input", "missing_required_parameter");
  const json& input = j["input"];
  if (input.is_string()) {
    r.texts.push_back(input.get<std::string>());
  } else if (input.is_array() && !input.empty()) {
    if (input.size() > 2048) throw ApiError(400, "'input' has more than 2048 entries", "input", "invalid_value");
    if (input[0].is_number()) {
      r.token_inputs.push_back(token_ids(input, n_vocab, "input"));
    } else {
      for (size_t i = 0; i < input.size(); ++i) {
        const std::string param = fmt::format("input[{}]", i);
        if (input[i].is_string()) {
          if (!r.token_inputs.empty()) throw ApiError(400, "'input' mixes strings and token arrays", "input", "invalid_type");
          r.texts.push_back(input[i].get<std::string>());
        } else if (input[i].is_array()) {
          if (!r.texts.empty()) throw ApiError(400, "'input' mixes strings and token arrays", "input", "invalid_type");
          r.token_inputs.push_back(token_ids(input[i], n_vocab, param));
        } else {
          throw ApiError(400, fmt::format("'{}' must be a string or an array of token ids", param), param, "invalid_type");
        }
      }
    }
  } else {
    throw ApiError(400, "'input' must be a string or a non-empty array", "input", "invalid_type");
  }
  for (size_t i = 0; i < r.texts.size(); ++i) {
    if (r.texts[i].empty()) throw ApiError(400, fmt::format("input {} is an empty string", i), "input", "invalid_value");
  }
  const std::string format = string_field(j, "encoding_format", "encoding_format");
  if (!format.empty() && format != "float" && format != "base64") {
    throw ApiError(400, fmt::format("'encoding_format' is '{}'; it must be float or base64", format), "encoding_format",
                   "invalid_value");
  }
  r.base64 = format == "base64";
  const int64_t dimensions = integer_field(j, "dimensions", 1, 1 << 20, n_embd);
  if (dimensions != n_embd) {
    throw ApiError(400, fmt::format("'dimensions' is {}; this model's embeddings have {}", dimensions, n_embd),
                   "dimensions", "unsupported_value");
  }
  return r;
}

}  // namespace bantam::serve
