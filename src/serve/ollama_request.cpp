#include "serve/ollama_request.hpp"

#include <fmt/format.h>

#include "serve/api_error.hpp"

namespace bantam::serve {

namespace {

using json = nlohmann::json;

bool present(const json& j, const char* key) { return j.contains(key) && !j[key].is_null(); }

// ollama's option → the OpenAI request field holding the same generation parameter.
struct OptionField {
  const char* ollama;
  const char* openai;
};
constexpr OptionField kOptionFields[] = {
    {"temperature", "temperature"},
    {"top_p", "top_p"},
    {"top_k", "top_k"},
    {"min_p", "min_p"},
    {"repeat_penalty", "repeat_penalty"},
    {"repeat_last_n", "repeat_last_n"},
    {"presence_penalty", "presence_penalty"},
    {"frequency_penalty", "frequency_penalty"},
    {"seed", "seed"},
    {"num_predict", "max_tokens"},
    {"stop", "stop"},
};

// Options that would change the output but that bantam's sampler does not have: accepted only at
// the value that leaves sampling alone, which clients sending every default use.
struct NeutralOnlyOption {
  const char* name;
  double neutral;
};
constexpr NeutralOnlyOption kNeutralOnly[] = {{"typical_p", 1.0}, {"tfs_z", 1.0}, {"mirostat", 0.0}};

// The ollama name of a field of the OpenAI request it was mapped to.
std::string ollama_param(const std::string& openai) {
  for (const OptionField& f : kOptionFields) {
    if (openai == f.openai) return fmt::format("options.{}", f.ollama);
  }
  if (openai.starts_with("response_format")) return "format";
  return openai;  // messages[...], tools[...], input, dimensions: the same names in both APIs
}

// Runs an OpenAI parser on the mapped body; its errors are rewritten to name ollama's fields.
template <typename Parse>
auto in_ollama_terms(Parse&& parse) {
  try {
    return parse();
  } catch (const ApiError& e) {
    const std::string param = ollama_param(e.param);
    std::string message = e.what();
    if (!e.param.empty() && param != e.param) {
      for (size_t at = message.find(e.param); at != std::string::npos; at = message.find(e.param, at + param.size())) {
        message.replace(at, e.param.size(), param);
      }
    }
    throw ApiError(e.status, message, param, e.code);
  }
}

void check_bool(const json& j, const char* key) {
  if (present(j, key) && !j[key].is_boolean()) {
    throw ApiError(400, fmt::format("'{}' must be a boolean", key), key, "invalid_type");
  }
}

void refuse_images(const json& j, const std::string& param) {
  if (!present(j, "images")) return;
  if (!j["images"].is_array() || !j["images"].empty()) {
    throw ApiError(400, fmt::format("'{}': images are not supported (bantam serves text-only models)", param), param,
                   "unsupported_value");
  }
}

// Fields every generating request may carry: stream, keep_alive, think, logprobs.
void read_common(const json& j, OllamaGenerateRequest& r) {
  check_bool(j, "stream");
  r.stream = present(j, "stream") ? j["stream"].get<bool>() : true;
  // bantam keeps its one model loaded whatever keep_alive says; it is accepted when well formed.
  if (present(j, "keep_alive") && !j["keep_alive"].is_string() && !j["keep_alive"].is_number()) {
    throw ApiError(400, "'keep_alive' must be a duration string (\"5m\") or a number of seconds", "keep_alive",
                   "invalid_type");
  }
  if (present(j, "think") && j["think"] != false) {
    throw ApiError(400, "'think': this server's model has no thinking mode", "think", "unsupported_value");
  }
  if (present(j, "logprobs") && j["logprobs"] != false) {
    throw ApiError(400, "'logprobs' is not supported on ollama routes (use /v1/chat/completions)", "logprobs",
                   "unsupported_value");
  }
}

// options → the OpenAI fields of `out`; num_ctx into `r`.
void map_options(const json& j, json& out, OllamaGenerateRequest& r) {
  if (!present(j, "options")) return;
  const json& options = j["options"];
  if (!options.is_object()) throw ApiError(400, "'options' must be an object", "options", "invalid_type");
  for (const OptionField& f : kOptionFields) {
    if (!present(options, f.ollama)) continue;
    const json& value = options[f.ollama];
    // ollama's "no limit" (-1, and -2: fill the context) and "random seed" (negative).
    const bool negative = value.is_number() && value.get<double>() < 0;
    if ((std::string_view(f.ollama) == "num_predict" && (value == -1 || value == -2)) ||
        (std::string_view(f.ollama) == "seed" && negative)) {
      continue;
    }
    out[f.openai] = value;
  }
  for (const NeutralOnlyOption& o : kNeutralOnly) {
    if (!present(options, o.name)) continue;
    const json& value = options[o.name];
    if (!value.is_number() || value.get<double>() != o.neutral) {
      throw ApiError(400,
                     fmt::format("'options.{}' is {}; bantam does not implement it (only {}, which changes nothing, "
                                 "is accepted)",
                                 o.name, value.dump(), o.neutral),
                     fmt::format("options.{}", o.name), "unsupported_value");
    }
  }
  if (present(options, "num_ctx")) {
    const json& value = options["num_ctx"];
    if (!value.is_number_integer() || value.get<int64_t>() < 1) {
      throw ApiError(400, fmt::format("'options.num_ctx' is {}; it must be a positive integer", value.dump()),
                     "options.num_ctx", "invalid_value");
    }
    r.num_ctx = value.get<int64_t>();
  }
  // Every other option (num_gpu, num_thread, use_mmap, num_keep, ...) is about ollama's runtime,
  // not the output; ollama itself passes over ones it does not know.
}

void map_format(const json& j, json& out) {
  if (!present(j, "format")) return;
  const json& format = j["format"];
  if (format == "") return;
  if (format == "json") {
    out["response_format"] = {{"type", "json_object"}};
  } else if (format.is_object()) {
    out["response_format"] = {{"type", "json_schema"}, {"json_schema", {{"name", "format"}, {"schema", format}}}};
  } else {
    throw ApiError(400, "'format' must be \"json\" or a JSON schema object", "format", "invalid_value");
  }
}

// ollama's tool call {"function": {"name", "arguments": {...}}} as OpenAI's, arguments as text.
json openai_tool_call(const json& call, const std::string& param) {
  if (!call.is_object() || !present(call, "function") || !call["function"].is_object()) {
    throw ApiError(400, fmt::format("'{}' must be {{\"function\": {{\"name\", \"arguments\"}}}}", param), param,
                   "invalid_type");
  }
  json function = call["function"];
  if (present(function, "arguments") && !function["arguments"].is_string()) {
    function["arguments"] = function["arguments"].dump();
  }
  return json{{"type", "function"}, {"function", function}};
}

json openai_messages(const json& messages) {
  json out = json::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string param = fmt::format("messages[{}]", i);
    if (!m.is_object()) throw ApiError(400, fmt::format("'{}' must be an object", param), param, "invalid_type");
    refuse_images(m, param + ".images");
    json message = m;
    message.erase("images");
    message.erase("thinking");  // a thinking model's earlier reasoning; the template takes none
    if (present(m, "tool_name")) message["name"] = m["tool_name"];
    message.erase("tool_name");
    if (present(m, "tool_calls")) {
      if (!m["tool_calls"].is_array()) {
        throw ApiError(400, fmt::format("'{}.tool_calls' must be an array", param), param + ".tool_calls",
                       "invalid_type");
      }
      json calls = json::array();
      for (size_t k = 0; k < m["tool_calls"].size(); ++k) {
        calls.push_back(openai_tool_call(m["tool_calls"][k], fmt::format("{}.tool_calls[{}]", param, k)));
      }
      message["tool_calls"] = std::move(calls);
    }
    out.push_back(std::move(message));
  }
  return out;
}

}  // namespace

