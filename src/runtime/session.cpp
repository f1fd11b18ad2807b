// Session: one sequence on a shared model. Prompt processing in batches, then the decode loop
// (sample, stream, stop), keeping the longest reusable prefix of the cache between calls.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "api/model_impl.hpp"
#include "model/decoder.hpp"
#include "model/kv_cache.hpp"
#include "format/json_input.hpp"
#include "runtime/json_token_filter.hpp"
#include "runtime/memory_plan.hpp"
#include "runtime/sampler.hpp"
#include "runtime/session_state.hpp"
#include "runtime/stop_strings.hpp"

namespace bantam {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

GgmlType cache_type(KvCacheType type) {
  switch (type) {
    case KvCacheType::F32: return GgmlType::F32;
    case KvCacheType::Q8_0: return GgmlType::Q8_0;
    case KvCacheType::F16: break;
  }
  return GgmlType::F16;
}

// Samples among the tokens that keep the output inside the grammar (the logits of the others
// masked to -infinity); Error when none can.
SampledToken sample_constrained(Sampler& sampler, const JsonMatcher& matcher, const JsonTokenFilter& filter,
                                std::span<const float> model_logits, std::span<const TokenId> history) {
  std::vector<float> logits(model_logits.begin(), model_logits.end());
  if (filter.mask(matcher, logits) == 0) {
    throw Error("generate: no token of the vocabulary can continue the constrained output");
  }
  SampledToken sampled = sampler.sample(logits, history);
  if (!std::isfinite(logits[static_cast<size_t>(sampled.id)])) {
    // Should the chain still draw a masked token, the best allowed one is taken instead.
    const auto best = static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    sampled = score_token(logits, best);
  }
  return sampled;
}

}  // namespace

struct Session::Impl {
  std::shared_ptr<const Model> model;
  const Model::Impl& m;
  SessionOptions options;
  ops::ThreadPool pool;
  KvCache cache;
  LoraSet lora;
  Decoder decoder;
  ForwardBuffers buffers;
  std::vector<TokenId> tokens;     // the sequence whose keys and values are in the cache
  std::vector<float> last_logits;  // after tokens.back()
  std::atomic<bool> cancel_requested{false};
  std::optional<JsonTokenFilter> json_filter;  // built on the first constrained generate

  Impl(std::shared_ptr<const Model> model_in, const SessionOptions& opts)
      : model(std::move(model_in)), m(model->impl()), options(fitting(*model, opts)), pool(opts.threads),
        cache(m.config, opts.context_length, std::max(1, opts.batch_size), cache_type(opts.kv_type)),
        lora(adapters(opts, m)), decoder(m.config, m.weights) {}

  // The options, once their cache is known to fit in the memory available: checked before the
  // pool and the cache allocate, so a context far too long is an Error, not std::bad_alloc.
  static const SessionOptions& fitting(const Model& model, const SessionOptions& opts) {
    if (const auto available = available_memory()) {
      check_fits(model, plan_memory(model, 1, opts.context_length, std::max(1, opts.batch_size), opts.kv_type),
                 *available);
    }
    return opts;
  }

  static LoraSet adapters(const SessionOptions& opts, const Model::Impl& model) {
    LoraSet set;
    for (const AdapterUse& use : opts.adapters) {
      if (!use.adapter) throw Error("session: an adapter entry holds no adapter");
      set.add(use.adapter->impl().lora, use.scale, model.weights);
    }
    return set;
  }

  int64_t reusable_prefix(std::span<const TokenId> prompt) const {
    return bantam::reusable_prefix(m.config, cache, tokens, prompt);
  }

  // Evaluates `input` after the current sequence, batch by batch. Logits of the last token end
  // in last_logits; with all_logits, `all` receives every token's logits too.
  void append(std::span<const TokenId> input, std::vector<float>* all) {
    if (static_cast<int64_t>(tokens.size() + input.size()) > cache.context()) {
      throw Error(fmt::format("{} tokens do not fit the context of {} ({} already used)", input.size(),
                              cache.context(), tokens.size()));
    }
    const size_t batch = static_cast<size_t>(std::max(1, options.batch_size));
    for (size_t begin = 0; begin < input.size(); begin += batch) {
      const auto chunk = input.subspan(begin, std::min(batch, input.size() - begin));
      const DecodeSegment segment{chunk, static_cast<int64_t>(tokens.size()), &cache, &lora};
      decoder.forward({&segment, 1}, buffers, pool, all ? ForwardOutput::AllLogits : ForwardOutput::LastLogits,
                      last_logits);
      tokens.insert(tokens.end(), chunk.begin(), chunk.end());
      if (all) all->insert(all->end(), last_logits.begin(), last_logits.end());
    }
    if (all) last_logits.erase(last_logits.begin(), last_logits.end() - m.config.n_vocab);
  }
};

Session::Session(std::shared_ptr<const Model> model, const SessionOptions& options)
    : impl_(std::make_unique<Impl>(std::move(model), options)) {}
Session::~Session() = default;

void Session::cancel() { impl_->cancel_requested.store(true); }

