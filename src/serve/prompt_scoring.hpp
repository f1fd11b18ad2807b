// The log-probability of each prompt token given the ones before it, for /v1/completions with
// echo and logprobs (how lm-evaluation-harness scores continuations). The scheduler's slots keep
// only the last position's logits, so the prompt runs through a session of its own; one scoring
// at a time, so many of them do not oversubscribe the cores the scheduler computes on.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "bantam/bantam.hpp"
#include "runtime/generation.hpp"

namespace bantam::serve {

struct ScoredToken {
  TokenId id = -1;
  std::optional<float> logprob;    // none for the first token: nothing comes before it
  std::vector<TokenLogprob> top;   // the `top` most likely tokens at its position, best first
};

std::vector<ScoredToken> score_prompt(const std::shared_ptr<const Model>& model, std::span<const TokenId> prompt,
                                      int top, int threads);

}  // namespace bantam::serve
