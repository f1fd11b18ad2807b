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
#include "runtime/generation.hpp"
#include "runtime/token_filter.hpp"
#include "runtime/memory_plan.hpp"
#include "runtime/session_state.hpp"

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
  std::vector<float> last_logits;  // after tokens.back()
  std::atomic<bool> cancel_requested{false};
  std::optional<TokenFilter> filter;  // built by the first generate() with a JSON schema

  Impl(std::shared_ptr<const Model> model_in, const SessionOptions& opts)
      : model(std::move(model_in)), m(model->impl()), options(fitting(*model, opts)), pool(opts.threads),
        cache(m.config, opts.context_length, std::max(1, opts.batch_size), kv_row_types(m.config, opts.kv_types())),
        lora(adapters(opts, m)), decoder(m.config, m.weights) {}

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
  Generation generation(*s.model, s.filter ? &*s.filter : nullptr, std::move(spec), prompt, s.cache.context());
  const auto emit = [&](TokenId id, const std::string& text, float logprob) {
    result.text += text;
    return !on_token || on_token(TokenEvent{id, text, logprob});
  };
  bool sampled = false;
  while (!generation.finished()) {
    if (s.cancel_requested.load()) {
      generation.stop(StopReason::Cancelled);
      break;
    }
    const std::optional<GeneratedToken> token = generation.step(s.last_logits);
    if (!sampled) result.first_token_seconds = seconds_since(start);
    sampled = true;
    if (!token) break;
    if (!emit(token->id, token->text, token->logprob)) generation.stop(StopReason::Cancelled);
    if (generation.finished()) break;
    s.append(std::span(&token->id, 1), nullptr);
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
