// POST /v1/chat/completions: a request becomes scheduler jobs (one per choice) whose events are
// either collected into one response or streamed as server-sent events. The pieces text
// completions share with it are in completion_parts.hpp.
#include <ctime>

#include <fmt/format.h>

#include "format/json_input.hpp"
#include "serve/api_error.hpp"
#include "serve/choice_jobs.hpp"
#include "serve/completion_parts.hpp"
#include "serve/request_fields.hpp"
#include "serve/server.hpp"

namespace bantam::serve {

namespace {

using ojson = nlohmann::ordered_json;

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

// The jobs a chat request becomes (one per choice), and how their text is delivered.
struct ChatPlan {
  std::vector<JobRequest> jobs;
  ChatMode mode = ChatMode::Content;
  std::string named;  // ChatMode::NamedTool
};

ChatPlan plan_chat(const ChatRequest& r, const std::vector<TokenId>& prompt, const AdapterSelection& adapters) {
  ChatPlan plan;
  GenerationSpec g = r.generation;
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
  ChatRequest shaped = r;
  shaped.generation = std::move(g);
  for (int i = 0; i < r.n; ++i) {
    JobRequest job;
    job.prompt = prompt;
    job.lora = adapters.lora;
    job.lora_key = adapters.key;
    job.generation = shaped.for_choice(i);
    plan.jobs.push_back(std::move(job));
  }
  return plan;
}

// The tool calls a finished answer holds, if it is one (parallel_tool_calls false: the first).
std::optional<std::vector<ToolCall>> answer_tool_calls(const ChatPlan& plan, const ChatRequest& r,
                                                       const std::string& text) {
  std::optional<std::vector<ToolCall>> calls;
  if (plan.mode == ChatMode::NamedTool) calls = std::vector<ToolCall>{{plan.named, text}};
  if (plan.mode == ChatMode::Required) calls = required_call(text);
  if (plan.mode == ChatMode::AutoTools) calls = parse_tool_calls(text, r.tools);
  if (calls && !r.parallel_tool_calls && calls->size() > 1) calls->resize(1);
  return calls;
}

std::vector<std::string> call_ids(size_t count) {
  std::vector<std::string> ids;
  for (size_t i = 0; i < count; ++i) ids.push_back(random_id("call_"));
  return ids;
}

std::string route_header_value(const nlohmann::json& meta) {
  return meta.contains("route") && meta["route"].is_string() ? meta["route"].get<std::string>() : "local";
}

// One streamed choice of an AutoTools chat holds its text back while it may still be the start
// of a tool call, and all of it once it is one (Required holds everything from the start).
struct HeldText {
  std::string held;
  bool deciding = false;
  bool holding_all = false;

  // The text to send now (maybe empty).
  std::string pass(std::string text) {
    if (!holding_all && !deciding) return text;
    held += text;
    if (deciding) {
      const size_t start = held.find_first_not_of(" \t\r\n");
      const std::string_view trimmed = start == std::string::npos ? std::string_view() : std::string_view(held).substr(start);
      if (trimmed.starts_with(kToolCallOpen)) {
        deciding = false;
        holding_all = true;
      } else if (!kToolCallOpen.starts_with(trimmed)) {
        deciding = false;
        return std::exchange(held, {});
      }
    }
    return {};
  }
};

}  // namespace

void Server::chat_completions(const HttpRequest& request, nlohmann::json body, HttpResponse& response,
                              Trace& trace) {
  trace.served = served();
  const ServedModel& served = *trace.served;
  // Parsed again with its key order, which a JSON schema's properties keep.
  ChatRequest r =
      parse_chat_request(parse_ordered_request_body(request.body), served.model().info().n_vocab, options_.request_policy);
  select_adapters(body, trace);
  const std::vector<TokenId> prompt = served.formatter->prompt_tokens(r);
  if (options_.log_prompts) fmt::print(stderr, "bantam serve: prompt: {}\n", served.formatter->prompt_text(r));
  const auto n_prompt = static_cast<int64_t>(prompt.size());
  if (options_.context_shift) r.generation.keep = served.formatter->system_tokens(r, prompt);
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
  // With context shift any reply length fits: only the prompt must.
  routed.prompt_tokens = n_prompt + (options_.context_shift ? 1 : std::max(1, r.generation.max_tokens));
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
  ChoiceJobs jobs(*trace.served->scheduler, std::move(plan.jobs), static_cast<size_t>(options_.parallel));
  trace.job = jobs.first();
  hybrid::LocalAnswer answer;
  struct Choice {
    std::string text;
    ojson logprobs = ojson::array();
  };
  std::vector<Choice> choices(static_cast<size_t>(r.n));
  jobs.follow(response, [&](size_t i, std::vector<GeneratedToken>& events) {
    for (const GeneratedToken& e : events) {
      choices[i].text += e.text;
      if (e.id < 0) continue;
      if (i == 0) {  // the router judges its confidence by the first choice
        answer.outcome.token_logprobs.push_back(e.logprob);
        answer.outcome.token_entropies.push_back(e.entropy);
      }
      if (r.logprobs) choices[i].logprobs.push_back(chat_logprob(model, e));
    }
    return true;
  });
  generation_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - submitted).count();
  if (choices_cancelled(jobs)) throw hybrid::ClientGone("the client went away");
  raise_choice_error(jobs);
  ojson list = ojson::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const std::optional<std::vector<ToolCall>> calls = answer_tool_calls(plan, r, choices[i].text);
    ojson message{{"role", "assistant"}};
    if (calls) {
      message["content"] = nullptr;
      message["tool_calls"] = tool_calls_json(*calls, call_ids(calls->size()), false);
    } else {
      message["content"] = choices[i].text;
    }
    ojson choice{{"index", i}, {"message", message}};
    choice["logprobs"] = r.logprobs ? ojson{{"content", choices[i].logprobs}} : ojson(nullptr);
    choice["finish_reason"] = finish_name(jobs.job(i).finish_reason(), calls.has_value());
    list.push_back(std::move(choice));
  }
  answer.response = ojson{{"id", random_id("chatcmpl-")},
                          {"object", "chat.completion"},
                          {"created", static_cast<int64_t>(std::time(nullptr))},
                          {"model", trace.model_id},
                          {"system_fingerprint", system_fingerprint()},
                          {"choices", list},
                          {"usage", usage_json(jobs.prompt_tokens(jobs.size()), jobs.completion_tokens(),
                                               jobs.reused_tokens(jobs.size()))}};
  if (const ojson speculation = jobs.speculation(); !speculation.is_null()) {
    answer.response["bantam"] = ojson{{"speculative", speculation}};  // the router adds its fields beside
  }
  answer.tokens_in = jobs.prompt_tokens(jobs.size());
  answer.tokens_out = jobs.completion_tokens();
  return answer;
}

