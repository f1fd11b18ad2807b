#include "quant/scale_search.hpp"

#include <algorithm>
#include <cmath>

#include "quant/blocks.hpp"

namespace bantam::quant {
namespace {

// Below this a group is treated as all zeros.
constexpr float kTinyGroup = 1e-15f;

int clamp_level(int l, int lo, int hi) { return std::max(lo, std::min(hi, l)); }

// Signed value of largest magnitude.
float signed_absmax(int n, const float* x, float& amax) {
  float max = 0;
  amax = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  return max;
}

}  // namespace

float search_affine(const AffineSearch& p, int n, const float* x, const float* weights, uint8_t* L,
                    float& min_out) {
  float lo = x[0], hi = x[0], sum_w = 0, sum_wx = 0;
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    sum_w += weights[i];
    sum_wx += weights[i] * x[i];
  }
  lo = std::min(lo, 0.0f);  // the offset only ever shifts up: mins are stored as non-negative
  if (hi == lo) {
    std::fill(L, L + n, uint8_t{0});
    min_out = -lo;
    return 0;
  }
  const auto error_of = [&](float scale, float offset, const uint8_t* levels) {
    float err = 0;
    for (int i = 0; i < n; ++i) {
      const float diff = scale * levels[i] + offset - x[i];
      err += weights[i] * (p.abs_error ? std::fabs(diff) : diff * diff);
    }
    return err;
  };

  float inv = static_cast<float>(p.nmax) / (hi - lo);
  float best_scale = 1 / inv, best_offset = lo;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(clamp_level(nearest_int(inv * (x[i] - lo)), 0, p.nmax));
  }
  float best_error = error_of(best_scale, best_offset, L);

  uint8_t trial[kQK_K];
  for (int step = 0; step <= p.steps; ++step) {
    inv = (p.rmin + p.rdelta * static_cast<float>(step) + static_cast<float>(p.nmax)) / (hi - lo);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_level(nearest_int(inv * (x[i] - lo)), 0, p.nmax);
      trial[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      sum_l += w * static_cast<float>(l);
      sum_l2 += w * static_cast<float>(l) * static_cast<float>(l);
      sum_xl += w * static_cast<float>(l) * x[i];
    }
    // Weighted least squares for x ≈ scale * l + offset with these levels.
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det <= 0) continue;
    float scale = (sum_w * sum_xl - sum_wx * sum_l) / det;
    float offset = (sum_l2 * sum_wx - sum_l * sum_xl) / det;
    if (offset > 0) {  // a positive offset cannot be stored: refit the scale alone
      offset = 0;
      scale = sum_xl / sum_l2;
    }
    const float err = error_of(scale, offset, trial);
    if (err < best_error) {
      std::copy(trial, trial + n, L);
      best_error = err;
      best_scale = scale;
      best_offset = offset;
    }
  }
  min_out = -best_offset;
  return best_scale;
}

float search_symmetric(int n, int nmax, const float* x, int8_t* L) {
  float amax;
  const float max = signed_absmax(n, x, amax);
  if (amax < kTinyGroup) {
    std::fill(L, L + n, int8_t{0});
    return 0;
  }
  // Projection of x on the levels from inverse scale `inv`: sums for the optimal scale.
  const auto fit = [&](float inv, float& sum_lx, float& sum_l2) {
    sum_lx = 0;
    sum_l2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_level(nearest_int(inv * x[i]), -nmax, nmax - 1);
      const float w = x[i] * x[i];
      sum_lx += w * x[i] * static_cast<float>(l);
      sum_l2 += w * static_cast<float>(l) * static_cast<float>(l);
    }
  };
  const auto store = [&](float inv) {
    for (int i = 0; i < n; ++i) {
      L[i] = static_cast<int8_t>(nmax + clamp_level(nearest_int(inv * x[i]), -nmax, nmax - 1));
    }
  };
  float inv = static_cast<float>(-nmax) / max;
  float sum_lx, sum_l2;
  fit(inv, sum_lx, sum_l2);
  store(inv);
  float scale = sum_l2 != 0 ? sum_lx / sum_l2 : 0.0f;
  float best = scale * sum_lx;  // error reduction achieved; larger is better
  for (int k = -9; k <= 9; ++k) {
    if (k == 0) continue;
    inv = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(k)) / max;
    fit(inv, sum_lx, sum_l2);
    if (sum_l2 > 0 && sum_lx * sum_lx > best * sum_l2) {
      store(inv);
      scale = sum_lx / sum_l2;
      best = scale * sum_lx;
    }
  }
  return scale;
}

float search_symmetric_refine(int n, int nmax, const float* x, int8_t* L) {
  float amax;
  const float max = signed_absmax(n, x, amax);
  if (amax < kTinyGroup) {
    std::fill(L, L + n, int8_t{0});
    return 0;
  }
  const float inv = static_cast<float>(-nmax) / max;
  float sum_lx = 0, sum_l2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = clamp_level(nearest_int(inv * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sum_lx += w * x[i] * static_cast<float>(l);
    sum_l2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  // Move single levels to their best value given the others while that improves the fit
  // (sum_lx^2 / sum_l2 is the error reduction of the optimal scale).
  for (int pass = 0; pass < 5; ++pass) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      const float lx_rest = sum_lx - w * x[i] * static_cast<float>(L[i]);
      if (lx_rest <= 0) continue;
      const float l2_rest = sum_l2 - w * static_cast<float>(L[i]) * static_cast<float>(L[i]);
      const int l = clamp_level(nearest_int(x[i] * l2_rest / lx_rest), -nmax, nmax - 1);
      if (l == L[i]) continue;
      const float lx_new = lx_rest + w * x[i] * static_cast<float>(l);
      const float l2_new = l2_rest + w * static_cast<float>(l) * static_cast<float>(l);
      if (l2_new > 0 && lx_new * lx_new * sum_l2 > sum_lx * sum_lx * l2_new) {
        L[i] = static_cast<int8_t>(l);
        sum_lx = lx_new;
        sum_l2 = l2_new;
        ++changed;
      }
    }
    if (changed == 0) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return sum_l2 > 0 ? sum_lx / sum_l2 : 0.0f;
}

}  // namespace bantam::quant
