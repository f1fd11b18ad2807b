#include "runtime/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include <fmt/format.h>

namespace bantam {

namespace {

void softmax(std::vector<Sampler::Candidate>& candidates) {
  const float max_logit = candidates.front().logit;  // sorted descending
  double sum = 0.0;
  for (auto& c : candidates) {
    c.p = std::exp(c.logit - max_logit);
    sum += c.p;
  }
  for (auto& c : candidates) c.p = static_cast<float>(c.p / sum);
}

void sort_descending(std::vector<Sampler::Candidate>& candidates) {
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const auto& a, const auto& b) { return a.logit > b.logit; });
}

}  // namespace

SampledToken score_token(std::span<const float> logits, TokenId id) {
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  double weighted = 0.0;  // sum of e^(l - max) * (l - max)
  for (float l : logits) {
    const double shifted = static_cast<double>(l) - max_logit;
    const double e = std::exp(shifted);
    sum += e;
    weighted += e * shifted;
  }
  const double log_sum = std::log(sum);
  SampledToken result;
  result.id = id;
  result.logprob = static_cast<float>(static_cast<double>(logits[id]) - max_logit - log_sum);
  result.entropy = static_cast<float>(log_sum - weighted / sum);
  return result;
}

Sampler::Sampler(const SamplingOptions& options)
    : options_(options), rng_(options.seed != 0 ? options.seed : std::random_device{}()) {}

std::vector<Sampler::Candidate> Sampler::penalized(std::span<const float> logits,
                                                   std::span<const TokenId> history) const {
  std::vector<Candidate> candidates(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) candidates[i] = {static_cast<TokenId>(i), logits[i], 0.0f};
  const bool penalize = options_.repeat_penalty != 1.0f || options_.frequency_penalty != 0.0f ||
                        options_.presence_penalty != 0.0f;
  if (!penalize || options_.penalty_last_n == 0) return candidates;
  const size_t window = options_.penalty_last_n < 0 ? history.size()
                                                    : std::min<size_t>(history.size(), options_.penalty_last_n);
  std::unordered_map<TokenId, int> counts;
  for (TokenId id : history.subspan(history.size() - window)) ++counts[id];
  for (const auto& [id, count] : counts) {
    if (id < 0 || static_cast<size_t>(id) >= candidates.size()) continue;
    float& logit = candidates[id].logit;
    // Divide positive logits and multiply negative ones, so the penalty always lowers them.
    logit = logit > 0 ? logit / options_.repeat_penalty : logit * options_.repeat_penalty;
    logit -= static_cast<float>(count) * options_.frequency_penalty + options_.presence_penalty;
  }
  return candidates;
}

std::vector<Sampler::Candidate> Sampler::distribution(std::span<const float> logits,
                                                      std::span<const TokenId> history) const {
  std::vector<Candidate> candidates = penalized(logits, history);
  if (options_.temperature <= 0.0f) {
    // Greedy: the highest logit, the lowest id among equals.
    const auto best = std::max_element(candidates.begin(), candidates.end(),
                                       [](const auto& a, const auto& b) { return a.logit < b.logit; });
    return {{best->id, best->logit, 1.0f}};
  }
  if (options_.top_k > 0 && static_cast<size_t>(options_.top_k) < candidates.size()) {
    std::partial_sort(candidates.begin(), candidates.begin() + options_.top_k, candidates.end(),
                      [](const auto& a, const auto& b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); });
    candidates.resize(options_.top_k);
  } else {
    sort_descending(candidates);
  }
  if (options_.top_p < 1.0f) {
    softmax(candidates);
    float cumulative = 0.0f;
    size_t keep = candidates.size();
    for (size_t i = 0; i < candidates.size(); ++i) {
      cumulative += candidates[i].p;
      if (cumulative >= options_.top_p) {
        keep = i + 1;
        break;
      }
    }
    candidates.resize(keep);
  }
  if (options_.min_p > 0.0f) {
    // p_i >= min_p * p_max  <=>  logit_i >= logit_max + log(min_p)
    const float threshold = candidates.front().logit + std::log(options_.min_p);
    size_t keep = 1;
    while (keep < candidates.size() && candidates[keep].logit >= threshold) ++keep;
    candidates.resize(keep);
  }
  for (auto& c : candidates) c.logit /= options_.temperature;
  softmax(candidates);
  return candidates;
}

double Sampler::uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

TokenId Sampler::draw(std::span<const Candidate> candidates) {
  if (candidates.size() == 1) return candidates.front().id;
  // Walk the cumulative distribution.
  const double u = uniform();
  double cumulative = 0.0;
  for (const auto& c : candidates) {
    cumulative += c.p;
    if (u < cumulative) return c.id;
  }
  return candidates.back().id;
}

SampledToken Sampler::sample(std::span<const float> logits, std::span<const TokenId> history) {
  return score_token(logits, draw(distribution(logits, history)));
}

SampledToken Sampler::sample_against_draft(std::span<const float> logits, std::span<const TokenId> history,
                                           TokenId draft, std::span<const Candidate> draft_distribution) {
  // A certain draft (q = 1 at the draft): kept with probability p(draft), else a draw from p
  // without it, which is what one plain draw gives. Drawing it so keeps a seeded run's tokens
  // those of plain decoding.
  if (draft_distribution.empty()) return sample(logits, history);
  std::vector<Candidate> target = distribution(logits, history);
  const auto q_of = [&](TokenId id) -> double {
    for (const Candidate& c : draft_distribution) {
      if (c.id == id) return c.p;
    }
    return 0.0;
  };
  double p_draft = 0.0;
  for (const Candidate& c : target) {
    if (c.id == draft) p_draft = c.p;
  }
  const double q_draft = q_of(draft);
  // Certain outcomes draw no random number, so greedy decoding stays free of the generator.
  if (p_draft > 0.0 && (p_draft >= q_draft || uniform() * q_draft < p_draft)) return score_token(logits, draft);
  // Rejected: the residual max(0, p - q), normalized. It is zero at the draft (p < q there).
  double total = 0.0;
  for (Candidate& c : target) {
    c.p = static_cast<float>(std::max(0.0, static_cast<double>(c.p) - q_of(c.id)));
    total += c.p;
  }
  std::erase_if(target, [](const Candidate& c) { return c.p <= 0.0f; });
  if (target.empty() || total <= 0.0) return sample(logits, history);  // rounding left nothing: p itself
  for (Candidate& c : target) c.p = static_cast<float>(c.p / total);
  return score_token(logits, draw(target));
}

}  // namespace bantam
