// Inputs shared by the micro-benchmarks: gaussian floats and matrices quantized from them.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "format/ggml_type.hpp"
#include "quant/quant.hpp"

namespace bantam::bench {

inline std::vector<float> gaussian(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// rows x cols gaussian weights in `type`, rows row_bytes(type, cols) apart.
inline std::vector<uint8_t> quantized(GgmlType type, int64_t rows, int64_t cols, uint32_t seed) {
  const auto x = gaussian(static_cast<size_t>(rows * cols), seed);
  const size_t stride = row_bytes(type, cols);
  std::vector<uint8_t> out(stride * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    quant::quantize_row(type, x.data() + r * cols, out.data() + static_cast<size_t>(r) * stride, cols);
  }
  return out;
}

}  // namespace bantam::bench
