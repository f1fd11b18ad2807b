// Speculative decoding's drafting side: prompt lookup (n-grams of the sequence itself), a draft
// model with a cache of its own, and the controller that sizes each draft from the recent
// acceptance rate and pauses speculation when it does not pay. Verification is the caller's:
// the target evaluates [next token, drafts...] in one forward pass and steps its Generation with
// step_with_draft over the logits of every position (Session, Scheduler).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
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
  // A draft model's decode-sized forward passes (catching up on a prompt excluded) and their time.
  int model_steps = 0;
  double model_step_seconds = 0;
  std::span<const Sampler::Candidate> distribution(size_t i) const {
    return i < distributions.size() ? std::span<const Sampler::Candidate>(distributions[i])
                                    : std::span<const Sampler::Candidate>();
  }
};

// Prompt lookup: the tokens that followed the latest earlier occurrence of the sequence's last
// n tokens, for the longest n in [min_ngram, max_ngram] that occurs. Empty when none does.
std::vector<TokenId> lookup_draft(std::span<const TokenId> sequence, int max_ngram, int max_tokens,
                                  int min_ngram = 1);

// Error when `draft` cannot draft for `target`: a different vocabulary (size or any token's text).
void check_draft_vocabulary(const Model& target, const Model& draft);

// A draft model following one sequence: its own KV cache, reusing the prefix it shares with the
// sequence it is asked to continue. Behind by more than a short window (a new prompt), it
// restarts on the sequence's latest tokens instead of evaluating all of them.
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

// Where a pass's drafts come from. Each source is judged on its own: prompt lookup costs next to
// nothing to draft, a draft model costs its forward passes, and their acceptance differs.
enum class DraftSource { Lookup, Model };

// Decides each pass's draft length per source: starts at 2 tokens; after a pass whose drafts were
// all accepted it grows by two, otherwise it becomes the accepted count plus one. It keeps
// measured costs relative to one plain step: the verification of k drafts costs 1 + verify_slope*k
// steps (from passes' timings), a draft model's forward pass draft_cost steps, and each source's
// acceptance rate alpha (recent passes weigh most). A source is drafted from only while the
// expected gain, max over k of E[tokens per pass](alpha, k) / (1 + verify_slope*k + draft_cost*k),
// is at least 1, and so is the gain its recent passes realized (emitted tokens times a plain step's
// seconds over the pass's seconds: it catches the costs the model leaves out): prompt lookup pauses (32 tokens, growing fourfold up to 256: a try costs one
// verification), a draft model is given up for the controller's life (a paused draft would have
// to catch up on every token it skipped before drafting again, which costs more than it saves).
// Plain steps at the start (and every 64 passes) measure plain decoding. The controller outlives
// one generation (a session keeps its verdicts across chat turns; serve keeps one per slot). With
// adaptive off every source drafts draft_max tokens.
class DraftController {
 public:
  explicit DraftController(const SpeculativeOptions& options);
  // Tokens to draft from `source` for the next pass (0: not now). Call once per pass, before
  // drafting; `source` Model is asked only when lookup found nothing.
  int next_length(DraftSource source);
  // A pass that drafted nothing (a plain step, or no source found drafts): its seconds besides
  // the drafting attempt's measure plain decoding; a draft model's forward passes that proposed
  // nothing (`draft_steps` taking `draft_step_seconds`) count against the draft model.
  void record_plain(double seconds, double drafting_seconds = 0, int draft_steps = 0, double draft_step_seconds = 0);
  // A pass with drafts from `source`: `drafted` proposed, `accepted` kept, `emitted` tokens
  // produced, `seconds` in all; `draft_steps` forward passes of a draft model took
  // `draft_step_seconds` (prompt catch-up excluded).
  void record(DraftSource source, int drafted, int accepted, double seconds, double drafting_seconds,
              int draft_steps = 0, double draft_step_seconds = 0);
  // The gain expected from drafting with `source` now (see above); 0 once given up.
  double expected_gain(DraftSource source) const;
  bool given_up(DraftSource source) const { return state(source).given_up; }

 private:
  static constexpr int kPlainProbe = 2;  // plain steps that measure plain decoding's speed
  static constexpr int kFirstPause = 32, kLongestPause = 256;  // passes without lookup while paused
  static constexpr int kProbeEvery = 64;  // drafted passes between plain re-measurements

  struct SourceState {
    int length = 2;
    double accepted = 1, trials = 2;  // decayed counts: alpha = accepted / trials (prior 0.5)
    double draft_cost = 0;            // one draft forward pass, in plain steps
    double realized = 0;              // recent passes' plain-step time per emitted token / pass time
    int passes = 0;                   // drafted passes since the last verdict
    int paused_for = 0, pause = kFirstPause;
    bool given_up = false;
  };
  SourceState& state(DraftSource source) { return sources_[static_cast<size_t>(source)]; }
  const SourceState& state(DraftSource source) const { return sources_[static_cast<size_t>(source)]; }
  void judge(DraftSource source);

  SpeculativeOptions options_;
  SourceState sources_[2];
  double plain_seconds_ = 0;  // moving average of one plain step
  double verify_slope_ = -1;  // extra plain steps per verified draft token; < 0: not measured yet
  int probe_left_ = kPlainProbe;
  int drafted_passes_ = 0;  // since the last plain probe
};

// Expected tokens per verification pass with k drafts each accepted with probability `alpha`
// independently (Leviathan et al. 2023): (1 - alpha^(k+1)) / (1 - alpha).
double expected_tokens_per_pass(double alpha, int k);

// One generation's speculation: the options, the draft model (if any; owned by the caller, whose
// cache it keeps between generations), the draft's sampler and the controller.
class Speculator {
 public:
  // Prompt lookup matches n-grams of at least this many tokens: single-token matches drafted
  // 5-9% acceptance on stories260K, which never pays for its verification.
  static constexpr int kLookupMinNgram = 2;

  Speculator(const SpeculativeOptions& options, DraftModel* draft_model, DraftController& controller,
             const SamplingOptions& sampling);
  // Drafts for the sequence (cached tokens, then the token to evaluate next), at most `room`:
  // prompt lookup first, the draft model where lookup finds nothing.
  Draft draft(std::span<const TokenId> sequence, int room, ops::ThreadPool& pool);
  // The pass that evaluated the last draft(): `seconds` from before draft() to the end.
  void record(int drafted, int accepted, int emitted, double seconds);

 private:
  SpeculativeOptions options_;
  DraftModel* draft_model_;
  Sampler sampler_;
  DraftController* controller_;
  std::optional<DraftSource> source_;  // where the last draft() found its drafts
  double drafting_seconds_ = 0;        // the last draft()'s
  int draft_steps_ = 0;
  double draft_step_seconds_ = 0;
};

}  // namespace bantam
