#include "ops/matmul.hpp"

#include <vector>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "quant/quant.hpp"

namespace bantam::ops {

GgmlType activation_type(GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16:
      return weight_type;
    case GgmlType::Q4_0: case GgmlType::Q5_0: case GgmlType::Q8_0: case GgmlType::IQ4_NL:
      return GgmlType::Q8_0;
    case GgmlType::Q4_1: case GgmlType::Q5_1:
      return GgmlType::Q8_1;
    default:
      return GgmlType::Q8_K;  // k-quants and i-quants
  }
}

bool matmul_supports(GgmlType type) {
  const GgmlType act = activation_type(type);
  return quant::can_dequantize(type) && quant::can_quantize(act) && quant::can_dequantize(act);
}

namespace {

// Activations as the weight's dot product sees them: converted to the vec_dot type and back.
void round_activations(GgmlType act_type, const float* x, int64_t n, float* out,
                       std::vector<uint8_t>& blocks) {
  if (act_type == GgmlType::F32) {
    std::copy(x, x + n, out);
    return;
  }
  blocks.resize(row_bytes(act_type, n));
  quant::quantize_row(act_type, x, blocks.data(), n);
  quant::dequantize_row(act_type, blocks.data(), out, n);
}

float dot(const float* a, const float* b, int64_t n) {
  // 16 partial sums, as one AVX-512 register of ggml's F32 kernels accumulates.
  float lanes[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int l = 0; l < 16; ++l) lanes[l] += a[i + l] * b[i + l];
  }
  float sum = 0.0f;
  for (int l = 0; l < 16; ++l) sum += lanes[l];
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace

void matrix_row(const Matrix& w, int64_t r, float* out) {
  quant::dequantize_row(w.type, w.row(r), out, w.cols);
}

void matmul(const Matrix& w, const float* x, int64_t n_tokens, float* y, int64_t y_stride,
            ThreadPool& pool) {
  if (!matmul_supports(w.type)) {
    throw Error(fmt::format("matmul: weights of type {} are not supported", type_name(w.type)));
  }
  const int64_t k = w.cols;
  const GgmlType act_type = activation_type(w.type);
  thread_local std::vector<float> rounded;
  thread_local std::vector<uint8_t> blocks;
  rounded.resize(static_cast<size_t>(n_tokens * k));
  for (int64_t t = 0; t < n_tokens; ++t) {
    round_activations(act_type, x + t * k, k, rounded.data() + t * k, blocks);
  }
  const float* acts = rounded.data();
  // Enough rows per thread that a job outweighs waking the pool.
  const int64_t min_rows = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, k * n_tokens));
  pool.parallel_for(w.rows, min_rows, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> weight_row;
    weight_row.resize(static_cast<size_t>(k));
    for (int64_t r = begin; r < end; ++r) {
      quant::dequantize_row(w.type, w.row(r), weight_row.data(), k);
      for (int64_t t = 0; t < n_tokens; ++t) y[t * y_stride + r] = dot(weight_row.data(), acts + t * k, k);
    }
  });
}

}  // namespace bantam::ops
