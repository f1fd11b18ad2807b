// F16 rows summed in half precision, as ggml_vec_dot_f16 does in a build with AVX512-FP16 (the
// reference llama.cpp's): the first n & ~127 products go into four 32-lane F16 accumulators
// (vfmadd with one F16 rounding each), the accumulators are reduced in F16 (0+2 and 1+3, then
// 0+1, then _mm512_reduce_add_ph's halving tree), and the remaining products are added in
// double. Plain scalar code, so every instruction-set level gives the same bits.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "quant/f16_rows.hpp"
#include "quant/kernels.hpp"
#include "quant/quant.hpp"

namespace bantam::quant::kernels {
namespace {

constexpr double kHalfMax = 65504.0;
constexpr int kHalfMinExponent = -14;  // of the smallest normal F16
constexpr double kHalfMinNormal = 0x1p-14;
constexpr int kHalfMantissaBits = 10;

constexpr int kLanes = 32;  // F16 values in one AVX-512 register
constexpr int kAccumulators = 4;
constexpr int64_t kStep = kLanes * kAccumulators;

// The F16 value nearest to the exact number value + tail, ties to even. `value` is that number
// rounded to double and |tail| at most half a double ulp of it, so only a tie of `value` itself
// needs the tail to tell on which side the exact number lies. This one handles every magnitude
// (zero and subnormal F16 results included) with exact power-of-two scaling.
[[gnu::noinline]] double round_to_half_any(double value, double tail) {
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

// The same for a result in the normal F16 range (nearly all of them), on the double's bits: the
// 42 low significand bits are dropped, rounding to nearest with the tie decided as above. No
// branches (the rounding direction is a coin toss), so lanes of these vectorize; a value outside
// that range gives garbage, which callers replace with round_to_half_any's result.
inline double round_normal_to_half(double value, double tail) {
  constexpr int kDroppedBits = 52 - kHalfMantissaBits;
  constexpr uint64_t kUnit = uint64_t{1} << kDroppedBits;
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  const uint64_t dropped = bits & (kUnit - 1);
  bits -= dropped;
  // A tie goes up when the exact number exceeds `value` in magnitude, or equals it at an odd
  // value; adding that 0/1 to the dropped bits makes "above half, or a tie going up" one test.
  const double beyond = std::copysign(1.0, value) * tail;
  const uint64_t odd = (bits >> kDroppedBits) & 1;
  const uint64_t tie_up = static_cast<uint64_t>(beyond > 0.0) | (static_cast<uint64_t>(beyond == 0.0) & odd);
  bits += static_cast<uint64_t>(dropped + tie_up > kUnit / 2) << kDroppedBits;  // a carry: the next binade
  double rounded = 0.0;
  std::memcpy(&rounded, &bits, sizeof rounded);
  return rounded;
}

inline bool rounds_as_normal_half(double value) {
  return std::fabs(value) >= kHalfMinNormal && std::fabs(value) <= kHalfMax;
}

inline double round_to_half(double value, double tail) {
  return rounds_as_normal_half(value) ? round_normal_to_half(value, tail) : round_to_half_any(value, tail);
}

// acc[l] = w[l] * a[l] + acc[l] rounded once to F16 for the lanes of one accumulator (F16 values): each product is
// exact in double, each sum split into its double rounding and the exact remainder (Knuth's
// two-sum), which only a tie needs.
void half_fma_lanes(const float* w, const float* a, double* acc) {
  double sums[kLanes], tails[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    const double product = static_cast<double>(w[l]) * a[l];
    const double sum = product + acc[l];
    const double product_part = sum - acc[l];
    tails[l] = (product - product_part) + (acc[l] - (sum - product_part));
    sums[l] = sum;
  }
  for (int l = 0; l < kLanes; ++l) acc[l] = round_normal_to_half(sums[l], tails[l]);
  for (int l = 0; l < kLanes; ++l) {
    if (!rounds_as_normal_half(sums[l])) acc[l] = round_to_half_any(sums[l], tails[l]);
  }
}

// a + b rounded to F16: exact in double for F16 operands.
inline double half_add(double a, double b) { return round_to_half(a + b, 0.0); }

}  // namespace

float dot_f16_half_accumulated(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const uint16_t*>(weights);
  const auto* a = static_cast<const uint16_t*>(activations);
  const int64_t steps_end = n & ~(kStep - 1);
  float wf[kStep], af[kStep];
  double sum = 0.0;
  if (steps_end > 0) {
    double acc[kAccumulators][kLanes] = {};
    for (int64_t i = 0; i < steps_end; i += kStep) {
      f16_to_f32_row(w + i, wf, kStep);
      f16_to_f32_row(a + i, af, kStep);
      for (int j = 0; j < kAccumulators; ++j) half_fma_lanes(wf + j * kLanes, af + j * kLanes, acc[j]);
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
  // The rest (under 128 values) as ggml's leftover loop: float products (exact for F16 operands)
  // added in double.
  const int64_t rest = n - steps_end;
  f16_to_f32_row(w + steps_end, wf, rest);
  f16_to_f32_row(a + steps_end, af, rest);
  for (int64_t i = 0; i < rest; ++i) sum += static_cast<double>(wf[i] * af[i]);
  return static_cast<float>(sum);
}

}  // namespace bantam::quant::kernels
