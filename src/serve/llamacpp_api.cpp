// llama.cpp's native endpoints over the same scheduler, parsers and chat formatter as the OpenAI
// routes: a /completion body is translated to the OpenAI fields it shares (so both check values
// alike) plus its own (n_predict, n_probs, grammar, json_schema, token-id prompts).
#include "serve/llamacpp_api.hpp"

#include <array>

#include <fmt/format.h>

#include "api/model_impl.hpp"
#include "runtime/json_grammar.hpp"
#include "serve/api_error.hpp"
#include "serve/grammar_field.hpp"
#include "serve/server.hpp"
#include "text/unicode.hpp"

namespace bantam::serve {

namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

constexpr std::array<std::string_view, 7> kRoutes = {"/completion", "/infill",  "/tokenize", "/detokenize",
                                                     "/apply-template", "/props", "/slots"};

// Fields /completion shares with /v1/completions under the same names.
constexpr std::array<const char*, 10> kSharedFields = {"temperature", "top_k", "top_p", "min_p", "repeat_penalty",
                                                       "repeat_last_n", "presence_penalty", "frequency_penalty",
                                                       "stop", "logit_bias"};

void send_json(HttpResponse& response, const ojson& body) { response.send(200, "application/json", dump_json(body)); }

const json& field(const json& body, const char* key) {
  static const json null;
  return body.contains(key) ? body[key] : null;
}

bool bool_field(const json& body, const char* key, bool fallback) {
  const json& v = field(body, key);
  if (v.is_null()) return fallback;
  if (!v.is_boolean()) throw ApiError(400, fmt::format("'{}' must be a boolean", key), key, "invalid_type");
  return v.get<bool>();
}

int64_t int_field(const json& body, const char* key, int64_t lo, int64_t hi, int64_t fallback) {
  const json& v = field(body, key);
  if (v.is_null()) return fallback;
  if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi) {
    throw ApiError(400, fmt::format("'{}' must be an integer from {} to {}", key, lo, hi), key, "invalid_value");
  }
  return v.get<int64_t>();
}

std::string string_field(const json& body, const char* key, bool required) {
  const json& v = field(body, key);
  if (v.is_null()) {
    if (required) throw ApiError(400, fmt::format("'{}' is required", key), key, "missing_required_parameter");
    return {};
  }
  if (!v.is_string()) throw ApiError(400, fmt::format("'{}' must be a string", key), key, "invalid_type");
  return v.get<std::string>();
}

TokenId token_id(const json& v, int n_vocab, const std::string& param) {
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= n_vocab) {
    throw ApiError(400, fmt::format("'{}' must hold token ids from 0 to {}", param, n_vocab - 1), param, "invalid_value");
  }
  return static_cast<TokenId>(v.get<int64_t>());
}

// `prompt` as a string, token ids, or token ids and strings mixed (a BOS before a leading string,
// special tokens written as text recognized, as llama.cpp does).
std::vector<TokenId> prompt_tokens(const Model& model, const json& prompt) {
  const int n_vocab = model.info().n_vocab;
  if (prompt.is_string()) return model.tokenize(prompt.get<std::string>(), true, true);
  if (!prompt.is_array() || prompt.empty()) {
    throw ApiError(400, "'prompt' must be a string, an array of token ids, or token ids and strings mixed", "prompt",
                   "invalid_type");
  }
  const bool nested = std::any_of(prompt.begin(), prompt.end(), [](const json& v) { return v.is_array() || v.is_object(); });
  const bool all_strings = std::all_of(prompt.begin(), prompt.end(), [](const json& v) { return v.is_string(); });
  if (nested || (all_strings && prompt.size() > 1)) {
    throw ApiError(400, "'prompt' holds several prompts; send one per request", "prompt", "unsupported_value");
  }
  std::vector<TokenId> tokens;
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i].is_string()) {
      const auto piece = model.tokenize(prompt[i].get<std::string>(), i == 0, true);
      tokens.insert(tokens.end(), piece.begin(), piece.end());
    } else {
      tokens.push_back(token_id(prompt[i], n_vocab, "prompt"));
    }
  }
  return tokens;
}

