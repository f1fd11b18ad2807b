#include "runtime/speculative.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "api/model_impl.hpp"
#include "runtime/memory_plan.hpp"

namespace bantam {

std::vector<TokenId> lookup_draft(std::span<const TokenId> sequence, int max_ngram, int max_tokens,
                                  int min_ngram) {
  const auto size = static_cast<int64_t>(sequence.size());
  for (int64_t n = std::min<int64_t>(max_ngram, size - 1); n >= std::max(1, min_ngram); --n) {
    const auto key = sequence.subspan(static_cast<size_t>(size - n));
    // The latest earlier occurrence: its continuation is the likeliest to be copied next.
    for (int64_t start = size - n - 1; start >= 0; --start) {
      if (!std::equal(key.begin(), key.end(), sequence.begin() + start)) continue;
      const int64_t from = start + n;
      const int64_t count = std::min<int64_t>(max_tokens, size - from);
      return {sequence.begin() + from, sequence.begin() + from + count};
    }
  }
  return {};
}

void check_draft_vocabulary(const Model& target, const Model& draft) {
  const Model::Impl& t = target.impl();
  const Model::Impl& d = draft.impl();
  if (t.config.n_vocab != d.config.n_vocab) {
    throw Error(fmt::format("draft model: its vocabulary has {} tokens, the model's {}; a draft must share the "
                            "model's vocabulary",
                            d.config.n_vocab, t.config.n_vocab));
  }
  if (!t.tokenizer || !d.tokenizer) return;  // token ids only: the sizes are all there is to compare
  for (size_t id = 0; id < t.tokenizer->vocab_size(); ++id) {
    const auto token = static_cast<TokenId>(id);
    if (t.tokenizer->token_text(token) != d.tokenizer->token_text(token)) {
      throw Error(fmt::format("draft model: token {} is '{}' in the draft and '{}' in the model; a draft must share "
                              "the model's vocabulary",
                              id, d.tokenizer->token_text(token), t.tokenizer->token_text(token)));
    }
  }
}

namespace {
// A draft model's forward pass over at most this many tokens costs about one decode step; longer
// ones are a catch-up, which costs several on a compute-bound machine.
constexpr size_t kDecodeSizedTokens = 4;
// The most tokens a draft model evaluates to catch up with the sequence before drafting.
constexpr size_t kCatchUpWindow = 16;
}  // namespace

struct DraftModel::Impl {
  std::shared_ptr<const Model> model;
  const Model::Impl& m;
  KvCache cache;
  Decoder decoder;
  ForwardBuffers buffers;
  size_t offset = 0;            // the sequence's index of the cache's position 0
  std::vector<TokenId> tokens;  // in the cache: the sequence from offset on
  int64_t written_end = 0;      // positions written, rejected drafts included
  std::vector<float> logits;    // after tokens.back()
  int max_batch;

  Impl(std::shared_ptr<const Model> model_in, int64_t context, int batch, KvCacheTypes kv_types)
      : model(std::move(model_in)), m(model->impl()), cache(m.config, context, batch, kv_row_types(m.config, kv_types)),
        decoder(m.config, m.weights), max_batch(batch) {}

