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
#include "runtime/context_shift.hpp"
#include "runtime/generation.hpp"
#include "runtime/token_filter.hpp"
#include "runtime/memory_plan.hpp"
#include "runtime/session_state.hpp"
#include "runtime/speculative.hpp"

namespace bantam {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
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
  int64_t written_end = 0;         // positions written, rejected speculative drafts included
  std::unique_ptr<DraftModel> draft_model;  // options.speculative.draft's cache and state
  DraftController draft_controller;  // whether drafts pay, learnt over the session's generations
  std::vector<float> last_logits;  // after tokens.back()
  std::atomic<bool> cancel_requested{false};
  std::optional<TokenFilter> filter;  // built by the first generate() with a JSON schema

  Impl(std::shared_ptr<const Model> model_in, const SessionOptions& opts)
      : model(std::move(model_in)), m(model->impl()), options(fitting(*model, opts)), pool(opts.threads),
        cache(m.config, opts.context_length, std::max(1, opts.batch_size), kv_row_types(m.config, opts.kv_types())),
        lora(adapters(opts, m)), decoder(m.config, m.weights), draft_controller(opts.speculative) {
    if (opts.speculative.draft) {
      draft_model = std::make_unique<DraftModel>(*model, opts.speculative.draft, opts.context_length,
                                                 std::max(1, opts.batch_size), opts.kv_types());
    }
  }

  // The options, once their cache is known to fit in the memory available: checked before the
  // pool and the cache allocate, so a context far too long is an Error, not std::bad_alloc.
  static const SessionOptions& fitting(const Model& model, const SessionOptions& opts) {
    if (const auto available = available_memory()) {
      check_fits(model, plan_memory(model, 1, opts.context_length, std::max(1, opts.batch_size), opts.kv_types()),
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
    return bantam::reusable_prefix(m.config, cache, tokens, prompt, written_end);
  }

  int64_t keep_on_shift(int keep, std::span<const TokenId> prompt) const {
    return tokens_to_keep(keep, prompt, m.tokenizer ? m.tokenizer->bos() : -1);
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
      written_end = std::max<int64_t>(written_end, static_cast<int64_t>(tokens.size()));
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
  impl_->written_end = 0;
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
  s.written_end = static_cast<int64_t>(s.tokens.size());
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
  GenerationSpec spec = GenerationSpec::from(options);
  if (spec.grammar && !s.filter) s.filter.emplace(*s.model);

  // Prompt: keep the cached prefix, evaluate the rest (at least one token, for fresh logits).
  if (prompt.empty()) throw Error("generate: the prompt is empty");
  int64_t keep = s.reusable_prefix(prompt);
  if (keep == static_cast<int64_t>(prompt.size())) --keep;
  s.tokens.resize(static_cast<size_t>(keep));
  result.reused_tokens = keep;
  s.append(prompt.subspan(static_cast<size_t>(keep)), nullptr);
  result.prompt_seconds = seconds_since(start);

  const auto generation_start = Clock::now();
  const int64_t keep_on_shift = s.keep_on_shift(options.keep, prompt);
  Generation generation(*s.model, s.filter ? &*s.filter : nullptr, std::move(spec), prompt, s.cache.context());
  const auto emit = [&](TokenId id, const std::string& text, float logprob) {
    result.text += text;
    return !on_token || on_token(TokenEvent{id, text, logprob});
  };
  std::optional<Speculator> speculator;
  if (s.options.speculative.enabled()) {
    speculator.emplace(s.options.speculative, s.draft_model.get(), s.draft_controller, generation.spec().sampling);
  }
  const int max_draft = std::max(0, std::max(1, s.options.batch_size) - 1);
  // Each pass evaluates the token sampled last and the drafts after it, then samples from the
  // logits of every position in turn: a draft is kept when the sampler, given the same
  // logits and state, keeps it (step_with_draft); the first one it replaces ends the pass.
  std::optional<GeneratedToken> token = generation.step(s.last_logits);
  result.first_token_seconds = seconds_since(start);
  if (token && !emit(token->id, token->text, token->logprob)) generation.stop(StopReason::Cancelled);
  std::vector<float> all_logits;
  std::vector<TokenId> input;
  while (token && !generation.finished()) {
    if (s.cancel_requested.load()) {
      generation.stop(StopReason::Cancelled);
      break;
    }
    if (options.context_shift && static_cast<int64_t>(s.tokens.size()) >= s.cache.context()) {
      if (shift_context(s.decoder, s.cache, s.tokens, keep_on_shift) == 0) {
        generation.stop(StopReason::ContextFull);
        break;
      }
      ++result.context_shifts;
    }
    const auto pass_start = Clock::now();
    input.assign(1, token->id);
    Draft draft;
    if (speculator) {
      std::vector<TokenId> sequence = s.tokens;
      sequence.push_back(token->id);
      const int64_t room = s.cache.context() - static_cast<int64_t>(sequence.size());
      draft = speculator->draft(sequence, static_cast<int>(std::min<int64_t>(room, max_draft)), s.pool);
      input.insert(input.end(), draft.tokens.begin(), draft.tokens.end());
    }
    const size_t cached = s.tokens.size();
    all_logits.clear();
    s.append(input, draft.tokens.empty() ? nullptr : &all_logits);
    ++result.forward_passes;
    const auto n_vocab = static_cast<size_t>(s.m.config.n_vocab);
    const auto logits_at = [&](size_t i) {
      return draft.tokens.empty() ? std::span<const float>(s.last_logits)
                                  : std::span<const float>(all_logits).subspan(i * n_vocab, n_vocab);
    };
    size_t accepted = 0;
    int emitted = 0;
    for (size_t i = 0; i <= draft.tokens.size(); ++i) {
      token = i < draft.tokens.size()
                  ? generation.step_with_draft(logits_at(i), draft.tokens[i], draft.distribution(i))
                  : generation.step(logits_at(i));
      if (!token) break;
      ++emitted;
      if (!emit(token->id, token->text, token->logprob)) generation.stop(StopReason::Cancelled);
      if (i == draft.tokens.size() || token->id != draft.tokens[i]) break;
      ++accepted;  // draft i was right: its keys and values in the cache stay
      if (generation.finished()) break;
    }
    result.drafted_tokens += static_cast<int64_t>(draft.tokens.size());
    result.accepted_tokens += static_cast<int64_t>(accepted);
    if (!draft.tokens.empty()) {
      // The cache keeps the evaluated token and the accepted drafts; later positions are rewritten.
      s.tokens.resize(cached + 1 + accepted);
      const auto kept = logits_at(accepted);
      s.last_logits.assign(kept.begin(), kept.end());
    }
    if (speculator) {
      speculator->record(static_cast<int>(draft.tokens.size()), static_cast<int>(accepted), emitted,
                         seconds_since(pass_start));
    }
  }
  if (generation.reason() == StopReason::Error) throw Error(fmt::format("generate: {}", generation.error()));
  const std::string tail = generation.flush();
  if (!tail.empty()) emit(-1, tail, 0.0f);
  result.tokens = generation.generated();
  result.stop_reason = generation.reason();
  result.generation_seconds = seconds_since(generation_start);
  return result;
}

}  // namespace bantam
