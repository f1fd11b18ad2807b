// POST /v1/completions: one or more prompts (text or token ids), n choices each, every choice a
// scheduler job; with echo the prompt comes first, and with echo and logprobs its tokens' logprobs
// too (prompt_scoring.hpp). Collected into one response or streamed as server-sent events.
#include <ctime>

#include <fmt/format.h>

#include "api/model_impl.hpp"
#include "serve/api_error.hpp"
#include "serve/choice_jobs.hpp"
#include "serve/completion_parts.hpp"
#include "serve/prompt_scoring.hpp"
#include "serve/request_fields.hpp"
#include "serve/server.hpp"

namespace bantam::serve {

namespace {

using ojson = nlohmann::ordered_json;

constexpr int kDefaultCompletionTokens = 16;  // OpenAI's max_tokens default for completions

// Text completions are not routed (the router redacts and forwards chat messages), so they run
// on the device.
ojson text_completion_route() {
  return ojson{{"route", "local"}, {"reason", "text-completion"}, {"escalated_from", nullptr}};
}

// One choice's legacy logprobs: parallel arrays over its tokens, offsets into its text.
struct LegacyLogprobs {
  ojson tokens = ojson::array(), token_logprobs = ojson::array(), top = ojson::array(), offsets = ojson::array();

  void add(const Model& model, TokenId id, std::optional<float> logprob, const std::vector<TokenLogprob>& alternatives,
           size_t offset) {
    tokens.push_back(token_text(model, id));
    token_logprobs.push_back(logprob ? ojson(*logprob) : ojson(nullptr));
    if (!logprob) {
      top.push_back(nullptr);
    } else {
      ojson alts = ojson::object();
      for (const TokenLogprob& alt : alternatives) alts[token_text(model, alt.id)] = alt.logprob;
      top.push_back(std::move(alts));
    }
    offsets.push_back(offset);
  }
  ojson take() {
    ojson out{{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top}, {"text_offset", offsets}};
    *this = LegacyLogprobs{};
    return out;
  }
};

struct PromptInput {
  std::vector<TokenId> tokens;
  std::string echo;                  // the text echo puts first
  std::vector<ScoredToken> scored;   // with echo and logprobs
};

// One choice while it is generated: its text so far and its logprobs since they were last sent.
struct CompletionChoice {
  size_t prompt = 0;
  std::string text;
  size_t offset = 0;  // bytes of text the logprobs' offsets have covered
  LegacyLogprobs logprobs;
};

}  // namespace

void Server::completions(const nlohmann::json& body, HttpResponse& response, Trace& trace) {
  trace.served = served();
  const Model& model = trace.served->model();
  const CompletionRequest r = parse_completion_request(body, model.info().n_vocab, options_.request_policy);
  select_adapters(body, trace);
  const bool echo_logprobs = r.echo && r.logprobs >= 0;
  if (echo_logprobs && trace.adapters.lora) {
    throw ApiError(400, "'echo' with 'logprobs' scores the prompt on the base model only; leave out the adapters",
                   "echo", "unsupported_value");
  }
  const Tokenizer& tokenizer = model.impl().text();
  std::vector<PromptInput> prompts;
  for (size_t i = 0; i < r.prompts.size(); ++i) {
    const CompletionPrompt& p = r.prompts[i];
    const std::string param = r.prompts.size() > 1 ? fmt::format("prompt[{}]", i) : "prompt";
    PromptInput input;
    input.tokens = p.is_tokens ? p.tokens : model.tokenize(p.text, true, false);
    if (input.tokens.empty()) throw ApiError(400, fmt::format("'{}' has no tokens", param), param, "invalid_value");
    if (options_.log_prompts) fmt::print(stderr, "bantam serve: prompt: {}\n", p.is_tokens ? model.detokenize(p.tokens) : p.text);
    check_context(static_cast<int64_t>(input.tokens.size()), r.generation.max_tokens, "the prompt");
    if (r.echo) input.echo = p.is_tokens ? model.detokenize(input.tokens) : p.text;
    prompts.push_back(std::move(input));
  }
  if (echo_logprobs) {
    for (PromptInput& p : prompts) p.scored = score_prompt(trace.served->loaded.model, p.tokens, r.logprobs, options_.threads);
  }

  const size_t n = static_cast<size_t>(r.n);
  std::vector<JobRequest> requests;
  std::vector<CompletionChoice> choices;
  for (size_t p = 0; p < prompts.size(); ++p) {
    for (size_t c = 0; c < n; ++c) {
      choices.emplace_back().prompt = p;
      if (r.generation.max_tokens == 0) continue;  // scoring only: nothing to generate
      JobRequest job;
      job.prompt = prompts[p].tokens;
      job.generation = r.for_choice(static_cast<int>(c));
      if (job.generation.max_tokens < 0) {
        job.generation.max_tokens = static_cast<int>(std::min<int64_t>(
            kDefaultCompletionTokens, options_.context - static_cast<int64_t>(job.prompt.size())));
      }
      job.generation.top_logprobs = r.logprobs;
      job.lora = trace.adapters.lora;
      job.lora_key = trace.adapters.key;
      requests.push_back(std::move(job));
    }
  }
  const bool generating = !requests.empty();
  trace.local = true;
  ChoiceJobs jobs(*trace.served->scheduler, std::move(requests), static_cast<size_t>(options_.parallel));
  trace.job = jobs.first();
  const std::string id = random_id("cmpl-");
  const int64_t created = static_cast<int64_t>(std::time(nullptr));

  // The echoed prompt starts each choice's text, and its scored tokens its logprobs. Offsets run
  // over the tokens' texts (a leading BOS adds none), less what those texts have beyond the
  // echoed prompt at its start: SentencePiece's added leading space.
  for (CompletionChoice& choice : choices) {
    const PromptInput& p = prompts[choice.prompt];
    choice.text = p.echo;
    std::vector<size_t> starts;
    size_t covered = 0;
    for (size_t i = 0; i < p.scored.size(); ++i) {
      starts.push_back(covered);
      if (!(i == 0 && p.scored[i].id == tokenizer.bos())) covered += token_text(model, p.scored[i].id).size();
    }
    const size_t extra = covered > p.echo.size() ? covered - p.echo.size() : 0;
    for (size_t i = 0; i < p.scored.size(); ++i) {
      const ScoredToken& t = p.scored[i];
      choice.logprobs.add(model, t.id, t.logprob, t.top, starts[i] > extra ? starts[i] - extra : 0);
    }
    choice.offset = choice.text.size();
  }
  const auto add_events = [&](CompletionChoice& choice, const std::vector<GeneratedToken>& events) {
    std::string text;
    for (const GeneratedToken& e : events) {
      if (r.logprobs >= 0 && e.id >= 0) {
        choice.logprobs.add(model, e.id, e.logprob, e.top, choice.offset + text.size());
      }
      text += e.text;
    }
    choice.offset += text.size();
    return text;
  };
  const auto choice_json = [&](size_t index, std::string text, ojson finish) {
    CompletionChoice& choice = choices[index];
    return ojson{{"text", std::move(text)},
                 {"index", index},
                 {"logprobs", r.logprobs >= 0 ? choice.logprobs.take() : ojson(nullptr)},
                 {"finish_reason", std::move(finish)}};
  };
  const auto answer = [&](ojson list) {
    return ojson{{"id", id},           {"object", "text_completion"}, {"created", created},
                 {"model", trace.model_id}, {"system_fingerprint", system_fingerprint()},
                 {"choices", std::move(list)}, {"bantam", text_completion_route()}};
  };
  const auto finish = [&](size_t index) {
    return generating ? finish_name(jobs.job(index).finish_reason(), false) : std::string("length");
  };
  const auto usage = [&] {
    int64_t prompt_tokens = 0;
    for (const PromptInput& p : prompts) prompt_tokens += static_cast<int64_t>(p.tokens.size());
    return usage_json(prompt_tokens, jobs.completion_tokens(), jobs.reused_tokens(n));
  };
  response.add_header("X-Bantam-Route", "local");

  if (!r.stream) {
    jobs.follow(response, [&](size_t i, std::vector<GeneratedToken>& events) {
      choices[i].text += add_events(choices[i], events);
      return true;
    });
    if (choices_cancelled(jobs)) throw ApiError(499, "the client went away");
    raise_choice_error(jobs);
    ojson list = ojson::array();
    for (size_t i = 0; i < choices.size(); ++i) list.push_back(choice_json(i, choices[i].text, finish(i)));
    ojson out = answer(std::move(list));
    out["usage"] = usage();
    if (const ojson speculation = jobs.speculation(); !speculation.is_null()) out["bantam"]["speculative"] = speculation;
    response.send(200, "application/json", dump_json(out));
    return;
  }
  if (!response.begin_stream(200, "text/event-stream")) {
    jobs.cancel();
    return;
  }
  for (size_t i = 0; i < choices.size() && r.echo; ++i) {
    response.write(sse(answer(ojson::array({choice_json(i, choices[i].text, nullptr)}))));
  }
  jobs.follow(response, [&](size_t i, std::vector<GeneratedToken>& events) {
    const std::string text = add_events(choices[i], events);
    const bool has_logprobs = r.logprobs >= 0 && !choices[i].logprobs.tokens.empty();
    if (text.empty() && !has_logprobs) return true;
    return response.write(sse(answer(ojson::array({choice_json(i, text, nullptr)}))));
  });
  if (choices_cancelled(jobs)) return;
  if (const auto error = jobs.error()) {
    response.write(sse_generation_error(*error));
  } else {
    for (size_t i = 0; i < choices.size(); ++i) {
      ojson last = answer(ojson::array({choice_json(i, "", finish(i))}));
      if (r.include_usage && i + 1 == choices.size()) last["usage"] = usage();
      response.write(sse(last));
    }
    response.write("data: [DONE]\n\n");
  }
  response.end_stream();
}

}  // namespace bantam::serve
