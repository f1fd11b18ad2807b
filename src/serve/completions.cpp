// POST /v1/chat/completions and /v1/completions: a request becomes a scheduler Job whose events
// are either collected into one response or streamed as server-sent events.
#include <ctime>
#include <random>

#include <fmt/format.h>

#include "api/model_impl.hpp"
#include "format/json_input.hpp"
#include "serve/api_error.hpp"
#include "serve/job_events.hpp"
#include "serve/server.hpp"

namespace bantam::serve {

namespace {

using ojson = nlohmann::ordered_json;

std::string random_id(std::string_view prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}{:016x}{:08x}", prefix, rng(), static_cast<uint32_t>(rng()));
}

std::string finish_name(StopReason reason, bool tool_calls) {
  const std::string_view name = openai_finish_reason(reason);
  return tool_calls && name == "stop" ? "tool_calls" : std::string(name);
}

ojson usage_json(const Job& job) {
  return ojson{{"prompt_tokens", job.prompt_tokens()},
               {"completion_tokens", job.completion_tokens()},
               {"total_tokens", job.prompt_tokens() + job.completion_tokens()},
               {"prompt_tokens_details", {{"cached_tokens", job.reused_tokens()}}}};
}

std::string token_text(const Model& model, TokenId id) { return model.impl().text().token_bytes(id); }

ojson bytes_json(const std::string& text) {
  ojson bytes = ojson::array();
  for (unsigned char c : text) bytes.push_back(static_cast<int>(c));
  return bytes;
}

// One entry of chat logprobs.content.
ojson chat_logprob(const Model& model, const GeneratedToken& e) {
  const std::string text = token_text(model, e.id);
  ojson top = ojson::array();
  for (const TokenLogprob& alt : e.top) {
    const std::string alt_text = token_text(model, alt.id);
    top.push_back({{"token", alt_text}, {"logprob", alt.logprob}, {"bytes", bytes_json(alt_text)}});
  }
  return ojson{{"token", text}, {"logprob", e.logprob}, {"bytes", bytes_json(text)}, {"top_logprobs", top}};
}

std::string sse(const ojson& chunk) { return "data: " + dump_json(chunk) + "\n\n"; }

void raise_job_error(const Job& job) {
  if (job.finish_reason() == StopReason::Error) throw ApiError(500, fmt::format("generation failed: {}", job.error()));
}

// How a chat answer's text is delivered.
enum class ChatMode {
  Content,    // plain text
  NamedTool,  // the text is the forced function's arguments
  Required,   // the text is {"name": ..., "arguments": ...}
  AutoTools,  // plain text unless it turns out to be <tool_call> blocks
};

std::optional<std::vector<ToolCall>> required_call(const std::string& text) {
  try {
    const auto call = parse_json(text, "the tool call");
    return std::vector<ToolCall>{{call.at("name").get<std::string>(), call.at("arguments").dump()}};
  } catch (const JsonInputError&) {
    return std::nullopt;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

ojson tool_calls_json(const std::vector<ToolCall>& calls, const std::vector<std::string>& ids, bool with_index) {
  ojson list = ojson::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    ojson call;
    if (with_index) call["index"] = i;
    call["id"] = ids[i];
    call["type"] = "function";
    call["function"] = {{"name", calls[i].name}, {"arguments", calls[i].arguments}};
    list.push_back(std::move(call));
  }
  return list;
}

}  // namespace

namespace {

// The job a chat request becomes, and how its text is delivered.
struct ChatPlan {
  JobRequest job;
  ChatMode mode = ChatMode::Content;
  std::string named;  // ChatMode::NamedTool
};

ChatPlan plan_chat(const ChatRequest& r, const std::vector<TokenId>& prompt, const AdapterSelection& adapters) {
  ChatPlan plan;
  JobRequest& job = plan.job;
  job.prompt = prompt;
  job.lora = adapters.lora;
  job.lora_key = adapters.key;
  GenerationSpec& g = job.generation;
  g = r.generation;
  g.top_logprobs = r.logprobs ? r.top_logprobs : -1;
  g.grammar = r.grammar;
  if (r.tool_choice == ToolChoice::Named) {
    plan.mode = ChatMode::NamedTool;
    plan.named = r.named_tool;
    for (const ToolSpec& t : r.tools) {
      if (t.name == plan.named) g.grammar = t.grammar;
    }
  } else if (r.tool_choice == ToolChoice::Required) {
    plan.mode = ChatMode::Required;
    g.grammar = required_tool_grammar(r.tools);
  } else if (r.tool_choice == ToolChoice::Auto) {
    plan.mode = ChatMode::AutoTools;
  }
  if (g.grammar) g.stop.clear();  // a stop string would cut the JSON short
  return plan;
}

// Text completions are not routed (the router redacts and forwards chat messages), so they run
// on the device.
ojson text_completion_route() {
  return ojson{{"route", "local"}, {"reason", "text-completion"}, {"escalated_from", nullptr}};
}

std::string route_header_value(const nlohmann::json& meta) {
  return meta.contains("route") && meta["route"].is_string() ? meta["route"].get<std::string>() : "local";
}

}  // namespace

void Server::chat_completions(const HttpRequest& request, nlohmann::json body, HttpResponse& response,
                              Trace& trace) {
  trace.served = served();
  const ServedModel& served = *trace.served;
  const ChatRequest r = parse_chat_request(body, served.model().info().n_vocab);
  select_adapters(body, trace);
  const std::vector<TokenId> prompt = served.formatter->prompt_tokens(r);
  if (options_.log_prompts) fmt::print(stderr, "bantam serve: prompt: {}\n", served.formatter->prompt_text(r));
  const auto n_prompt = static_cast<int64_t>(prompt.size());
  // Without a cloud the context limit is the answer; with one, a prompt that does not fit is a
  // routing rule (prompt-too-long).
  if (!router_->has_cloud()) check_context(n_prompt, r.generation.max_tokens, "the messages");

  // Routing overhead: everything from here to the response text but the queue wait and generation
  // (so building the answer's JSON counts too).
  const auto routing_start = std::chrono::steady_clock::now();
  double local_ms = 0;
  hybrid::HybridRequest routed;
  routed.body = std::move(body);
  routed.route_header = request.header("x-bantam-route");
  try {
    hybrid::parse_overrides(routed.body, routed.route_header);
  } catch (const Error& e) {
    throw ApiError(400, e.what(), "bantam", "invalid_value");
  }
  routed.prompt_tokens = n_prompt + std::max(1, r.generation.max_tokens);
  if (options_.hybrid.router.latency_budget_ms > 0) routed.expected_queue_wait_ms = served.scheduler->expected_wait_ms();

  try {
    if (!r.stream) {
      const nlohmann::json out =
          router_->complete(routed, [&](const nlohmann::json&) { return run_chat(r, prompt, response, local_ms, trace); });
      const std::string route = route_header_value(out["bantam"]);
      const std::string text = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      if (route == "local") {
        router_->record_overhead(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - routing_start).count() -
            local_ms);
      }
      response.add_header("X-Bantam-Route", route);
      response.send(200, "application/json", text);
      return;
    }
    ojson meta;
    router_->stream(
        routed,
        [&](const nlohmann::json& m) {
          meta = m;
          response.add_header("X-Bantam-Route", route_header_value(m));
        },
        [&](const std::string& data) {
          if (!response.started() && !response.begin_stream(200, "text/event-stream")) return false;
          return response.write("data: " + data + "\n\n");
        },
        [&] { stream_chat(r, prompt, meta, response, trace); });
    if (meta.value("route", "") == "cloud") {
      if (!response.started()) response.begin_stream(200, "text/event-stream");
      response.write("data: [DONE]\n\n");
      response.end_stream();
    }
  } catch (const hybrid::RouteRefused& e) {
    response.add_header("X-Bantam-Route", "refused");
    throw ApiError(e.status(), e.what(), "", e.code());
  } catch (const hybrid::ClientGone&) {
    throw ApiError(499, "the client went away");
  } catch (const hybrid::CloudError& e) {
    // The cloud failed after part of its answer was streamed: end the stream with the error.
    if (!response.started()) throw ApiError(502, e.what(), "", "cloud_failed");
    response.write(sse(ojson{{"error", {{"message", e.what()}, {"type", "server_error"}, {"param", nullptr},
                                        {"code", "cloud_failed"}}}}));
    response.end_stream();
  }
}

