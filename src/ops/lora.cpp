#include "ops/lora.hpp"

#include "ops/ops.hpp"

namespace bantam::ops {

void add_lora(std::span<const LoraTerm> terms, const float* x, int64_t n_tokens, float* y, int64_t y_stride,
              LoraScratch& scratch, ThreadPool& pool) {
  for (const LoraTerm& term : terms) {
    const int64_t rank = term.a.rows;
    const int64_t n_out = term.b.rows;
    scratch.low_rank.resize(static_cast<size_t>(n_tokens * rank));
    scratch.delta.resize(static_cast<size_t>(n_tokens * n_out));
    matmul(term.a, x, n_tokens, scratch.low_rank.data(), rank, pool);
    matmul(term.b, scratch.low_rank.data(), n_tokens, scratch.delta.data(), n_out, pool);
    // Scaled first, then added (ggml_scale, then ggml_add), for the same rounding.
    scale_inplace(scratch.delta.data(), term.scale, n_tokens * n_out);
    for (int64_t t = 0; t < n_tokens; ++t) add_inplace(y + t * y_stride, scratch.delta.data() + t * n_out, n_out);
  }
}

}  // namespace bantam::ops
