// Helpers shared by the quant tests: random data and error measures.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <random>
#include <vector>

#include "format/ggml_type.hpp"
#include "quant/dot.hpp"
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

// Byte offsets of the fp16 scale fields inside one block, so random payload bytes can be given
// sane scales; an empty list means "quantize gaussian data instead" (float types).
inline std::vector<size_t> half_fields(GgmlType type) {
  switch (type) {
    case GgmlType::Q4_0: case GgmlType::Q5_0: case GgmlType::Q8_0: case GgmlType::IQ4_NL: case GgmlType::IQ4_XS:
      return {0};
    case GgmlType::Q4_1: case GgmlType::Q5_1: case GgmlType::Q4_K: case GgmlType::Q5_K: return {0, 2};
    case GgmlType::Q2_K: return {80, 82};
    case GgmlType::Q3_K: return {108};
    case GgmlType::Q6_K: return {208};
    default: return {};
  }
}

// A weight row: random bytes with random scales in [0.001, 0.1) (all level patterns, including
// extremes llama-quantize never writes), or quantized gaussian data when `realistic`.
inline std::vector<uint8_t> weight_row(GgmlType type, int64_t n, uint32_t seed, bool realistic) {
  const auto fields = half_fields(type);
  if (realistic || (fields.empty() && type != GgmlType::Q8_K)) return quantize(type, gaussian(n, seed, 0.05f));
  std::mt19937 rng(seed);
  std::vector<uint8_t> row(row_bytes(type, n));
  for (auto& b : row) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(0.001f, 0.1f);
  const auto& info = type_info(type);
  for (size_t block = 0; block < row.size(); block += info.bytes_per_block) {
    if (type == GgmlType::Q8_K) {
      const float d = scale(rng);
      std::memcpy(&row[block], &d, 4);
      continue;
    }
    for (size_t off : fields) {
      const uint16_t h = fp32_to_fp16(scale(rng));
      std::memcpy(&row[block + off], &h, 2);
    }
  }
  return row;
}

inline std::vector<uint8_t> activations(GgmlType type, int64_t n, uint32_t seed) {
  auto x = gaussian(n, seed);
  std::fill(x.begin(), x.begin() + std::min<int64_t>(n, 32), 0.0f);  // an all-zero block too
  std::vector<uint8_t> out(activation_bytes(vec_dot_type(type), n));
  quantize_activations(vec_dot_type(type), x.data(), out.data(), n);
  return out;
}

}  // namespace bantam::quant::test