  // Appends `input`; forward passes of decode size (not a prompt's catch-up) are counted in
  // `timing`, which is what the controller weighs a draft token's cost by.
  void append(std::span<const TokenId> input, ops::ThreadPool& pool, Draft& timing) {
    for (size_t begin = 0; begin < input.size(); begin += static_cast<size_t>(max_batch)) {
      const auto chunk = input.subspan(begin, std::min(static_cast<size_t>(max_batch), input.size() - begin));
      const DecodeSegment segment{chunk, static_cast<int64_t>(tokens.size()), &cache, nullptr};
      const auto start = std::chrono::steady_clock::now();
      decoder.forward({&segment, 1}, buffers, pool, ForwardOutput::LastLogits, logits);
      if (chunk.size() <= kDecodeSizedTokens) {
        ++timing.model_steps;
        timing.model_step_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
      tokens.insert(tokens.end(), chunk.begin(), chunk.end());
      written_end = std::max<int64_t>(written_end, static_cast<int64_t>(tokens.size()));
    }
  }
};

DraftModel::DraftModel(const Model& target, std::shared_ptr<const Model> model, int64_t context, int max_batch,
                       KvCacheTypes kv_types) {
  if (!model) throw Error("draft model: none given");
  check_draft_vocabulary(target, *model);
  if (const auto available = available_memory()) {
    check_fits(*model, plan_memory(*model, 1, context, max_batch, kv_types), *available);
  }
  impl_ = std::make_unique<Impl>(std::move(model), context, max_batch, kv_types);
  // One forward pass now pages the draft's weights in and sizes its buffers, so that the first
  // draft's cost (which the controller judges the draft by) is a step's, not a load's.
  Draft warm_up;
  ops::ThreadPool pool(1);
  const TokenId first = 0;
  impl_->append(std::span(&first, 1), pool, warm_up);
  impl_->tokens.clear();
}

DraftModel::~DraftModel() = default;

size_t DraftModel::kv_cache_bytes() const { return impl_->cache.bytes(); }

Draft DraftModel::propose(std::span<const TokenId> sequence, int max_tokens, float p_min, Sampler& sampler,
                          ops::ThreadPool& pool) {
  Impl& d = *impl_;
  Draft draft;
  const auto context = d.cache.context();
  max_tokens = static_cast<int>(std::min<int64_t>(max_tokens, context - static_cast<int64_t>(sequence.size())));
  if (max_tokens <= 0 || sequence.empty()) return draft;
  // The draft's cache holds the sequence from d.offset on, at positions counted from there.
  if (d.offset >= sequence.size()) d.offset = 0;
  auto followed = sequence.subspan(d.offset);
  int64_t keep = reusable_prefix(d.m.config, d.cache, d.tokens, followed, d.written_end);
  if (keep == 0 || followed.size() - static_cast<size_t>(keep) > kCatchUpWindow) {
    // Nothing to reuse or a long gap (a new prompt): the draft restarts on the latest tokens
    // only, so that it never spends more than a short prompt's evaluation before its first draft.
    // Its drafts get a shorter context, which costs acceptance, never exactness (the target
    // verifies them).
    d.offset = sequence.size() > kCatchUpWindow ? sequence.size() - kCatchUpWindow : 0;
    followed = sequence.subspan(d.offset);
    keep = 0;
  }
  if (keep == static_cast<int64_t>(followed.size())) --keep;  // at least one token, for fresh logits
  d.tokens.resize(static_cast<size_t>(keep));
  d.append(followed.subspan(static_cast<size_t>(keep)), pool, draft);
  std::vector<TokenId> history(sequence.begin(), sequence.end());
  for (int i = 0; i < max_tokens; ++i) {
    if (i > 0) d.append(std::span(&draft.tokens.back(), 1), pool, draft);
    std::vector<Sampler::Candidate> distribution = sampler.distribution(d.logits, history);
    const TokenId token = sampler.draw(distribution);
    // The draft's own confidence, before the sampler's truncation: greedy reports 1 for any token.
    if (score_token(d.logits, token).logprob < std::log(p_min)) break;
    draft.tokens.push_back(token);
    history.push_back(token);
    // A greedy target accepts exactly its argmax, so a certain draft loses nothing there.
    if (distribution.size() == 1) {
      draft.distributions.emplace_back();
    } else {
      draft.distributions.push_back(std::move(distribution));
    }
  }
  return draft;
}

double expected_tokens_per_pass(double alpha, int k) {
  if (alpha >= 1.0) return k + 1.0;
  return (1.0 - std::pow(alpha, k + 1)) / (1.0 - alpha);
}

DraftController::DraftController(const SpeculativeOptions& options) : options_(options) {
  for (SourceState& source : sources_) source.length = std::clamp(2, 1, std::max(1, options.draft_max));
}

int DraftController::next_length(DraftSource source) {
  if (!options_.adaptive) return options_.draft_max;
  if (probe_left_ > 0) return 0;
  SourceState& s = state(source);
  if (s.given_up) return 0;
  if (s.paused_for > 0) {
    // Lookup is asked once per pass, so its pause counts passes.
    if (source == DraftSource::Lookup) --s.paused_for;
    return 0;
  }
  return s.length;
}

void DraftController::record_plain(double seconds, double drafting_seconds, int draft_steps,
                                   double draft_step_seconds) {
  if (!options_.adaptive) return;
  if (probe_left_ > 0) --probe_left_;
  // Moving average over about the last eight plain steps (the speed drifts with the context).
  const double step = std::max(0.0, seconds - drafting_seconds);
  plain_seconds_ = plain_seconds_ == 0 ? step : plain_seconds_ + (step - plain_seconds_) / 8;
  // A draft model that was asked and proposed nothing still paid its forward passes.
  if (draft_steps > 0 && plain_seconds_ > 0) {
    SourceState& model = state(DraftSource::Model);
    model.trials += 1;  // a pass that gained nothing from the draft
    const double cost = draft_step_seconds / draft_steps / plain_seconds_;
    model.draft_cost = model.draft_cost == 0 ? cost : model.draft_cost + (cost - model.draft_cost) / 4;
    judge(DraftSource::Model);
  }
}

void DraftController::record(DraftSource source, int drafted, int accepted, double seconds,
                             double drafting_seconds, int draft_steps, double draft_step_seconds) {
  if (!options_.adaptive || drafted <= 0) return;
  SourceState& s = state(source);
  if (plain_seconds_ > 0 && seconds > 0) {
    const double gain = (accepted + 1) * plain_seconds_ / seconds;
    s.realized = s.passes == 0 ? gain : s.realized + (gain - s.realized) / 4;
    ++s.passes;
  }
  s.length = accepted == drafted ? std::min(options_.draft_max, s.length + 2) : std::max(1, accepted + 1);
  // Acceptance as a geometric trial count, recent passes weighing most (decay 0.8 per pass).
  s.accepted = 0.8 * s.accepted + accepted;
  s.trials = 0.8 * s.trials + accepted + (accepted < drafted ? 1 : 0);
  if (plain_seconds_ > 0) {
    const double verify_steps = std::max(0.0, seconds - drafting_seconds) / plain_seconds_;
    const double slope = std::max(0.0, (verify_steps - 1) / drafted);
    verify_slope_ = verify_slope_ < 0 ? slope : verify_slope_ + (slope - verify_slope_) / 8;
    if (draft_steps > 0) {
      const double cost = draft_step_seconds / draft_steps / plain_seconds_;
      s.draft_cost = s.draft_cost == 0 ? cost : s.draft_cost + (cost - s.draft_cost) / 4;
    }
  }
  judge(source);
  if (++drafted_passes_ >= kProbeEvery) {  // plain decoding's speed drifts with the context
    drafted_passes_ = 0;
    probe_left_ = kPlainProbe;
  }
}

double DraftController::expected_gain(DraftSource source) const {
  const SourceState& s = state(source);
  if (s.given_up) return 0;
  const double alpha = s.trials > 0 ? s.accepted / s.trials : 0;
  const double slope = std::max(0.0, verify_slope_);
  double best = 0;
  for (int k = 1; k <= std::max(1, options_.draft_max); ++k) {
    best = std::max(best, expected_tokens_per_pass(alpha, k) / (1 + slope * k + s.draft_cost * k));
  }
  return best;
}

void DraftController::judge(DraftSource source) {
  SourceState& s = state(source);
  // The realized gain is judged over a few passes: one pass's timing is noisy.
  const bool realized_loss = s.passes >= 3 && s.realized < 1;
  // Before any verification was timed it counts as one step: a draft model that keeps proposing
  // nothing (p_min) is judged by its own forward passes alone.
  if (expected_gain(source) >= 1 && !realized_loss) return;
  s.passes = 0;
  if (source == DraftSource::Model) {
    s.given_up = true;
    return;
  }
  s.paused_for = s.pause;
  s.pause = std::min(kLongestPause, s.pause * 4);
  s.length = 1;  // the next try risks one token's verification only
}

Speculator::Speculator(const SpeculativeOptions& options, DraftModel* draft_model, DraftController& controller,
                       const SamplingOptions& sampling)
    : options_(options), draft_model_(draft_model),
      sampler_([&] {
        SamplingOptions draft_sampling = sampling;
        // A seeded run stays reproducible; the draft's draws differ from the target's.
        if (draft_sampling.seed != 0) draft_sampling.seed ^= 0x9e3779b97f4a7c15ULL;
        return draft_sampling;
      }()),
      controller_(&controller) {}

Draft Speculator::draft(std::span<const TokenId> sequence, int room, ops::ThreadPool& pool) {
  const auto start = std::chrono::steady_clock::now();
  Draft draft;
  source_.reset();
  if (room <= 0) return draft;
  if (options_.lookup > 0) {
    if (const int length = std::min(room, controller_->next_length(DraftSource::Lookup)); length > 0) {
      draft.tokens = lookup_draft(sequence, options_.lookup, length, Speculator::kLookupMinNgram);
      if (!draft.tokens.empty()) source_ = DraftSource::Lookup;
    }
  }
  if (draft.tokens.empty() && draft_model_) {
    if (const int length = std::min(room, controller_->next_length(DraftSource::Model)); length > 0) {
      draft = draft_model_->propose(sequence, length, options_.draft_p_min, sampler_, pool);
      source_ = DraftSource::Model;
    }
  }
  drafting_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  draft_steps_ = draft.model_steps;
  draft_step_seconds_ = draft.model_step_seconds;
  return draft;
}

void Speculator::record(int drafted, int accepted, int /*emitted*/, double seconds) {
  if (drafted > 0 && source_) {
    controller_->record(*source_, drafted, accepted, seconds, drafting_seconds_, draft_steps_, draft_step_seconds_);
  } else {
    controller_->record_plain(seconds, drafting_seconds_, draft_steps_, draft_step_seconds_);
  }
}

}  // namespace bantam
