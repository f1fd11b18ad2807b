// Scalar code that reproduces ggml's vector arithmetic bit for bit, for the kernels that must match
// llama.cpp's numbers (activations are rounded to 8 bits afterwards, so one ulp can flip a token).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

// The portable x86-64 build has no FMA instruction, so std::fma becomes a libm call; functions
// marked with this get a clone that uses the hardware one where the CPU has it (both round once:
// results are identical).
#if defined(__x86_64__)
#define BANTAM_FMA_CLONES __attribute__((target_clones("fma", "default")))
#else
#define BANTAM_FMA_CLONES
#endif

namespace bantam::ops {

// ggml runs whole groups of this many elements through its vector exp, the rest through expf.
inline constexpr int64_t kVectorExpLanes = 16;

// exp(x) as ggml's AVX-512 kernels compute it (softmax, SiLU): a degree-5 polynomial in
// b = x - n*ln2 scaled by 2^n, within 1.5 ulp of expf but not always equal to it. Each step is one
// rounding of the vector code. Inline so that FMA clones of the callers fuse it.
inline float vector_expf(float x) {
  if (std::isnan(x)) return x;
  constexpr float kShift = 0x1.8p23f;  // adding it rounds x*log2(e) to an integer
  const float z = std::fma(x, 0x1.715476p+0f, kShift);
  const float n = z - kShift;
  if (std::fabs(n) > 192.0f) return n <= 0.0f ? 0.0f : std::numeric_limits<float>::infinity();
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  const float u = b * b;
  const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                                    std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                           u, std::fma(0x1.ffffecp-1f, b, 1.0f));
  // j * 2^n with 2^n built from its bits: one correctly rounded product, equal to ldexp's result
  // (subnormal ones included) without a libm call; ldexp only where 2^n is no normal float.
  const int exponent = static_cast<int>(n);
  if (exponent < -126 || exponent > 127) return std::ldexp(j, exponent);
  return j * std::bit_cast<float>(static_cast<uint32_t>(exponent + 127) << 23);
}

// vector_expf on kVectorExpLanes values in place, in a form the compiler vectorizes: lanes whose
// power of two is no normal float (or NaN) send the group through the scalar function.
inline void vector_expf_lanes(float* x) {
  constexpr float kShift = 0x1.8p23f;
  float out[kVectorExpLanes];
  int special = 0;
  for (int64_t l = 0; l < kVectorExpLanes; ++l) {
    const float z = std::fma(x[l], 0x1.715476p+0f, kShift);
    const float n = z - kShift;
    const bool normal = std::fabs(n) <= 126.0f;  // false for NaN
    special |= normal ? 0 : 1;
    const float n_safe = normal ? n : 0.0f;
    const float b = std::fma(-n_safe, 0x1.7f7d1cp-20f, std::fma(-n_safe, 0x1.62e4p-1f, x[l]));
    const float u = b * b;
    const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                                      std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                             u, std::fma(0x1.ffffecp-1f, b, 1.0f));
    out[l] = j * std::bit_cast<float>(static_cast<uint32_t>(static_cast<int32_t>(n_safe) + 127) << 23);
  }
  if (special) {
    for (int64_t l = 0; l < kVectorExpLanes; ++l) out[l] = vector_expf(x[l]);
  }
  for (int64_t l = 0; l < kVectorExpLanes; ++l) x[l] = out[l];
}

// Sum of kVectorExpLanes floats as _mm512_reduce_add_ps adds them: halves added pairwise.
inline float lane_tree_sum(const float* lanes) {
  float v[kVectorExpLanes];
  for (int64_t l = 0; l < kVectorExpLanes; ++l) v[l] = lanes[l];
  for (int64_t width = kVectorExpLanes / 2; width >= 1; width /= 2) {
    for (int64_t l = 0; l < width; ++l) v[l] += v[l + width];
  }
  return v[0];
}

}  // namespace bantam::ops
