// Speculative decoding's drafting side: prompt lookup (n-grams of the sequence itself), a draft
// model with a cache of its own, and the controller that sizes each draft from the recent
// acceptance rate and pauses speculation when it does not pay. Verification is the caller's:
// the target evaluates [next token, drafts...] in one forward pass and steps its Generation with
// step_with_draft over the logits of every position (Session, Scheduler).
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <vector>

#include "bantam/bantam.hpp"
#include "model/decoder.hpp"
#include "model/kv_cache.hpp"
#include "runtime/sampler.hpp"

namespace bantam {

// Drafted tokens and, per token, the distribution it was drawn from (empty: proposed with
// certainty, as lookup and greedy drafts are).
struct Draft {
  std::vector<TokenId> tokens;
  std::vector<std::vector<Sampler::Candidate>> distributions;
  std::span<const Sampler::Candidate> distribution(size_t i) const {
    return i < distributions.size() ? std::span<const Sampler::Candidate>(distributions[i])
                                    : std::span<const Sampler::Candidate>();
  }
};

// Prompt lookup: the tokens that followed the latest earlier occurrence of the sequence's last
// n tokens, for the longest n <= max_ngram that occurs. Empty when none does.
std::vector<TokenId> lookup_draft(std::span<const TokenId> sequence, int max_ngram, int max_tokens);

// Error when `draft` cannot draft for `target`: a different vocabulary (size or any token's text).
void check_draft_vocabulary(const Model& target, const Model& draft);

// A draft model following one sequence: its own KV cache, reusing the prefix it shares with the
// sequence it is asked to continue.
class DraftModel {
 public:
  // Error when its vocabulary differs from the target's or its cache does not fit in memory.
  DraftModel(const Model& target, std::shared_ptr<const Model> model, int64_t context, int max_batch,
             KvCacheTypes kv_types);
  ~DraftModel();
  // Up to max_tokens tokens continuing `sequence`, each drawn by `sampler` (set up as the
  // target's: greedy when it is greedy), stopping before a token whose probability is below p_min.
  Draft propose(std::span<const TokenId> sequence, int max_tokens, float p_min, Sampler& sampler,
                ops::ThreadPool& pool);
  size_t kv_cache_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Decides each pass's draft length: starts at 4 tokens; after a pass whose drafts were all
// accepted it grows by two, otherwise it becomes the accepted count plus one. Plain steps at the
// start (and every 64 passes) measure plain decoding; speculation pauses (for a number of tokens
// that grows fourfold each time, from 32 up to 2048) when its measured seconds per emitted token
// exceed 0.97 of plain decoding's, after one pass when they exceed 1.5 times, so it stays within a
// few percent of plain decoding when drafts are poor. The controller outlives one generation (a
// session keeps its verdict across chat turns). With adaptive off the length is always draft_max.
class DraftController {
 public:
  explicit DraftController(const SpeculativeOptions& options);
  // Tokens to draft for the next pass (0: a plain step).
  int next_length();
  // A finished pass: `drafting` when next_length() asked for drafts (false: a plain step),
  // `drafted` tokens proposed, `accepted` kept, `emitted` tokens produced by the pass, taking
  // `seconds` (drafting and verifying).
  void record(bool drafting, int drafted, int accepted, int emitted, double seconds);

 private:
  static constexpr int kPlainProbe = 2;  // plain steps that measure plain decoding's speed
  static constexpr int kFirstPause = 32, kLongestPause = 2048;  // plain steps while paused

  SpeculativeOptions options_;
  int length_ = 4;
  double plain_seconds_ = 0;  // moving averages, seconds per emitted token
  double spec_seconds_ = 0;
  int spec_passes_ = 0;
  int paused_for_ = 0;  // plain steps left before speculation is tried again
  int pause_ = kFirstPause;
};

// One generation's speculation: the options, the draft model (if any; owned by the caller, whose
// cache it keeps between generations), the draft's sampler and the controller.
class Speculator {
 public:
  Speculator(const SpeculativeOptions& options, DraftModel* draft_model, DraftController& controller,
             const SamplingOptions& sampling);
  // Drafts for the sequence (cached tokens, then the token to evaluate next), at most `room`:
  // prompt lookup first, the draft model where lookup finds nothing.
  Draft draft(std::span<const TokenId> sequence, int room, ops::ThreadPool& pool);
  void record(int drafted, int accepted, int emitted, double seconds) {
    controller_->record(drafting_, drafted, accepted, emitted, seconds);
  }

 private:
  SpeculativeOptions options_;
  DraftModel* draft_model_;
  Sampler sampler_;
  DraftController* controller_;
  bool drafting_ = false;  // the last draft() asked for drafts (whatever it found)
};

}  // namespace bantam