std::string ollama_model_field(const json& body) {
  if (!present(body, "model")) throw ApiError(400, "'model' is required", "model", "missing_required_parameter");
  if (!body["model"].is_string() || body["model"].get<std::string>().empty()) {
    throw ApiError(400, "'model' must be a model name", "model", "invalid_type");
  }
  return body["model"].get<std::string>();
}

OllamaGenerateRequest parse_ollama_chat(const json& body, int n_vocab) {
  OllamaGenerateRequest r;
  r.model = ollama_model_field(body);
  read_common(body, r);
  json openai = json::object();
  map_options(body, openai, r);
  map_format(body, openai);
  if (present(body, "tools")) openai["tools"] = body["tools"];
  if (present(body, "messages") && !body["messages"].is_array()) {
    throw ApiError(400, "'messages' must be an array", "messages", "invalid_type");
  }
  r.load_only = !present(body, "messages") || body["messages"].empty();
  openai["messages"] = r.load_only ? json::array({{{"role", "user"}, {"content", ""}}}) : openai_messages(body["messages"]);
  r.chat = in_ollama_terms([&] { return parse_chat_request(openai, n_vocab); });
  return r;
}

OllamaGenerateRequest parse_ollama_generate(const json& body, int n_vocab) {
  OllamaGenerateRequest r;
  r.model = ollama_model_field(body);
  read_common(body, r);
  refuse_images(body, "images");
  // The text fields, null or absent as "".
  const auto text = [&](const char* key) {
    if (!present(body, key)) return std::string();
    if (!body[key].is_string()) throw ApiError(400, fmt::format("'{}' must be a string", key), key, "invalid_type");
    return body[key].get<std::string>();
  };
  check_bool(body, "raw");
  if (!text("suffix").empty()) {
    throw ApiError(400, "'suffix' (fill-in-the-middle) is not supported on /api/generate", "suffix",
                   "unsupported_value");
  }
  if (!text("template").empty()) {
    throw ApiError(400, "'template' (a Go template) is not supported; send the formatted prompt with \"raw\": true",
                   "template", "unsupported_value");
  }
  if (present(body, "context") && !(body["context"].is_array() && body["context"].empty())) {
    throw ApiError(400, "'context' (the deprecated conversation memory) is not supported; use /api/chat", "context",
                   "unsupported_value");
  }
  r.prompt = text("prompt");
  r.raw = present(body, "raw") && body["raw"].get<bool>();
  r.load_only = r.prompt.empty();
  json openai = json::object();
  map_options(body, openai, r);
  map_format(body, openai);
  json messages = json::array();
  const std::string system = text("system");
  if (!system.empty() && !r.raw) messages.push_back({{"role", "system"}, {"content", system}});
  messages.push_back({{"role", "user"}, {"content", r.prompt}});
  openai["messages"] = std::move(messages);
  r.chat = in_ollama_terms([&] { return parse_chat_request(openai, n_vocab); });
  return r;
}

OllamaEmbedRequest parse_ollama_embed(const json& body, int n_vocab, int n_embd, bool legacy) {
  OllamaEmbedRequest r;
  r.model = ollama_model_field(body);
  check_bool(body, "truncate");
  if (present(body, "truncate")) r.truncate = body["truncate"].get<bool>();
  const char* input_key = legacy ? "prompt" : "input";
  if (legacy && present(body, "prompt") && !body["prompt"].is_string()) {
    throw ApiError(400, "'prompt' must be a string", "prompt", "invalid_type");
  }
  json openai{{"input", present(body, input_key) ? body[input_key] : json()}};
  if (present(body, "dimensions")) openai["dimensions"] = body["dimensions"];
  try {
    r.inputs = parse_embedding_request(openai, n_vocab, n_embd);
  } catch (const ApiError& e) {
    if (!legacy || !e.param.starts_with("input")) throw;
    throw ApiError(e.status, fmt::format("'prompt': {}", e.what()), "prompt", e.code);
  }
  return r;
}

}  // namespace bantam::serve
