// AdamW (Loshchilov & Hutter) over the trainable parameters as flat F32 spans, with F32 moments:
// m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)
// + lr wd p (decay decoupled from the gradient). The gradient g is the accumulated gradient times
// `grad_scale` (1 / tokens scored since the last update, so the update follows the mean loss
// whatever the batch and accumulation split).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace bantam::train {

struct AdamWOptions {
  float lr = 2e-4f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;  // LoRA adapters start at B = 0: no pull back needed by default
};

class AdamW {
 public:
  // One pair of moments per parameter span, of these sizes, zeroed.
  AdamW(const std::vector<size_t>& span_sizes, AdamWOptions options);

  // One update of every span; params[i] and grads[i] have span_sizes[i] elements (Error if not).
  void step(std::span<const std::span<float>> params, std::span<const std::span<const float>> grads,
            float grad_scale);

  int64_t steps() const { return steps_; }
  const AdamWOptions& options() const { return options_; }
  // The moments, for checkpoints: first (m) and second (v) per span.
  std::vector<std::vector<float>>& first_moments() { return m_; }
  std::vector<std::vector<float>>& second_moments() { return v_; }
  const std::vector<std::vector<float>>& first_moments() const { return m_; }
  const std::vector<std::vector<float>>& second_moments() const { return v_; }
  void set_steps(int64_t steps) { steps_ = steps; }

 private:
  AdamWOptions options_;
  std::vector<std::vector<float>> m_, v_;
  int64_t steps_ = 0;
};

}  // namespace bantam::train
