#include "train/chunked_loss.hpp"

#include <algorithm>
#include <cmath>

#include "train/grad_ops.hpp"

namespace bantam::train {

namespace {

// Rows [first, first + n) of `w`: a view, the rows stay where they are.
ops::Matrix row_range(const ops::Matrix& w, int64_t first, int64_t n) {
  ops::Matrix view = w;
  view.data = w.row(first);
  view.rows = n;
  return view;
}

// The logits of rows [first, first + n) of the head for every token, soft-capped.
void chunk_logits(const OutputHead& head, const float* hidden, int64_t n_tokens, int64_t first, int64_t n,
                  float* logits, ops::ThreadPool& pool) {
  ops::matmul(row_range(*head.weight, first, n), hidden, n_tokens, logits, n, pool);
  if (head.final_softcap > 0) ops::softcap(logits, n_tokens * n, head.final_softcap);
}

}  // namespace

double output_head_loss(const OutputHead& head, const float* hidden, std::span<const int32_t> targets,
                        float* dhidden, std::vector<float>& logits, ops::ThreadPool& pool) {
  const int64_t n_tokens = static_cast<int64_t>(targets.size());
  const int64_t n_vocab = head.weight->rows;
  const int64_t chunk = std::min(std::max<int64_t>(1, head.vocab_chunk), n_vocab);
  if (n_tokens == 0) return 0.0;
  logits.resize(static_cast<size_t>(n_tokens * chunk));

  // Pass 1: a running maximum and sum of exponentials per token (online log-sum-exp).
  std::vector<double> max_logit(static_cast<size_t>(n_tokens), -INFINITY), sum_exp(static_cast<size_t>(n_tokens), 0.0);
  std::vector<double> target_logit(static_cast<size_t>(n_tokens), 0.0);
  for (int64_t first = 0; first < n_vocab; first += chunk) {
    const int64_t n = std::min(chunk, n_vocab - first);
    chunk_logits(head, hidden, n_tokens, first, n, logits.data(), pool);
    pool.parallel_for(n_tokens, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const float* row = logits.data() + t * n;
        const double chunk_max = *std::max_element(row, row + n);
        double& m = max_logit[t];
        if (chunk_max > m) {
          sum_exp[t] *= std::exp(m - chunk_max);
          m = chunk_max;
        }
        double s = 0;
        for (int64_t v = 0; v < n; ++v) s += std::exp(static_cast<double>(row[v]) - m);
        sum_exp[t] += s;
        const int64_t target = targets[static_cast<size_t>(t)];
        if (target >= first && target < first + n) target_logit[t] = row[target - first];
      }
    });
  }
  std::vector<double> log_sum_exp(static_cast<size_t>(n_tokens));
  double loss = 0;
  for (int64_t t = 0; t < n_tokens; ++t) {
    log_sum_exp[t] = max_logit[t] + std::log(sum_exp[t]);
    loss += log_sum_exp[t] - target_logit[t];
  }
  if (!dhidden) return loss;

  // Pass 2: d loss / d logit = softmax - one-hot, through the cap, then back through the head.
  for (int64_t first = 0; first < n_vocab; first += chunk) {
    const int64_t n = std::min(chunk, n_vocab - first);
    chunk_logits(head, hidden, n_tokens, first, n, logits.data(), pool);
    pool.parallel_for(n_tokens, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        float* row = logits.data() + t * n;
        for (int64_t v = 0; v < n; ++v) {
          const float capped = row[v];
          float grad = static_cast<float>(std::exp(static_cast<double>(capped) - log_sum_exp[t]));
          if (first + v == targets[static_cast<size_t>(t)]) grad -= 1.0f;
          if (head.final_softcap > 0) {
            const float u = capped / head.final_softcap;
            grad *= 1.0f - u * u;
          }
          row[v] = grad;
        }
      }
    });
    matmul_transposed_add(row_range(*head.weight, first, n), logits.data(), n, n_tokens, dhidden,
                          head.weight->cols, pool);
  }
  return loss;
}

}  // namespace bantam::train
