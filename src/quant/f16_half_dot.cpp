// F16 rows summed in half precision, as ggml_vec_dot_f16 does in a build with AVX512-FP16 (the
// reference llama.cpp's): the first n & ~127 products go into four 32-lane F16 accumulators
// (vfmadd with one F16 rounding each), the accumulators are reduced in F16 (0+2 and 1+3, then
// 0+1, then _mm512_reduce_add_ph's halving tree), and the remaining products are added in
// double. Plain scalar code, so every instruction-set level gives the same bits.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "quant/kernels.hpp"
#include "quant/quant.hpp"

namespace bantam::quant::kernels {
namespace {

constexpr double kHalfMax = 65504.0;
constexpr int kHalfMinExponent = -14;  // of the smallest normal F16
constexpr int kHalfMantissaBits = 10;

// The F16 value nearest to the exact number value + tail, ties to even. `value` is that number
// rounded to double and |tail| at most half a double ulp of it, so only a tie of `value` itself
// needs the tail to tell on which side the exact number lies.
double round_to_half(double value, double tail) {
  if (value == 0.0 || !std::isfinite(value)) return value;
  int exponent = 0;
  std::frexp(value, &exponent);  // |value| = f * 2^exponent with f in [0.5, 1)
  const double quantum = std::ldexp(1.0, std::max(exponent - 1, kHalfMinExponent) - kHalfMantissaBits);
  const double scaled = value / quantum;  // exact: a power-of-two division
  double steps = std::nearbyint(scaled);  // ties to even
  if (tail != 0.0 && std::fabs(scaled - std::trunc(scaled)) == 0.5) {
    steps = tail > 0.0 ? std::ceil(scaled) : std::floor(scaled);
  }
  const double rounded = steps * quantum;
  if (std::fabs(rounded) > kHalfMax) return std::copysign(std::numeric_limits<double>::infinity(), value);
  return rounded;
}

// a * b + c rounded once to F16 (a, b, c F16 values): the product is exact in double, the sum
// is split into its double rounding and the exact remainder (Knuth's two-sum).
double half_fma(double a, double b, double c) {
  const double product = a * b;
  const double sum = product + c;
  const double product_part = sum - c;
  const double tail = (product - product_part) + (c - (sum - product_part));
  return round_to_half(sum, tail);
}

// a + b rounded to F16: exact in double for F16 operands.
double half_add(double a, double b) { return round_to_half(a + b, 0.0); }

constexpr int kLanes = 32;
constexpr int kAccumulators = 4;
constexpr int64_t kStep = kLanes * kAccumulators;

}  // namespace

float dot_f16_half_accumulated(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const uint16_t*>(weights);
  const auto* a = static_cast<const uint16_t*>(activations);
  const int64_t steps_end = n & ~(kStep - 1);
  double sum = 0.0;
  if (steps_end > 0) {
    double acc[kAccumulators][kLanes] = {};
    for (int64_t i = 0; i < steps_end; i += kStep) {
      for (int j = 0; j < kAccumulators; ++j) {
        for (int l = 0; l < kLanes; ++l) {
          const int64_t e = i + j * kLanes + l;
          acc[j][l] = half_fma(fp16_to_fp32(w[e]), fp16_to_fp32(a[e]), acc[j][l]);
        }
      }
    }
    double lanes[kLanes];
    for (int l = 0; l < kLanes; ++l) {
      lanes[l] = half_add(half_add(acc[0][l], acc[2][l]), half_add(acc[1][l], acc[3][l]));
    }
    for (int width = kLanes / 2; width >= 1; width /= 2) {
      for (int l = 0; l < width; ++l) lanes[l] = half_add(lanes[l], lanes[l + width]);
    }
    sum = lanes[0];
  }
  // The rest as ggml's leftover loop: float products (exact for F16 operands) added in double.
  for (int64_t i = steps_end; i < n; ++i) sum += static_cast<double>(fp16_to_fp32(w[i]) * fp16_to_fp32(a[i]));
  return static_cast<float>(sum);
}

}  // namespace bantam::quant::kernels