hybrid::LocalAnswer Server::run_chat(const ChatRequest& r, const std::vector<TokenId>& prompt,
                                     HttpResponse& response, double& generation_ms, Trace& trace) {
  check_context(static_cast<int64_t>(prompt.size()), r.generation.max_tokens, "the messages");
  ChatPlan plan = plan_chat(r, prompt, trace.adapters);
  const auto submitted = std::chrono::steady_clock::now();
  const Model& model = trace.served->model();
  trace.local = true;
  trace.job = trace.served->scheduler->submit(std::move(plan.job));
  const std::shared_ptr<Job> job = trace.job;
  const std::string call_id = random_id("call_");
  hybrid::LocalAnswer answer;
  std::string text;
  ojson logprobs = ojson::array();
  follow(*job, response, [&](std::vector<GeneratedToken>& events) {
    for (const GeneratedToken& e : events) {
      text += e.text;
      if (e.id < 0) continue;
      answer.outcome.token_logprobs.push_back(e.logprob);
      answer.outcome.token_entropies.push_back(e.entropy);
      if (r.logprobs) logprobs.push_back(chat_logprob(model, e));
    }
    return true;
  });
  generation_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - submitted).count();
  if (job->finish_reason() == StopReason::Cancelled) throw hybrid::ClientGone("the client went away");
  raise_job_error(*job);
  std::optional<std::vector<ToolCall>> calls;
  if (plan.mode == ChatMode::NamedTool) calls = std::vector<ToolCall>{{plan.named, text}};
  if (plan.mode == ChatMode::Required) calls = required_call(text);
  if (plan.mode == ChatMode::AutoTools) calls = parse_tool_calls(text, r.tools);
  ojson message{{"role", "assistant"}};
  if (calls) {
    std::vector<std::string> ids;
    for (size_t i = 0; i < calls->size(); ++i) ids.push_back(i == 0 ? call_id : random_id("call_"));
    message["content"] = nullptr;
    message["tool_calls"] = tool_calls_json(*calls, ids, false);
  } else {
    message["content"] = text;
  }
  ojson choice{{"index", 0}, {"message", message}};
  choice["logprobs"] = r.logprobs ? ojson{{"content", logprobs}} : ojson(nullptr);
  choice["finish_reason"] = finish_name(job->finish_reason(), calls.has_value());
  answer.response = ojson{{"id", random_id("chatcmpl-")},
                          {"object", "chat.completion"},
                          {"created", static_cast<int64_t>(std::time(nullptr))},
                          {"model", trace.model_id},
                          {"choices", ojson::array({choice})},
                          {"usage", usage_json(*job)}};
  answer.tokens_in = job->prompt_tokens();
  answer.tokens_out = job->completion_tokens();
  return answer;
}

