// Picks the next token from logits: penalties, then greedy or top-k -> top-p -> min-p ->
// temperature -> a draw from a seeded generator (llama.cpp's default order). Every choice also
// reports its log-probability and the entropy of the model's own distribution.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "bantam/bantam.hpp"

namespace bantam {

struct SampledToken {
  TokenId id = -1;
  float logprob = 0.0f;  // log p(id) under softmax(logits), before penalties and filtering
  float entropy = 0.0f;  // of softmax(logits), in nats
};

class Sampler {
 public:
  explicit Sampler(const SamplingOptions& options);

  // history: the tokens so far (penalties look at the last penalty_last_n of them).
  SampledToken sample(std::span<const float> logits, std::span<const TokenId> history);

  // The distribution the draw would use for these logits (ids with non-zero probability, in
  // descending probability); exposed for tests and for clients that show alternatives.
  struct Candidate {
    TokenId id;
    float logit;
    float p;
  };
  std::vector<Candidate> distribution(std::span<const float> logits, std::span<const TokenId> history) const;

  // One draw from a distribution() result (no random number for a single candidate).
  TokenId draw(std::span<const Candidate> candidates);

  // Speculative sampling (Leviathan et al. 2023, Chen et al. 2023): `draft` was proposed with
  // the probabilities `draft_distribution` (empty: with certainty, as prompt lookup and greedy
  // drafts are). Keeps it with probability min(1, p(draft) / q(draft)), else draws from the
  // normalized max(0, p - q); either way the result is distributed as sample()'s would be.
  // The result is `draft` exactly when it was accepted. A certain draft takes sample()'s draw
  // itself, so a seeded sequence stays the one plain decoding gives.
  SampledToken sample_against_draft(std::span<const float> logits, std::span<const TokenId> history, TokenId draft,
                                    std::span<const Candidate> draft_distribution);

 private:
  std::vector<Candidate> penalized(std::span<const float> logits, std::span<const TokenId> history) const;

  double uniform();  // [0, 1) from 53 random bits

  SamplingOptions options_;
  std::mt19937_64 rng_;
};

// log-softmax of one logit and the entropy of softmax(logits).
SampledToken score_token(std::span<const float> logits, TokenId id);

}  // namespace bantam
