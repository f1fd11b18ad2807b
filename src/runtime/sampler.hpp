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

 private:
  std::vector<Candidate> penalized(std::span<const float> logits, std::span<const TokenId> history) const;

  SamplingOptions options_;
  std::mt19937_64 rng_;
};

// log-softmax of one logit and the entropy of softmax(logits).
SampledToken score_token(std::span<const float> logits, TokenId id);

}  // namespace bantam