void Server::stream_chat(const ChatRequest& r, const std::vector<TokenId>& prompt, const ojson& meta,
                         HttpResponse& response, Trace& trace) {
  check_context(static_cast<int64_t>(prompt.size()), r.generation.max_tokens, "the messages");
  ChatPlan plan = plan_chat(r, prompt, trace.adapters);
  const ChatMode mode = plan.mode;
  const std::string named = plan.named;
  const Model& model = trace.served->model();
  trace.local = true;
  trace.job = trace.served->scheduler->submit(std::move(plan.job));
  const std::shared_ptr<Job> job = trace.job;
  const std::string id = random_id("chatcmpl-");
  const int64_t created = static_cast<int64_t>(std::time(nullptr));
  const std::string model_id = trace.model_id;
  const std::string call_id = random_id("call_");

  const auto chunk = [&](ojson delta, ojson logprobs, ojson finish) {
    ojson choice{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", std::move(logprobs)},
                 {"finish_reason", std::move(finish)}};
    ojson c{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model_id},
            {"choices", ojson::array({choice})}, {"bantam", meta}};
    if (r.include_usage) c["usage"] = nullptr;
    return sse(c);
  };
  if (!response.begin_stream(200, "text/event-stream")) {
    job->cancel();
  } else if (mode == ChatMode::NamedTool) {
    response.write(chunk({{"role", "assistant"}, {"content", nullptr},
                          {"tool_calls", ojson::array({{{"index", 0}, {"id", call_id}, {"type", "function"},
                                                        {"function", {{"name", named}, {"arguments", ""}}}}})}},
                         nullptr, nullptr));
  } else {
    response.write(chunk({{"role", "assistant"}, {"content", ""}}, nullptr, nullptr));
  }
  // AutoTools holds text back while it may still be the start of a tool call.
  std::string held;
  bool deciding = mode == ChatMode::AutoTools;
  bool holding_all = mode == ChatMode::Required;
  const auto content_delta = [&](const std::string& text, ojson logprobs) {
    if (mode == ChatMode::NamedTool) {
      return chunk({{"tool_calls", ojson::array({{{"index", 0}, {"function", {{"arguments", text}}}}})}},
                   std::move(logprobs), nullptr);
    }
    return chunk({{"content", text}}, std::move(logprobs), nullptr);
  };
  follow(*job, response, [&](std::vector<GeneratedToken>& events) {
    std::string text;
    ojson logprobs = ojson::array();
    for (const GeneratedToken& e : events) {
      text += e.text;
      if (r.logprobs && e.id >= 0) logprobs.push_back(chat_logprob(model, e));
    }
    if (holding_all || deciding) {
      held += text;
      if (deciding) {
        const size_t start = held.find_first_not_of(" \t\r\n");
        const std::string_view trimmed = start == std::string::npos ? std::string_view() : std::string_view(held).substr(start);
        if (trimmed.starts_with(kToolCallOpen)) {
          deciding = false;
          holding_all = true;
        } else if (!kToolCallOpen.starts_with(trimmed)) {
          deciding = false;
          text = std::move(held);
          held.clear();
        }
      }
      if (holding_all || deciding) return true;
    }
    if (text.empty() && logprobs.empty()) return true;
    return response.write(content_delta(text, r.logprobs ? ojson{{"content", logprobs}} : ojson(nullptr)));
  });
  if (job->finish_reason() == StopReason::Cancelled) return;
  if (job->finish_reason() == StopReason::Error) {
    response.write(sse(ojson{{"error", {{"message", fmt::format("generation failed: {}", job->error())},
                                        {"type", "server_error"}, {"param", nullptr}, {"code", nullptr}}}}));
    response.end_stream();
    return;
  }
  bool tool_calls = mode == ChatMode::NamedTool;
  if (!held.empty()) {
    std::optional<std::vector<ToolCall>> calls =
        mode == ChatMode::Required ? required_call(held) : parse_tool_calls(held, r.tools);
    if (calls) {
      tool_calls = true;
      std::vector<std::string> ids;
      for (size_t i = 0; i < calls->size(); ++i) ids.push_back(i == 0 ? call_id : random_id("call_"));
      response.write(chunk({{"tool_calls", tool_calls_json(*calls, ids, true)}}, nullptr, nullptr));
    } else {
      response.write(chunk({{"content", held}}, nullptr, nullptr));
    }
  }
  response.write(chunk(ojson::object(), nullptr, finish_name(job->finish_reason(), tool_calls)));
  if (r.include_usage) {
    response.write(sse(ojson{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created},
                             {"model", model_id}, {"choices", ojson::array()}, {"usage", usage_json(*job)},
                             {"bantam", meta}}));
  }
  response.write("data: [DONE]\n\n");
  response.end_stream();
}

