// Cross-entropy over the output head in vocabulary chunks: a chunk's logits for every scored
// token are computed, folded into a running log-sum-exp and dropped, so a sequence's full logits
// (n_tokens x n_vocab) are never held. The gradient pass recomputes each chunk once the
// log-sum-exp is known.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ops/matmul.hpp"
#include "ops/thread_pool.hpp"

namespace bantam::train {

struct OutputHead {
  const ops::Matrix* weight = nullptr;  // n_vocab rows of n_embd, frozen, in its stored type
  float final_softcap = 0.0f;           // > 0: logits are cap * tanh(logit / cap)
  int64_t vocab_chunk = 4096;
};

// Summed -log p(target) over the rows of `hidden` (targets.size() rows of weight->cols floats).
// With dhidden non-null, also adds the summed loss's gradient with respect to `hidden` to it.
// `logits` is the chunk buffer, resized as needed.
double output_head_loss(const OutputHead& head, const float* hidden, std::span<const int32_t> targets,
                        float* dhidden, std::vector<float>& logits, ops::ThreadPool& pool);

}  // namespace bantam::train