void Session::reset() {
  impl_->tokens.clear();
  impl_->last_logits.clear();
}

const std::vector<TokenId>& Session::tokens() const { return impl_->tokens; }
int64_t Session::context_length() const { return impl_->cache.context(); }
size_t Session::kv_cache_bytes() const { return impl_->cache.bytes(); }
const Model& Session::model() const { return *impl_->model; }

std::vector<uint8_t> Session::save_state() const {
  const Impl& s = *impl_;
  return save_session_state(s.m, s.options.adapters, s.cache, s.tokens);
}

void Session::restore_state(std::span<const uint8_t> state) {
  Impl& s = *impl_;
  s.tokens.clear();
  s.last_logits.clear();
  s.tokens = restore_session_state(s.m, s.options.adapters, s.cache, state);
}

std::vector<float> Session::evaluate(std::span<const TokenId> input) {
  std::vector<float> logits;
  if (input.empty()) return logits;
  impl_->append(input, &logits);
  return logits;
}

std::vector<float> Session::evaluate_last(std::span<const TokenId> input) {
  if (input.empty()) return {};
  impl_->append(input, nullptr);
  return impl_->last_logits;
}

GenerateResult Session::generate(std::span<const TokenId> prompt, const GenerateOptions& options,
                                 const TokenCallback& on_token) {
  Impl& s = *impl_;
  const auto start = Clock::now();
  s.cancel_requested.store(false);
  GenerateResult result;
  result.prompt_tokens = static_cast<int64_t>(prompt.size());

  // Prompt: keep the cached prefix, evaluate the rest (at least one token, for fresh logits).
  if (prompt.empty()) throw Error("generate: the prompt is empty");
  int64_t keep = s.reusable_prefix(prompt);
  if (keep == static_cast<int64_t>(prompt.size())) --keep;
  s.tokens.resize(static_cast<size_t>(keep));
  result.reused_tokens = keep;
  s.append(prompt.subspan(static_cast<size_t>(keep)), nullptr);
  result.prompt_seconds = seconds_since(start);

  std::optional<JsonMatcher> matcher;
  if (!options.json_schema.empty()) {
    matcher.emplace(JsonGrammar::from_schema(parse_json(options.json_schema, "json_schema")));
    if (!s.json_filter) s.json_filter.emplace(*s.model);
  }
  const auto generation_start = Clock::now();
  const Tokenizer* tokenizer = s.m.tokenizer.get();
  std::optional<StreamingDetokenizer> detokenizer;
  if (tokenizer) detokenizer.emplace(*tokenizer, true);
  // A stop string would cut constrained JSON short: the grammar says when the output ends.
  StopStringFilter stops(matcher ? std::vector<std::string>{} : options.stop);
  Sampler sampler(options.sampling);
  const auto emit = [&](TokenId id, const std::string& text, float logprob) {
    result.text += text;
    return !on_token || on_token(TokenEvent{id, text, logprob});
  };

  result.stop_reason = StopReason::MaxTokens;
  for (int n = 0;; ++n) {
    if (s.cancel_requested.load()) {
      result.stop_reason = StopReason::Cancelled;
      break;
    }
    if (options.max_tokens >= 0 && n >= options.max_tokens) break;
    const SampledToken choice = matcher ? sample_constrained(sampler, *matcher, *s.json_filter, s.last_logits, s.tokens)
                                        : sampler.sample(s.last_logits, s.tokens);
    if (n == 0) result.first_token_seconds = seconds_since(start);
    if (s.m.is_end_of_generation(choice.id)) {
      result.stop_reason = StopReason::EndOfGeneration;
      break;
    }
    result.tokens.push_back(choice.id);
    if (matcher) matcher->feed(s.json_filter->bytes(choice.id));
    const std::string piece = detokenizer ? detokenizer->push(choice.id) : std::string();
    if (!emit(choice.id, stops.push(piece), choice.logprob)) {
      result.stop_reason = StopReason::Cancelled;
      break;
    }
    if (stops.stopped()) {
      result.stop_reason = StopReason::StopString;
      break;
    }
    if (matcher && matcher->complete() && !matcher->can_continue()) {
      result.stop_reason = StopReason::EndOfGeneration;
      break;
    }
    if (options.max_tokens >= 0 && n + 1 >= options.max_tokens) break;  // no forward pass needed
    if (static_cast<int64_t>(s.tokens.size()) >= s.cache.context()) {
      result.stop_reason = StopReason::ContextFull;
      break;
    }
    s.append(std::span(&choice.id, 1), nullptr);
  }
  // Text held back (a possible stop-string start, an unfinished character) is final now.
  if (result.stop_reason != StopReason::StopString) {
    std::string tail = stops.push(detokenizer ? detokenizer->flush() : std::string());
    tail += stops.stopped() ? std::string() : stops.flush();
    if (stops.stopped()) result.stop_reason = StopReason::StopString;
    if (!tail.empty()) emit(-1, tail, 0.0f);
  }
  result.generation_seconds = seconds_since(generation_start);
  return result;
}

}  // namespace bantam
