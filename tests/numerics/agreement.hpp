// Comparing bantam's logits with the float64 reference's, position by position: mean KL
// divergence, largest logit error relative to the largest logit, top-1 agreement.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace bantam::test {

inline std::vector<double> log_softmax(const std::vector<double>& logits) {
  const double max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (double v : logits) sum += std::exp(v - max);
  const double log_sum = max + std::log(sum);
  std::vector<double> out(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = logits[i] - log_sum;
  return out;
}

// The reference's distribution at one position, computed once for every comparison.
struct ReferencePosition {
  std::vector<double> logits, log_probs, probs;
  int64_t top1 = 0;

  explicit ReferencePosition(std::vector<double> ref) : logits(std::move(ref)), log_probs(log_softmax(logits)) {
    for (double lp : log_probs) probs.push_back(std::exp(lp));
    top1 = std::max_element(logits.begin(), logits.end()) - logits.begin();
  }
};

// Running comparison of bantam's logits with the reference's over scored positions.
struct Agreement {
  double kld_sum = 0;
  double max_relative = 0;  // max over positions of max|bantam - ref| / max|ref|
  int64_t same_top1 = 0;
  int64_t positions = 0;

  void add(const ReferencePosition& ref, const float* got) {
    const size_t n = ref.logits.size();
    const std::vector<double> got_d(got, got + n);
    const std::vector<double> got_lp = log_softmax(got_d);
    double kld = 0, diff = 0, scale = 0;
    for (size_t i = 0; i < n; ++i) {
      kld += ref.probs[i] * (ref.log_probs[i] - got_lp[i]);
      diff = std::max(diff, std::abs(got_d[i] - ref.logits[i]));
      scale = std::max(scale, std::abs(ref.logits[i]));
    }
    kld_sum += kld;
    max_relative = std::max(max_relative, diff / scale);
    same_top1 += std::max_element(got_d.begin(), got_d.end()) - got_d.begin() == ref.top1;
    ++positions;
  }
  double mean_kld() const { return kld_sum / static_cast<double>(positions); }
  double top1() const { return static_cast<double>(same_top1) / static_cast<double>(positions); }
  std::string summary() const {
    return fmt::format("mean KLD {:.3e}, max relative logit error {:.3e}, top-1 {:.2f}% over {} positions",
                       mean_kld(), max_relative, 100 * top1(), positions);
  }
};

}  // namespace bantam::test
