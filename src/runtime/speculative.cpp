#include "runtime/speculative.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "api/model_impl.hpp"
#include "runtime/memory_plan.hpp"

namespace bantam {

std::vector<TokenId> lookup_draft(std::span<const TokenId> sequence, int max_ngram, int max_tokens) {
  const auto size = static_cast<int64_t>(sequence.size());
  for (int64_t n = std::min<int64_t>(max_ngram, size - 1); n >= 1; --n) {
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

struct DraftModel::Impl {
  std::shared_ptr<const Model> model;
  const Model::Impl& m;
  KvCache cache;
  Decoder decoder;
  ForwardBuffers buffers;
  std::vector<TokenId> tokens;  // in the cache
  int64_t written_end = 0;      // positions written, rejected drafts included
  std::vector<float> logits;    // after tokens.back()
  int max_batch;

  Impl(std::shared_ptr<const Model> model_in, int64_t context, int batch, KvCacheTypes kv_types)
      : model(std::move(model_in)), m(model->impl()), cache(m.config, context, batch, kv_row_types(m.config, kv_types)),
        decoder(m.config, m.weights), max_batch(batch) {}

  void append(std::span<const TokenId> input, ops::ThreadPool& pool) {
    for (size_t begin = 0; begin < input.size(); begin += static_cast<size_t>(max_batch)) {
      const auto chunk = input.subspan(begin, std::min(static_cast<size_t>(max_batch), input.size() - begin));
      const DecodeSegment segment{chunk, static_cast<int64_t>(tokens.size()), &cache, nullptr};
      decoder.forward({&segment, 1}, buffers, pool, ForwardOutput::LastLogits, logits);
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
  int64_t keep = reusable_prefix(d.m.config, d.cache, d.tokens, sequence, d.written_end);
  if (keep == static_cast<int64_t>(sequence.size())) --keep;  // at least one token, for fresh logits
  d.tokens.resize(static_cast<size_t>(keep));
  d.append(sequence.subspan(static_cast<size_t>(keep)), pool);
  std::vector<TokenId> history(sequence.begin(), sequence.end());
  for (int i = 0; i < max_tokens; ++i) {
    if (i > 0) d.append(std::span(&draft.tokens.back(), 1), pool);
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

DraftController::DraftController(const SpeculativeOptions& options)
    : options_(options), length_(std::clamp(4, 1, std::max(1, options.draft_max))), paused_for_(kPlainProbe) {}

int DraftController::next_length() {
  if (!options_.adaptive) return options_.draft_max;
  if (paused_for_ > 0) {
    --paused_for_;
    return 0;
  }
  return length_;
}

void DraftController::record(bool drafting, int drafted, int accepted, int emitted, double seconds) {
  if (!options_.adaptive || emitted <= 0) return;
  const double per_token = seconds / emitted;
  // Moving averages over about the last eight passes of each kind.
  const auto average = [](double& mean, double x) { mean = mean == 0 ? x : mean + (x - mean) / 8; };
  if (!drafting) {
    average(plain_seconds_, per_token);
    return;
  }
  // A try that drafted nothing still cost the drafting (a draft model's steps): it counts.
  average(spec_seconds_, per_token);
  ++spec_passes_;
  if (drafted > 0) {
    length_ = accepted == drafted ? std::min(options_.draft_max, length_ + 2) : std::max(1, accepted + 1);
  }
  // Judged against plain steps measured in the same run: at once when a pass costs far more per
  // token (drafts that do not pay cost several steps each), else over a few passes.
  const bool losing = plain_seconds_ > 0 && spec_seconds_ > 0.97 * plain_seconds_;
  if (losing && (spec_passes_ >= 4 || spec_seconds_ > 1.5 * plain_seconds_)) {
    paused_for_ = pause_;
    pause_ = std::min(kLongestPause, pause_ * 4);
    spec_passes_ = 0;
    spec_seconds_ = 0;
    length_ = 1;  // the next try risks one token's verification only
    return;
  }
  if (spec_passes_ >= 4 && plain_seconds_ > 0 && spec_seconds_ < 0.8 * plain_seconds_) {
    pause_ = kFirstPause;  // paying well: a later bad stretch pauses briefly
  }
  if (spec_passes_ >= 64) {  // plain decoding's speed drifts with the context: measure it again
    paused_for_ = kPlainProbe;
    spec_passes_ = 0;
  }
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
  Draft draft;
  const int length = std::min(room, controller_->next_length());
  drafting_ = length > 0;
  if (!drafting_) return draft;
  if (options_.lookup > 0) draft.tokens = lookup_draft(sequence, options_.lookup, length);
  if (draft.tokens.empty() && draft_model_) {
    draft = draft_model_->propose(sequence, length, options_.draft_p_min, sampler_, pool);
  }
  return draft;
}

}  // namespace bantam
