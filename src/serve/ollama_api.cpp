#include "serve/ollama_api.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "api/model_impl.hpp"
#include "format/inspect.hpp"
#include "hub/digest.hpp"
#include "serve/api_error.hpp"
#include "serve/job_events.hpp"
#include "text/chat_template.hpp"

namespace bantam::serve {

namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

constexpr const char* kRoutes[] = {"/api/chat", "/api/generate", "/api/tags",       "/api/show",
                                   "/api/embed", "/api/embeddings", "/api/ps", "/api/version"};
// ollama's model management: bantam's CLI does these (pull, quantize, the store).
constexpr const char* kModelManagement[] = {"/api/pull", "/api/push", "/api/create", "/api/copy", "/api/delete"};

// ollama's time stamps: RFC 3339 in UTC with nanoseconds.
std::string rfc3339(time_t seconds, long nanoseconds) {
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                     utc.tm_hour, utc.tm_min, utc.tm_sec, nanoseconds);
}

std::string now_rfc3339() {
  const auto now = std::chrono::system_clock::now();
  const auto seconds = std::chrono::time_point_cast<std::chrono::seconds>(now);
  return rfc3339(std::chrono::system_clock::to_time_t(seconds),
                 static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - seconds).count()));
}

std::string modified_at(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return rfc3339(0, 0);
  return rfc3339(st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

// bantam keeps its one model loaded for as long as it serves.
constexpr const char* kNeverExpires = "9999-12-31T23:59:59.000000000Z";

int64_t nanoseconds(double milliseconds) { return static_cast<int64_t>(milliseconds * 1e6); }

// The model file's SHA-256: a store blob is named by it; any other file is hashed on first ask and
// remembered, since a served file is mapped and does not change under the server.
std::string file_digest(const std::string& path, uint64_t size) {
  const std::string name = std::filesystem::path(path).filename().string();
  if (hub::is_sha256_hex(name)) return name;
  static std::mutex mutex;
  static std::map<std::string, std::string> digests;
  std::lock_guard lock(mutex);
  auto it = digests.find(path);
  if (it == digests.end()) it = digests.emplace(path, hub::sha256_file_range(path, 0, size)).first;
  return it->second;
}

// "494.03M", "7.6B": ollama's parameter_size.
std::string parameter_size(int64_t params) {
  const double p = static_cast<double>(params);
  if (p >= 1e9) return fmt::format("{:.1f}B", p / 1e9);
  if (p >= 1e6) return fmt::format("{:.2f}M", p / 1e6);
  return fmt::format("{:.2f}K", p / 1e3);
}

ojson model_details(const Model& model, const std::string& parent) {
  const ModelInfo& info = model.info();
  return ojson{{"parent_model", parent},
               {"format", "gguf"},
               {"family", info.architecture},
               {"families", ojson::array({info.architecture})},
               {"parameter_size", parameter_size(info.n_params)},
               {"quantization_level", file_type_label(model.impl().file)}};
}

// The GGUF metadata, arrays (the vocabulary, merges) left empty unless `verbose`, as ollama does.
ojson model_info(const Model& model, bool verbose) {
  const gguf::File& file = model.impl().file;
  ojson out = ojson::object();
  for (const auto& [key, value] : file.metadata()) {
    if (key == "tokenizer.chat_template") continue;  // /api/show's "template"
    const bool array = value.type() == gguf::ValueType::ARRAY;
    out[key] = array && !verbose ? ojson::array() : value_to_json(value, SIZE_MAX);
  }
  if (!out.contains("general.parameter_count")) out["general.parameter_count"] = model.info().n_params;
  return out;
}

std::string ndjson(const ojson& frame) { return dump_json(frame) + "\n"; }

// A tool call's arguments as ollama sends them: a JSON object, not text.
ojson tool_calls_json(const std::vector<ToolCall>& calls) {
  ojson list = ojson::array();
  for (const ToolCall& call : calls) {
    ojson arguments = ojson::parse(call.arguments, nullptr, false);
    if (arguments.is_discarded()) arguments = call.arguments;
    list.push_back({{"function", {{"name", call.name}, {"arguments", std::move(arguments)}}}});
  }
  return list;
}

}  // namespace

std::string ollama_route_label(const std::string& path) {
  for (const char* known : kRoutes) {
    if (path == known) return path;
  }
  return "other";
}

OllamaApi::OllamaApi(Server& server, const HttpRequest& request, HttpResponse& response, Server::Trace& trace)
    : server_(server), request_(request), response_(response), trace_(trace), start_(Clock::now()) {}

void OllamaApi::handle() {
  try {
    route();
  } catch (const ApiError& e) {
    fail(e.status, e.what());
  } catch (const QueueFull& e) {
    fail(503, e.what());
  } catch (const std::exception& e) {
    fail(500, e.what());
  }
}

std::string ollama_error(const std::string& message) { return dump_json(ojson{{"error", message}}); }

void OllamaApi::fail(int status, const std::string& message) {
  const ojson error{{"error", message}};
  if (!response_.started()) {
    response_.send(status, "application/json", ollama_error(message));
  } else {  // mid-stream: ollama's clients read an error line as the stream's end
    response_.write(ndjson(error));
    response_.end_stream();
  }
}

void OllamaApi::route() {
  const std::string& path = request_.path;
  const bool get = request_.method == "GET" || request_.method == "HEAD";
  const bool post = request_.method == "POST";
  if (path == "/api/version" && get) {
    response_.send(200, "application/json", dump_json(ojson{{"version", BANTAM_VERSION}}));
    return;
  }
  if (path == "/api/tags" && get) return tags();
  if (path == "/api/ps" && get) return ps();
  if (post) {
    if (path == "/api/chat") return chat(parse_request_body(request_.body));
    if (path == "/api/generate") return generate(parse_request_body(request_.body));
    if (path == "/api/show") return show(parse_request_body(request_.body));
    if (path == "/api/embed") return embed(parse_request_body(request_.body), false);
    if (path == "/api/embeddings") return embed(parse_request_body(request_.body), true);
  }
  if (ollama_route_label(path) != "other") {
    const bool read_only = path == "/api/version" || path == "/api/tags" || path == "/api/ps";
    throw ApiError(405, fmt::format("use {} {}", read_only ? "GET" : "POST", path));
  }
  for (const char* managing : kModelManagement) {
    if (path == managing) {
      throw ApiError(501, fmt::format("{} is not served: bantam serves the one model it started with; manage "
                                      "models with the bantam CLI (bantam pull, bantam quantize)",
                                      path));
    }
  }
  throw ApiError(404, fmt::format("no route for {} {}", request_.method, path));
}

void OllamaApi::select_model(const std::string& name) {
  trace_.served = server_.served();
  const std::string& base = server_.options_.model_id;
  std::string id = name;
  if (id != base && id.ends_with(":latest")) id.resize(id.size() - std::string_view(":latest").size());
  bool known = id == base;
  if (const auto names = AdapterLibrary::names_in_model_id(id, base)) {
    const auto& named = trace_.served->adapters->named();
    known = std::all_of(names->begin(), names->end(), [&](const std::string& n) {
      return std::any_of(named.begin(), named.end(), [&](const AdapterSpec& a) { return a.name == n; });
    });
  }
  if (!known) throw ApiError(404, fmt::format("model '{}' not found", name), "model", "model_not_found");
  server_.select_adapters(json{{"model", id}}, trace_);
  trace_.model_id = name;
}

void OllamaApi::chat(const json& body) {
  select_model(ollama_model_field(body));
  const Model& model = trace_.served->model();
  const OllamaGenerateRequest r = parse_ollama_chat(body, model.info().n_vocab);
  if (r.load_only) return answer_load(r.model, Shape::Chat);
  const ChatFormatter& formatter = *trace_.served->formatter;
  if (server_.options_.log_prompts) fmt::print(stderr, "bantam serve: prompt: {}\n", formatter.prompt_text(r.chat));
  run(r, formatter.prompt_tokens(r.chat), Shape::Chat);
}

void OllamaApi::generate(const json& body) {
  select_model(ollama_model_field(body));
  const Model& model = trace_.served->model();
  const OllamaGenerateRequest r = parse_ollama_generate(body, model.info().n_vocab);
  if (r.load_only) return answer_load(r.model, Shape::Generate);
  const ChatFormatter& formatter = *trace_.served->formatter;
  if (server_.options_.log_prompts) {
    fmt::print(stderr, "bantam serve: prompt: {}\n", r.raw ? r.prompt : formatter.prompt_text(r.chat));
  }
  // raw: a prompt already in the model's format, its control tokens written as text.
  run(r, r.raw ? model.tokenize(r.prompt, true, true) : formatter.prompt_tokens(r.chat), Shape::Generate);
}

void OllamaApi::answer_load(const std::string& model, Shape shape) {
  ojson out{{"model", model}, {"created_at", now_rfc3339()}};
  if (shape == Shape::Chat) {
    out["message"] = {{"role", "assistant"}, {"content", ""}};
  } else {
    out["response"] = "";
  }
  out["done"] = true;
  out["done_reason"] = "load";  // the model is always loaded; keep_alive 0 does not unload it
  response_.send(200, "application/json", dump_json(out));
}

void OllamaApi::run(const OllamaGenerateRequest& r, std::vector<TokenId> prompt, Shape shape) {
  const int64_t server_context = server_.options_.context;
  const int64_t context = std::min(r.num_ctx.value_or(server_context), server_context);
  const auto n_prompt = static_cast<int64_t>(prompt.size());
  if (n_prompt == 0) throw ApiError(400, "the prompt has no tokens");
  if (n_prompt >= context) {
    const bool by_num_ctx = context < server_context;
    throw ApiError(400, fmt::format("the prompt has {} tokens; the context ({}) holds {}, leaving no room for an answer",
                                    n_prompt, by_num_ctx ? "options.num_ctx" : "the server's --context", context));
  }
  JobRequest job;
  job.prompt = std::move(prompt);
  job.generation = r.chat.generation;
  job.generation.grammar = r.chat.grammar;
  if (job.generation.grammar) job.generation.stop.clear();  // a stop string would cut the JSON short
  // ollama stops at the end of the context rather than refusing a num_predict that does not fit.
  const int room = static_cast<int>(context - n_prompt);
  int& max_tokens = job.generation.max_tokens;
  max_tokens = max_tokens < 0 ? room : std::min(max_tokens, room);
  job.lora = trace_.adapters.lora;
  job.lora_key = trace_.adapters.key;
  trace_.local = true;
  trace_.job = trace_.served->scheduler->submit(std::move(job));
  Job& running = *trace_.job;
  response_.add_header("X-Bantam-Route", "local");

  const std::string created_at = now_rfc3339();
  const auto frame = [&](const std::string& text, bool done) {
    ojson out{{"model", r.model}, {"created_at", done ? now_rfc3339() : created_at}};
    if (shape == Shape::Chat) {
      out["message"] = {{"role", "assistant"}, {"content", text}};
    } else {
      out["response"] = text;
    }
    out["done"] = done;
    return out;
  };
  // With tools the text is held to the end: only the whole of it says whether it is a tool call.
  const bool hold = !r.chat.tools.empty();
  if (r.stream && !response_.begin_stream(200, "application/x-ndjson")) running.cancel();
  std::string text;
  follow(running, response_, [&](std::vector<GeneratedToken>& events) {
    std::string piece;
    for (const GeneratedToken& e : events) piece += e.text;
    text += piece;
    if (!r.stream || hold || piece.empty()) return true;
    return response_.write(ndjson(frame(piece, false)));
  });
  if (running.finish_reason() == StopReason::Cancelled) {
    if (r.stream) return;
    throw ApiError(499, "the client went away");
  }
  if (running.finish_reason() == StopReason::Error) {
    throw ApiError(500, fmt::format("generation failed: {}", running.error()));
  }
  const bool whole_text = !r.stream || hold;
  ojson last = frame(whole_text ? text : "", true);
  if (hold) {
    if (const auto calls = parse_tool_calls(text, r.chat.tools)) {
      last["message"]["content"] = "";
      last["message"]["tool_calls"] = tool_calls_json(*calls);
    }
  }
  last["done_reason"] = std::string(openai_finish_reason(running.finish_reason()));
  const int64_t generated = running.completion_tokens();
  const double decode_seconds =
      generated > 1 ? static_cast<double>(generated - 1) / running.decode_tokens_per_s().value_or(1e300) : 0.0;
  last["total_duration"] = nanoseconds(std::chrono::duration<double, std::milli>(Clock::now() - start_).count());
  last["load_duration"] = 0;  // loaded before the first request
  last["prompt_eval_count"] = running.prompt_tokens();
  last["prompt_eval_duration"] = nanoseconds(running.ttft_ms().value_or(0.0));
  last["eval_count"] = generated;
  last["eval_duration"] = nanoseconds(decode_seconds * 1000.0);
  if (r.stream) {
    response_.write(ndjson(last));
    response_.end_stream();
  } else {
    response_.send(200, "application/json", dump_json(last));
  }
}

std::vector<ojson> OllamaApi::model_entries() {
  const std::shared_ptr<ServedModel> served = server_.served();
  const Model& model = served->model();
  const std::string& path = model.info().path;
  const uint64_t size = model.impl().file.file_size();
  const std::string& base = server_.options_.model_id;
  // ollama names carry a tag; a bantam id without one is "latest".
  const auto tagged = [](const std::string& id) { return id.find(':') == std::string::npos ? id + ":latest" : id; };
  const auto entry = [&](const std::string& id, const std::string& parent) {
    return ojson{{"name", tagged(id)},          {"model", tagged(id)},
                 {"modified_at", modified_at(path)}, {"size", size},
                 {"digest", file_digest(path, size)}, {"details", model_details(model, parent)}};
  };
  std::vector<ojson> entries{entry(base, "")};
  for (const AdapterSpec& a : served->adapters->named()) entries.push_back(entry(base + "+" + a.name, tagged(base)));
  return entries;
}

void OllamaApi::tags() {
  ojson models = ojson::array();
  for (ojson& entry : model_entries()) models.push_back(std::move(entry));
  response_.send(200, "application/json", dump_json(ojson{{"models", models}}));
}

void OllamaApi::ps() {
  const SchedulerGauges gauges = server_.served()->scheduler->gauges();
  ojson models = ojson::array();
  for (ojson& entry : model_entries()) {
    entry["size"] = entry["size"].get<uint64_t>() + gauges.kv_bytes;  // the weights and the KV caches
    entry["expires_at"] = kNeverExpires;
    entry["size_vram"] = 0;  // bantam runs on the CPU
    entry["context_length"] = server_.options_.context;
    models.push_back(std::move(entry));
  }
  response_.send(200, "application/json", dump_json(ojson{{"models", models}}));
}

void OllamaApi::show(const json& body) {
  const std::string name = ollama_model_field(body);
  select_model(name);
  if (body.contains("verbose") && !body["verbose"].is_null() && !body["verbose"].is_boolean()) {
    throw ApiError(400, "'verbose' must be a boolean");
  }
  const bool verbose = body.contains("verbose") && body["verbose"] == true;
  const Model& model = trace_.served->model();
  const std::string parent = trace_.adapters.chosen.empty() ? "" : server_.options_.model_id;
  // The Jinja template bantam renders (the model's, or the built-in format it falls back to);
  // ollama's own templates are Go templates, which bantam does not read.
  const std::string template_source = ChatTemplate::from_gguf(model.impl().file).source();
  ojson out{{"modelfile", fmt::format("# bantam serves this GGUF file; it reads no Modelfile\nFROM {}\n",
                                      model.info().path)},
            {"parameters", ""},
            {"template", template_source},
            {"details", model_details(model, parent)},
            {"model_info", model_info(model, verbose)},
            {"capabilities", ojson::array({"completion", "tools"})},
            {"modified_at", modified_at(model.info().path)}};
  response_.send(200, "application/json", dump_json(out));
}

void OllamaApi::embed(const json& body, bool legacy) {
  select_model(ollama_model_field(body));
  const ModelInfo& info = trace_.served->model().info();
  OllamaEmbedRequest r = parse_ollama_embed(body, info.n_vocab, info.n_embd, legacy);
  if (!trace_.adapters.chosen.empty()) {
    throw ApiError(400, "adapters apply to generation; embeddings come from the base model");
  }
  int64_t total = 0;
  const auto vectors = server_.embed_inputs(std::move(r.inputs), r.truncate, response_, trace_, total);
  if (legacy) {
    response_.send(200, "application/json", dump_json(ojson{{"embedding", vectors.front()}}));
    return;
  }
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
  response_.send(200, "application/json",
                 dump_json(ojson{{"model", r.model},
                                 {"embeddings", vectors},
                                 {"total_duration", nanoseconds(ms)},
                                 {"load_duration", 0},
                                 {"prompt_eval_count", total}}));
}

}  // namespace bantam::serve
