// Matrix times activations with the weight kept in its GGUF type (a view into the mapped file).
// Activations are first converted to the weight type's "vec_dot type" exactly as ggml does
// (F16 weights: activations rounded to F16; Q8_0/Q4_0/Q5_0: quantized to Q8_0 blocks; ...),
// which is what makes greedy output agree with llama.cpp's.
#pragma once

#include <cstddef>
#include <cstdint>

#include "format/ggml_type.hpp"
#include "ops/thread_pool.hpp"

namespace bantam::ops {

// rows x cols weights, each row `row_bytes` long in `type`.
struct Matrix {
  GgmlType type = GgmlType::F32;
  int64_t cols = 0;
  int64_t rows = 0;
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;

  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
};

// The type activations are converted to before the dot product with a `weight_type` row.
GgmlType activation_type(GgmlType weight_type);
// True when matmul (and row lookup) can compute with weights of `type`.
bool matmul_supports(GgmlType type);

// y[t * y_stride + r] = W[r] . x[t * cols ...] for every weight row r and token t.
void matmul(const Matrix& w, const float* x, int64_t n_tokens, float* y, int64_t y_stride,
            ThreadPool& pool);

// One row of `w` as floats (embedding lookup).
void matrix_row(const Matrix& w, int64_t r, float* out);

}  // namespace bantam::ops
