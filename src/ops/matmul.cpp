#include "ops/matmul.hpp"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "quant/dot.hpp"
#include "quant/int8_gemm.hpp"
#include "quant/quant.hpp"

namespace bantam::ops {

GgmlType activation_type(GgmlType weight_type) { return quant::vec_dot_type(weight_type); }

bool matmul_supports(GgmlType type) { return quant::can_dot(type) && quant::can_dequantize(type); }

void matrix_row(const Matrix& w, int64_t r, float* out) {
  quant::dequantize_row(w.type, w.row(r), out, w.cols);
}

namespace {

// Prompts: below this many tokens, unpacking sixteen rows into an int8 panel costs more than
// the faster products save.
constexpr int64_t kInt8GemmMinTokens = 16;

void int8_matmul(const Matrix& w, const float* x, int64_t n_tokens, float* y, int64_t y_stride, ThreadPool& pool) {
  // A lambda names a thread_local by the running thread's copy: the workers get this reference.
  thread_local quant::Int8Activations caller_acts;
  quant::Int8Activations& acts = caller_acts;
  quant::reserve_int8_activations(w.type, w.cols, n_tokens, acts);
  pool.parallel_for(n_tokens, std::max<int64_t>(1, 8192 / w.cols), [&](int64_t begin, int64_t end) {
    quant::quantize_int8_activations(w.type, x, begin, end, acts);
  });
  constexpr int64_t kPanel = quant::kInt8PanelRows;
  pool.parallel_for((w.rows + kPanel - 1) / kPanel, 1, [&](int64_t begin, int64_t end) {
    quant::int8_gemm(w.type, w.data, w.row_bytes, begin * kPanel, std::min(end * kPanel, w.rows), acts, y,
                     static_cast<size_t>(y_stride));
  });
}

}  // namespace

void matmul(const Matrix& w, const float* x, int64_t n_tokens, float* y, int64_t y_stride,
            ThreadPool& pool) {
  if (!quant::can_dot(w.type)) {
    throw Error(fmt::format("matmul: weights of type {} are not supported", type_name(w.type)));
  }
  if (n_tokens >= kInt8GemmMinTokens && quant::int8_gemm_supports(w.type)) {
    int8_matmul(w, x, n_tokens, y, y_stride, pool);
    return;
  }
  const int64_t k = w.cols;
  const GgmlType act_type = quant::vec_dot_type(w.type);
  const size_t act_bytes = quant::activation_bytes(act_type, k);
  // llama.cpp's summation order for this matrix (its repacked types depend on the row count).
  const quant::DotOrder order = quant::dot_order(w.type, w.rows);
  thread_local std::vector<uint8_t> acts;
  acts.resize(static_cast<size_t>(n_tokens) * act_bytes);
  // In groups of four tokens (the grouping llama.cpp's quantization rule goes by), several
  // groups per job.
  uint8_t* act_data = acts.data();
  const int64_t n_groups = (n_tokens + 3) / 4;
  pool.parallel_for(n_groups, std::max<int64_t>(1, 2048 / k), [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) {
      const int64_t t = 4 * g;
      quant::quantize_activation_rows(w.type, order, x + t * k, k, std::min<int64_t>(4, n_tokens - t),
                                      act_data + t * act_bytes);
    }
  });
  // Enough rows per thread that a job outweighs waking the pool.
  const int64_t min_rows = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, k * n_tokens));
  pool.parallel_for(w.rows, min_rows, [&](int64_t begin, int64_t end) {
    if (n_tokens > 1) {
      // Multi-token kernels unpack each weight block once for several tokens.
      quant::gemm(w.type, k, w.data, w.row_bytes, begin, end, act_data, act_bytes, n_tokens, y,
                  static_cast<size_t>(y_stride), order);
      return;
    }
    quant::gemv(w.type, k, w.data, w.row_bytes, begin, end, act_data, y, order);
  });
}

}  // namespace bantam::ops