void Server::completions(const nlohmann::json& body, HttpResponse& response, Trace& trace) {
  trace.served = served();
  const Model& model = trace.served->model();
  const CompletionRequest r = parse_completion_request(body, model.info().n_vocab);
  select_adapters(body, trace);
  JobRequest job_request;
  job_request.prompt = model.tokenize(r.prompt, true, false);
  if (job_request.prompt.empty()) throw ApiError(400, "'prompt' has no tokens", "prompt", "invalid_value");
  if (options_.log_prompts) fmt::print(stderr, "bantam serve: prompt: {}\n", r.prompt);
  const int max_tokens = r.generation.max_tokens;
  check_context(static_cast<int64_t>(job_request.prompt.size()), max_tokens, "the prompt");
  job_request.generation = r.generation;
  if (max_tokens < 0) {  // OpenAI's default for completions: 16
    job_request.generation.max_tokens = static_cast<int>(
        std::min<int64_t>(16, options_.context - static_cast<int64_t>(job_request.prompt.size())));
  }
  job_request.generation.top_logprobs = r.logprobs;
  job_request.lora = trace.adapters.lora;
  job_request.lora_key = trace.adapters.key;
  trace.local = true;
  trace.job = trace.served->scheduler->submit(std::move(job_request));
  const std::shared_ptr<Job> job = trace.job;
  const std::string id = random_id("cmpl-");
  const int64_t created = static_cast<int64_t>(std::time(nullptr));

  // Legacy logprobs: parallel arrays over the tokens.
  ojson tokens = ojson::array(), token_logprobs = ojson::array(), top = ojson::array(), offsets = ojson::array();
  size_t offset = 0;
  const auto add_logprobs = [&](const GeneratedToken& e) {
    const std::string text = token_text(model, e.id);
    tokens.push_back(text);
    token_logprobs.push_back(e.logprob);
    ojson alternatives = ojson::object();
    for (const TokenLogprob& alt : e.top) alternatives[token_text(model, alt.id)] = alt.logprob;
    top.push_back(alternatives);
    offsets.push_back(offset);
    offset += e.text.size();
  };
  const auto logprobs_json = [&] {
    return r.logprobs >= 0 ? ojson{{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top},
                                   {"text_offset", offsets}}
                           : ojson(nullptr);
  };
  const auto answer = [&](const std::string& text, ojson finish) {
    ojson choice{{"text", text}, {"index", 0}, {"logprobs", logprobs_json()}, {"finish_reason", std::move(finish)}};
    return ojson{{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", trace.model_id},
                 {"choices", ojson::array({choice})}, {"bantam", text_completion_route()}};
  };
  response.add_header("X-Bantam-Route", "local");

  if (!r.stream) {
    std::string text;
    follow(*job, response, [&](std::vector<GeneratedToken>& events) {
      for (const GeneratedToken& e : events) {
        if (r.logprobs >= 0 && e.id >= 0) add_logprobs(e);
        text += e.text;
      }
      return true;
    });
    if (job->finish_reason() == StopReason::Cancelled) throw ApiError(499, "the client went away");
    raise_job_error(*job);
    ojson out = answer(text, finish_name(job->finish_reason(), false));
    out["usage"] = usage_json(*job);
    response.send(200, "application/json", dump_json(out));
    return;
  }
  if (!response.begin_stream(200, "text/event-stream")) job->cancel();
  follow(*job, response, [&](std::vector<GeneratedToken>& events) {
    std::string text;
    tokens = token_logprobs = top = offsets = ojson::array();
    for (const GeneratedToken& e : events) {
      if (r.logprobs >= 0 && e.id >= 0) add_logprobs(e);
      text += e.text;
    }
    return text.empty() && tokens.empty() ? true : response.write(sse(answer(text, nullptr)));
  });
  if (job->finish_reason() == StopReason::Cancelled) return;
  if (job->finish_reason() == StopReason::Error) {
    response.write(sse(ojson{{"error", {{"message", fmt::format("generation failed: {}", job->error())},
                                        {"type", "server_error"}, {"param", nullptr}, {"code", nullptr}}}}));
  } else {
    tokens = token_logprobs = top = offsets = ojson::array();
    ojson last = answer("", finish_name(job->finish_reason(), false));
    if (r.include_usage) last["usage"] = usage_json(*job);
    response.write(sse(last));
    response.write("data: [DONE]\n\n");
  }
  response.end_stream();
}

}  // namespace bantam::serve