// llama.cpp's logit_bias as [[id, bias], ...] (false: never) becomes OpenAI's {"id": bias}.
json openai_logit_bias(const json& bias) {
  if (!bias.is_array()) return bias;
  json out = json::object();
  for (const json& pair : bias) {
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_integer() ||
        !(pair[1].is_number() || pair[1].is_boolean())) {
      throw ApiError(400, "'logit_bias' must be [[token id, bias or false], ...] or {\"token id\": bias}", "logit_bias",
                     "invalid_type");
    }
    out[std::to_string(pair[0].get<int64_t>())] = pair[1].is_boolean() ? json(pair[1].get<bool>() ? 0.0 : -100.0) : pair[1];
  }
  return out;
}

// A /completion request's generation: the fields shared with /v1/completions parsed by that
// parser, then llama.cpp's own.
struct NativeCompletion {
  GenerationSpec generation;
  bool stream = false;
  bool return_tokens = false;
  int n_probs = 0;
};

NativeCompletion parse_native_completion(const json& body, const Model& model) {
  json shared = {{"prompt", "-"}};
  for (const char* key : kSharedFields) {
    if (body.contains(key)) shared[key] = key == std::string_view("logit_bias") ? openai_logit_bias(body[key]) : body[key];
  }
  // seed -1 is llama.cpp's "random".
  if (body.contains("seed") && !(body["seed"].is_number_integer() && body["seed"].get<int64_t>() == -1)) {
    shared["seed"] = body["seed"];
  }
  NativeCompletion c;
  c.generation = parse_completion_request(shared, model.info().n_vocab).generation;
  const char* limit_key = body.contains("n_predict") ? "n_predict" : "max_tokens";
  c.generation.max_tokens = static_cast<int>(int_field(body, limit_key, -1, 1 << 24, -1));
  c.stream = bool_field(body, "stream", false);
  bool_field(body, "cache_prompt", true);  // checked, always on: a slot reuses its cached prefix
  c.return_tokens = bool_field(body, "return_tokens", false);
  c.n_probs = static_cast<int>(int_field(body, "n_probs", 0, 20, 0));
  c.generation.top_logprobs = c.n_probs > 0 ? c.n_probs : -1;
  c.generation.grammar = grammar_field(body);
  const json& schema = field(body, "json_schema");
  if (!schema.is_null()) {
    if (c.generation.grammar) throw ApiError(400, "'grammar' and 'json_schema' cannot both be given", "json_schema", "invalid_value");
    if (!schema.is_object()) throw ApiError(400, "'json_schema' must be a JSON schema object", "json_schema", "invalid_type");
    try {
      c.generation.grammar = JsonGrammar::from_schema(schema);
    } catch (const Error& e) {
      throw ApiError(400, fmt::format("json_schema: {}", e.what()), "json_schema", "unsupported_schema");
    }
    c.generation.stop.clear();  // a stop string would cut the JSON short
  }
  return c;
}

ojson generation_settings(const GenerationSpec& g, int64_t n_ctx, const std::string& model_id, bool stream, int n_probs) {
  const SamplingOptions& s = g.sampling;
  return ojson{{"n_ctx", n_ctx},
               {"n_predict", g.max_tokens},
               {"model", model_id},
               {"seed", s.seed == 0 ? ojson(4294967295u) : ojson(s.seed - 1)},
               {"temperature", s.temperature},
               {"top_k", s.top_k},
               {"top_p", s.top_p},
               {"min_p", s.min_p},
               {"repeat_last_n", s.penalty_last_n},
               {"repeat_penalty", s.repeat_penalty},
               {"presence_penalty", s.presence_penalty},
               {"frequency_penalty", s.frequency_penalty},
               {"stop", g.stop},
               {"max_tokens", g.max_tokens},
               {"stream", stream},
               {"n_probs", n_probs},
               {"ignore_eos", false},
               {"grammar_enabled", g.grammar != nullptr}};
}

