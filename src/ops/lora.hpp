// The low-rank term of a LoRA-adapted matrix product, kept beside the base product (never merged):
// y += scale * B (A x), computed as t = A x (rank values per token), then B t, in the stored types of
// A and B through ops::matmul, so activations are rounded as ggml rounds them for those types.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ops/matmul.hpp"
#include "ops/thread_pool.hpp"

namespace bantam::ops {

struct LoraTerm {
  Matrix a;     // rank rows of the base matrix's input width
  Matrix b;     // the base matrix's output rows, each `rank` long
  float scale;  // user scale * alpha / rank
};

// Intermediate rows, reused across calls.
struct LoraScratch {
  std::vector<float> low_rank, delta;
};

// For every term and token t: y[t * y_stride + i] += term.scale * (B (A x_t))[i], x_t being the
// row of a.cols floats at x + t * a.cols. The terms are added one after another.
void add_lora(std::span<const LoraTerm> terms, const float* x, int64_t n_tokens, float* y, int64_t y_stride,
              LoraScratch& scratch, ThreadPool& pool);

}  // namespace bantam::ops
