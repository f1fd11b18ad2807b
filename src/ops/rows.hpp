// Row-wise steps over a batch of n rows of `width` floats that the decoder and the LoRA trainer's
// layer pass both take, so inference and training normalize and add biases the same way.
#pragma once

#include <cstdint>

#include "ops/ops.hpp"
#include "ops/thread_pool.hpp"

namespace bantam::ops {

// rms_norm over each of n rows.
inline void rms_norm_rows(const float* x, const float* weight, float* y, int64_t n, int64_t width, float eps,
                          ThreadPool& pool) {
  pool.parallel_for(n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) rms_norm(x + t * width, weight, y + t * width, width, eps);
  });
}

// y[t] += bias for each of n rows; nothing when the tensor has no bias.
inline void add_bias_rows(float* y, const float* bias, int64_t n, int64_t width) {
  if (!bias) return;
  for (int64_t t = 0; t < n; ++t) add_inplace(y + t * width, bias, width);
}

}  // namespace bantam::ops