std::string_view stop_type(StopReason reason) {
  switch (reason) {
    case StopReason::EndOfGeneration:
    case StopReason::GrammarComplete: return "eos";
    case StopReason::StopString: return "word";
    case StopReason::MaxTokens:
    case StopReason::ContextFull: return "limit";
    case StopReason::Cancelled:
    case StopReason::Error: break;
  }
  return "none";
}

ojson piece_json(const std::string& bytes) {
  if (unicode::is_valid_utf8(bytes)) return bytes;
  ojson list = ojson::array();
  for (unsigned char c : bytes) list.push_back(static_cast<int>(c));
  return list;
}

ojson probability_json(const Model& model, TokenId id, float logprob) {
  const std::string bytes = model.impl().text().token_bytes(id);
  ojson list = ojson::array();
  for (unsigned char c : bytes) list.push_back(static_cast<int>(c));
  return ojson{{"id", id}, {"token", bytes}, {"logprob", logprob}, {"bytes", list}};
}

ojson token_probabilities(const Model& model, const GeneratedToken& e) {
  ojson entry = probability_json(model, e.id, e.logprob);
  ojson top = ojson::array();
  for (const TokenLogprob& alt : e.top) top.push_back(probability_json(model, alt.id, alt.logprob));
  entry["top_logprobs"] = std::move(top);
  return entry;
}

TokenId vocab_token(const Model& model, std::initializer_list<std::string_view> names) {
  for (std::string_view name : names) {
    if (const TokenId id = model.impl().text().find(name); id >= 0) return id;
  }
  return -1;
}

TokenId metadata_token(const Model& model, std::initializer_list<std::string_view> keys) {
  for (std::string_view key : keys) {
    const auto id = model.impl().file.get_int(key);
    if (id && *id >= 0 && *id < model.info().n_vocab) return static_cast<TokenId>(*id);
  }
  return -1;
}

InfillRequest parse_infill(const json& body) {
  InfillRequest r;
  r.prefix = string_field(body, "input_prefix", false);
  r.suffix = string_field(body, "input_suffix", false);
  r.prompt = string_field(body, "prompt", false);
  const json& extra = field(body, "input_extra");
  if (!extra.is_null()) {
    if (!extra.is_array()) throw ApiError(400, "'input_extra' must be an array of {filename, text}", "input_extra", "invalid_type");
    for (size_t i = 0; i < extra.size(); ++i) {
      const std::string param = fmt::format("input_extra[{}]", i);
      if (!extra[i].is_object()) throw ApiError(400, fmt::format("'{}' must be an object", param), param, "invalid_type");
      const std::string filename = string_field(extra[i], "filename", false);
      const std::string text = string_field(extra[i], "text", true);
      r.extra.emplace_back(filename, text);
    }
  }
  return r;
}

}  // namespace

std::string llamacpp_error(int status, const std::string& message) {
  return dump_json(ojson{{"error", {{"code", status}, {"message", message}, {"type", ApiError::default_type(status)}}}});
}

bool is_llamacpp_route(std::string_view path) { return std::find(kRoutes.begin(), kRoutes.end(), path) != kRoutes.end(); }

