#include "serve/prompt_scoring.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numeric>

namespace bantam::serve {

namespace {

// Positions evaluated per forward: their logits (n_vocab floats each) are all held at once.
constexpr size_t kScoreChunk = 64;

// log of the softmax's denominator: log p(token) = logit - this.
double log_normalizer(std::span<const float> logits) {
  const double max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<double>(l) - max);
  return max + std::log(sum);
}

std::vector<TokenLogprob> top_tokens(std::span<const float> logits, double normalizer, int count) {
  std::vector<TokenId> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  const auto k = std::min<size_t>(static_cast<size_t>(count), ids.size());
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(),
                    [&](TokenId a, TokenId b) { return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)]; });
  std::vector<TokenLogprob> top;
  for (size_t i = 0; i < k; ++i) {
    top.push_back({ids[i], static_cast<float>(logits[static_cast<size_t>(ids[i])] - normalizer)});
  }
  return top;
}

}  // namespace

std::vector<ScoredToken> score_prompt(const std::shared_ptr<const Model>& model, std::span<const TokenId> prompt,
                                      int top, int threads) {
  static std::mutex one_at_a_time;
  std::lock_guard lock(one_at_a_time);
  const auto n_vocab = static_cast<size_t>(model->info().n_vocab);
  std::vector<ScoredToken> scored(prompt.size());
  for (size_t i = 0; i < prompt.size(); ++i) scored[i].id = prompt[i];
  if (prompt.size() < 2) return scored;
  Session session(model, {.context_length = static_cast<int64_t>(prompt.size()),
                          .threads = threads,
                          .batch_size = static_cast<int>(kScoreChunk)});
  // The logits after token i score token i + 1; the last token's are not needed.
  for (size_t start = 0; start + 1 < prompt.size(); start += kScoreChunk) {
    const size_t count = std::min(kScoreChunk, prompt.size() - 1 - start);
    const std::vector<float> logits = session.evaluate(prompt.subspan(start, count));
    for (size_t j = 0; j < count; ++j) {
      const std::span<const float> row(logits.data() + j * n_vocab, n_vocab);
      const double normalizer = log_normalizer(row);
      ScoredToken& next = scored[start + j + 1];
      next.logprob = static_cast<float>(row[static_cast<size_t>(next.id)] - normalizer);
      if (top > 0) next.top = top_tokens(row, normalizer, top);
    }
  }
  return scored;
}

}  // namespace bantam::serve
