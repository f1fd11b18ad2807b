// Helpers shared by the quant tests: random data and error measures.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "format/ggml_type.hpp"
#include "quant/quant.hpp"

namespace bantam::quant::test {

inline std::vector<float> gaussian(size_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// sqrt(mean((a-b)^2)) / sqrt(mean(b^2)): error relative to the signal.
inline double relative_rmse(const std::vector<float>& a, const std::vector<float>& b) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    err += d * d;
    ref += static_cast<double>(b[i]) * b[i];
  }
  return ref == 0 ? std::sqrt(err) : std::sqrt(err / ref);
}

inline std::vector<uint8_t> quantize(GgmlType type, const std::vector<float>& x) {
  std::vector<uint8_t> q(row_bytes(type, static_cast<int64_t>(x.size())));
  quantize_row(type, x.data(), q.data(), static_cast<int64_t>(x.size()));
  return q;
}

inline std::vector<float> dequantize(GgmlType type, const std::vector<uint8_t>& q, int64_t n) {
  std::vector<float> x(static_cast<size_t>(n));
  dequantize_row(type, q.data(), x.data(), n);
  return x;
}

inline std::vector<float> roundtrip(GgmlType type, const std::vector<float>& x) {
  return dequantize(type, quantize(type, x), static_cast<int64_t>(x.size()));
}

}  // namespace bantam::quant::test