void Server::stream_chat(const ChatRequest& r, const std::vector<TokenId>& prompt, const ojson& meta,
                         HttpResponse& response, Trace& trace) {
  check_context(static_cast<int64_t>(prompt.size()), r.generation.max_tokens, "the messages");
  ChatPlan plan = plan_chat(r, prompt, trace.adapters);
  const ChatMode mode = plan.mode;
  const Model& model = trace.served->model();
  trace.local = true;
  ChoiceJobs jobs(*trace.served->scheduler, std::move(plan.jobs), static_cast<size_t>(options_.parallel));
  trace.job = jobs.first();
  const std::string id = random_id("chatcmpl-");
  const int64_t created = static_cast<int64_t>(std::time(nullptr));
  const std::string model_id = trace.model_id;
  const size_t n = static_cast<size_t>(r.n);
  const std::vector<std::string> first_call_ids = call_ids(n);

  const auto chunk = [&](size_t index, ojson delta, ojson logprobs, ojson finish) {
    ojson choice{{"index", index}, {"delta", std::move(delta)}, {"logprobs", std::move(logprobs)},
                 {"finish_reason", std::move(finish)}};
    ojson c{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model_id},
            {"system_fingerprint", system_fingerprint()}, {"choices", ojson::array({choice})}, {"bantam", meta}};
    if (r.include_usage) c["usage"] = nullptr;
    return sse(c);
  };
  if (!response.begin_stream(200, "text/event-stream")) {
    jobs.cancel();
  } else {
    for (size_t i = 0; i < n; ++i) {
      if (mode == ChatMode::NamedTool) {
        response.write(chunk(i, {{"role", "assistant"}, {"content", nullptr},
                                 {"tool_calls", ojson::array({{{"index", 0}, {"id", first_call_ids[i]}, {"type", "function"},
                                                               {"function", {{"name", plan.named}, {"arguments", ""}}}}})}},
                             nullptr, nullptr));
      } else {
        response.write(chunk(i, {{"role", "assistant"}, {"content", ""}}, nullptr, nullptr));
      }
    }
  }
  std::vector<HeldText> held(n);
  for (HeldText& h : held) {
    h.deciding = mode == ChatMode::AutoTools;
    h.holding_all = mode == ChatMode::Required;
  }
  const auto content_delta = [&](size_t index, const std::string& text, ojson logprobs) {
    if (mode == ChatMode::NamedTool) {
      return chunk(index, {{"tool_calls", ojson::array({{{"index", 0}, {"function", {{"arguments", text}}}}})}},
                   std::move(logprobs), nullptr);
    }
    return chunk(index, {{"content", text}}, std::move(logprobs), nullptr);
  };
  jobs.follow(response, [&](size_t i, std::vector<GeneratedToken>& events) {
    std::string text;
    ojson logprobs = ojson::array();
    for (const GeneratedToken& e : events) {
      text += e.text;
      if (r.logprobs && e.id >= 0) logprobs.push_back(chat_logprob(model, e));
    }
    text = held[i].pass(std::move(text));
    if (held[i].holding_all || held[i].deciding) return true;
    if (text.empty() && logprobs.empty()) return true;
    return response.write(content_delta(i, text, r.logprobs ? ojson{{"content", logprobs}} : ojson(nullptr)));
  });
  if (choices_cancelled(jobs)) return;
  if (const auto error = jobs.error()) {
    response.write(sse_generation_error(*error));
    response.end_stream();
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    bool tool_calls = mode == ChatMode::NamedTool;
    if (!held[i].held.empty()) {
      std::optional<std::vector<ToolCall>> calls = answer_tool_calls(plan, r, held[i].held);
      if (calls) {
        tool_calls = true;
        std::vector<std::string> ids = call_ids(calls->size());
        ids[0] = first_call_ids[i];
        response.write(chunk(i, {{"tool_calls", tool_calls_json(*calls, ids, true)}}, nullptr, nullptr));
      } else {
        response.write(chunk(i, {{"content", held[i].held}}, nullptr, nullptr));
      }
    }
    response.write(chunk(i, ojson::object(), nullptr, finish_name(jobs.job(i).finish_reason(), tool_calls)));
  }
  if (r.include_usage) {
    response.write(sse(ojson{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created},
                             {"model", model_id}, {"system_fingerprint", system_fingerprint()},
                             {"choices", ojson::array()},
                             {"usage", usage_json(jobs.prompt_tokens(n), jobs.completion_tokens(), jobs.reused_tokens(n))},
                             {"bantam", meta}}));
  }
  response.write("data: [DONE]\n\n");
  response.end_stream();
}

}  // namespace bantam::serve