std::optional<FimTokens> find_fim_tokens(const Model& model) {
  FimTokens fim;
  fim.prefix = metadata_token(model, {"tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id"});
  fim.suffix = metadata_token(model, {"tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id"});
  fim.middle = metadata_token(model, {"tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id"});
  fim.repo = metadata_token(model, {"tokenizer.ggml.fim_rep_token_id"});
  fim.file_separator = metadata_token(model, {"tokenizer.ggml.fim_sep_token_id"});
  if (fim.prefix < 0) fim.prefix = vocab_token(model, {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<PRE>", "▁<PRE>"});
  if (fim.suffix < 0) fim.suffix = vocab_token(model, {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<SUF>", "▁<SUF>"});
  if (fim.middle < 0) fim.middle = vocab_token(model, {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<MID>", "▁<MID>"});
  if (fim.repo < 0) fim.repo = vocab_token(model, {"<|repo_name|>", "<repo_name>", "<reponame>"});
  if (fim.file_separator < 0) fim.file_separator = vocab_token(model, {"<|file_sep|>", "<file_sep>"});
  if (fim.prefix < 0 || fim.suffix < 0 || fim.middle < 0) return std::nullopt;
  return fim;
}

std::vector<TokenId> infill_prompt(const Model& model, const FimTokens& fim, const InfillRequest& r) {
  const auto text = [&](const std::string& s) { return model.tokenize(s, false, false); };
  std::vector<TokenId> tokens;
  const auto append = [&](const std::vector<TokenId>& more) { tokens.insert(tokens.end(), more.begin(), more.end()); };
  const Tokenizer& tokenizer = model.impl().text();
  if (tokenizer.add_bos() && tokenizer.bos() >= 0) tokens.push_back(tokenizer.bos());
  const bool repository = fim.repo >= 0 && fim.file_separator >= 0;
  if (repository && !r.extra.empty()) {
    tokens.push_back(fim.repo);
    append(text("myproject\n"));
  }
  for (const auto& [filename, chunk] : r.extra) {
    if (repository) tokens.push_back(fim.file_separator);
    append(text(repository ? filename + "\n" + chunk : chunk));
  }
  tokens.push_back(fim.prefix);
  append(text(r.prefix));
  tokens.push_back(fim.suffix);
  append(text(r.suffix));
  tokens.push_back(fim.middle);
  append(text(r.prompt));
  return tokens;
}

void Server::llamacpp_api(const HttpRequest& request, HttpResponse& response, Trace& trace) {
  const std::string& path = request.path;
  const bool post = request.method == "POST";
  const bool get = request.method == "GET" || request.method == "HEAD";
  try {
    const bool reads = path == "/props" || path == "/slots";
    if (reads ? !get : !post) throw ApiError(405, fmt::format("use {} {}", reads ? "GET" : "POST", path));
    trace.served = served();
    const ServedModel& served = *trace.served;
    const Model& model = served.model();
    if (path == "/props") return send_json(response, props(served));
    if (path == "/slots") {
      const std::vector<bool> processing = served.scheduler->slots_processing();
      ojson slots = ojson::array();
      for (size_t i = 0; i < processing.size(); ++i) {
        slots.push_back({{"id", i}, {"id_task", -1}, {"n_ctx", options_.context}, {"speculative", false},
                         {"is_processing", static_cast<bool>(processing[i])}});
      }
      const bool none_free = std::all_of(processing.begin(), processing.end(), [](bool busy) { return busy; });
      if (request.query.find("fail_on_no_slot=1") != std::string::npos && none_free) {
        throw ApiError(503, "no slot is available", "", "no_slot_available");
      }
      return send_json(response, slots);
    }
    const json body = parse_request_body(request.body);
    if (path == "/tokenize") {
      const std::string content = string_field(body, "content", true);
      const auto tokens = model.tokenize(content, bool_field(body, "add_special", false), bool_field(body, "parse_special", true));
      const bool with_pieces = bool_field(body, "with_pieces", false);
      ojson list = ojson::array();
      for (TokenId id : tokens) {
        list.push_back(with_pieces ? ojson{{"id", id}, {"piece", piece_json(model.impl().text().token_bytes(id))}} : ojson(id));
      }
      return send_json(response, {{"tokens", list}});
    }
    if (path == "/detokenize") {
      const json& tokens = field(body, "tokens");
      if (!tokens.is_array()) throw ApiError(400, "'tokens' must be an array of token ids", "tokens", "invalid_type");
      std::vector<TokenId> ids;
      for (const json& v : tokens) ids.push_back(token_id(v, model.info().n_vocab, "tokens"));
      return send_json(response, {{"content", model.detokenize(ids, false)}});
    }
    if (path == "/apply-template") {
      if (!body.contains("messages")) throw ApiError(400, "'messages' is required", "messages", "missing_required_parameter");
      const ChatRequest chat = parse_chat_request(json{{"messages", body["messages"]}}, model.info().n_vocab);
      return send_json(response, {{"prompt", served.formatter->prompt_text(chat)}});
    }
    std::vector<TokenId> prompt;
    if (path == "/infill") {
      const std::optional<FimTokens> fim = find_fim_tokens(model);
      if (!fim) {
        throw ApiError(400,
                       "this model has no fill-in-the-middle tokens (tokenizer.ggml.fim_pre_token_id, fim_suf, fim_mid "
                       "or <|fim_prefix|>, <|fim_suffix|>, <|fim_middle|> in its vocabulary), so /infill cannot "
                       "build its prompt",
                       "", "infill_unsupported");
      }
      prompt = infill_prompt(model, *fim, parse_infill(body));
    } else {
      if (!body.contains("prompt")) throw ApiError(400, "'prompt' is required", "prompt", "missing_required_parameter");
      prompt = prompt_tokens(model, body["prompt"]);
    }
    native_completion(body, std::move(prompt), response, trace);
  } catch (const ApiError& e) {
    if (!response.started()) response.send(e.status, "application/json", llamacpp_error(e.status, e.what()));
  } catch (const QueueFull& e) {
    if (!response.started()) response.send(503, "application/json", llamacpp_error(503, e.what()));
  }
}

nlohmann::ordered_json Server::props(const ServedModel& served) const {
  const NativeCompletion defaults = parse_native_completion(json::object(), served.model());
  const ChatTemplate& chat = served.formatter->chat_template();
  const std::string& fallback = chat.fallback_format();
  ojson settings{{"id", 0}, {"id_task", -1}, {"n_ctx", options_.context}, {"speculative", false},
                 {"is_processing", false},
                 {"params", generation_settings(defaults.generation, options_.context, options_.model_id, false, 0)}};
  return ojson{{"default_generation_settings", settings},
               {"total_slots", options_.parallel},
               {"model_path", served.model().info().path},
               {"chat_template", chat.source()},
               // The family's documented format bantam uses when the model has no template.
               {"chat_template_fallback", fallback.empty() ? ojson(nullptr) : ojson(fallback)},
               {"modalities", {{"vision", false}, {"audio", false}}},
               {"build_info", "bantam"}};
}

void Server::native_completion(const nlohmann::json& body, std::vector<TokenId> prompt, HttpResponse& response,
                               Trace& trace) {
  const Model& model = trace.served->model();
  if (prompt.empty()) throw ApiError(400, "'prompt' has no tokens", "prompt", "invalid_value");
  NativeCompletion c = parse_native_completion(body, model);
  select_adapters(body, trace);
  check_context(static_cast<int64_t>(prompt.size()), c.generation.max_tokens, "the prompt");
  const std::string prompt_text = model.detokenize(prompt, false);
  const auto n_prompt = static_cast<int64_t>(prompt.size());
  JobRequest job_request{std::move(prompt), c.generation, trace.adapters.lora, trace.adapters.key};
  trace.local = true;
  const auto submitted = std::chrono::steady_clock::now();
  trace.job = trace.served->scheduler->submit(std::move(job_request));
  Job& job = *trace.job;

  std::string content;
  ojson tokens = ojson::array(), probabilities = ojson::array();
  const auto final_json = [&](const std::string& text) {
    const double total_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - submitted).count();
    const double prompt_ms = job.ttft_ms().value_or(total_ms);
    const double predicted_ms = total_ms - prompt_ms;
    const int64_t evaluated = job.prompt_tokens() - job.reused_tokens();
    ojson out{{"index", 0},
              {"content", text},
              {"tokens", c.return_tokens || c.stream ? tokens : ojson::array()},
              {"id_slot", -1},
              {"stop", true},
              {"model", trace.model_id},
              {"tokens_predicted", job.completion_tokens()},
              {"tokens_evaluated", n_prompt},
              {"tokens_cached", job.reused_tokens()},
              {"generation_settings", generation_settings(c.generation, options_.context, trace.model_id, c.stream, c.n_probs)},
              {"prompt", prompt_text},
              {"has_new_line", content.find('\n') != std::string::npos},
              {"truncated", job.finish_reason() == StopReason::ContextFull},
              {"stop_type", stop_type(job.finish_reason())},
              {"stopping_word", job.finish_reason() == StopReason::StopString && c.generation.stop.size() == 1
                                    ? c.generation.stop[0] : ""},
              {"timings",
               {{"prompt_n", evaluated},
                {"prompt_ms", prompt_ms},
                {"prompt_per_second", prompt_ms > 0 ? static_cast<double>(evaluated) * 1000.0 / prompt_ms : 0.0},
                {"predicted_n", job.completion_tokens()},
                {"predicted_ms", predicted_ms},
                {"predicted_per_second", job.decode_tokens_per_s().value_or(0.0)}}}};
    if (c.n_probs > 0) out["completion_probabilities"] = probabilities;
    if (job.drafted_tokens() > 0) {  // speculative decoding, in llama.cpp's names
      out["timings"]["draft_n"] = job.drafted_tokens();
      out["timings"]["draft_n_accepted"] = job.accepted_tokens();
    }
    return out;
  };
  const auto collect = [&](const std::vector<GeneratedToken>& events, std::string& text) {
    for (const GeneratedToken& e : events) {
      text += e.text;
      if (e.id < 0) continue;
      tokens.push_back(e.id);
      if (c.n_probs > 0) probabilities.push_back(token_probabilities(model, e));
    }
  };
  std::vector<GeneratedToken> events;
  const auto follow = [&](const std::function<bool()>& consume) {
    for (;;) {
      const bool done = job.wait(events, std::chrono::milliseconds(50));
      if (!events.empty() && !consume()) job.cancel();
      events.clear();
      if (done) return;
      if (!job.cancelled() && response.client_gone()) job.cancel();
    }
  };
  if (!c.stream) {
    follow([&] {
      collect(events, content);
      return true;
    });
    if (job.finish_reason() == StopReason::Cancelled) throw ApiError(499, "the client went away");
    if (job.finish_reason() == StopReason::Error) throw ApiError(500, fmt::format("generation failed: {}", job.error()));
    return send_json(response, final_json(content));
  }
  if (!response.begin_stream(200, "text/event-stream")) job.cancel();
  follow([&] {
    std::string text;
    tokens = probabilities = ojson::array();
    collect(events, text);
    content += text;
    if (text.empty() && tokens.empty()) return true;
    ojson chunk{{"index", 0}, {"content", text}, {"tokens", tokens}, {"stop", false}, {"id_slot", -1},
                {"tokens_predicted", job.completion_tokens()}, {"tokens_evaluated", n_prompt}};
    if (c.n_probs > 0) chunk["completion_probabilities"] = probabilities;
    return response.write("data: " + dump_json(chunk) + "\n\n");
  });
  if (job.finish_reason() == StopReason::Cancelled) return;
  if (job.finish_reason() == StopReason::Error) {
    response.write("data: " + llamacpp_error(500, fmt::format("generation failed: {}", job.error())) + "\n\n");
  } else {
    tokens = probabilities = ojson::array();
    response.write("data: " + dump_json(final_json("")) + "\n\n");
  }
  response.end_stream();
}

}  // namespace bantam::serve
