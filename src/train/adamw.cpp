#include "train/adamw.hpp"

#include <cmath>

#include <fmt/format.h>

#include "bantam/error.hpp"

namespace bantam::train {

AdamW::AdamW(const std::vector<size_t>& span_sizes, AdamWOptions options) : options_(options) {
  if (!(options.lr > 0) || !std::isfinite(options.lr)) throw Error(fmt::format("learning rate {} must be above 0", options.lr));
  m_.reserve(span_sizes.size());
  v_.reserve(span_sizes.size());
  for (const size_t size : span_sizes) {
    m_.emplace_back(size, 0.0f);
    v_.emplace_back(size, 0.0f);
  }
}

void AdamW::step(std::span<const std::span<float>> params, std::span<const std::span<const float>> grads,
                 float grad_scale) {
  if (params.size() != m_.size() || grads.size() != m_.size()) {
    throw Error(fmt::format("AdamW: {} parameter and {} gradient spans for {} moment pairs", params.size(),
                            grads.size(), m_.size()));
  }
  ++steps_;
  const AdamWOptions& o = options_;
  // Bias corrections in double: at large step counts pow() in float loses the last bits.
  const auto correction1 = static_cast<float>(1.0 - std::pow(static_cast<double>(o.beta1), static_cast<double>(steps_)));
  const auto correction2 = static_cast<float>(1.0 - std::pow(static_cast<double>(o.beta2), static_cast<double>(steps_)));
  const float step_size = o.lr / correction1;
  const float decay = 1.0f - o.lr * o.weight_decay;
  for (size_t s = 0; s < m_.size(); ++s) {
    std::span<float> p = params[s];
    std::span<const float> g = grads[s];
    std::vector<float>& m = m_[s];
    std::vector<float>& v = v_[s];
    if (p.size() != m.size() || g.size() != m.size()) {
      throw Error(fmt::format("AdamW: span {} has {} values and {} gradients, expected {}", s, p.size(), g.size(),
                              m.size()));
    }
    for (size_t i = 0; i < m.size(); ++i) {
      const float gi = g[i] * grad_scale;
      m[i] = o.beta1 * m[i] + (1.0f - o.beta1) * gi;
      v[i] = o.beta2 * v[i] + (1.0f - o.beta2) * gi * gi;
      const float denominator = std::sqrt(v[i] / correction2) + o.eps;
      p[i] = p[i] * decay - step_size * m[i] / denominator;
    }
  }
}

}  // namespace bantam::train
