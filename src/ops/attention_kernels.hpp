// The inner loops of the tiled attention kernel, vectorized where the CPU allows (AVX2+FMA) with
// the same per-element operation order as the portable loops, so results are identical on every
// CPU. Internal to src/ops.
#pragma once

#include <cstdint>

namespace bantam::ops {

// Keys handled side by side by key_dots; it reads up to this many minus one keys past n.
inline constexpr int64_t kKeyDotGroup = 64;

// dots[j] for keys j in [0, n) of a transposed key block (row i holds dimension i of consecutive
// keys, `stride` floats apart): each one FMA chain over i ascending from 0 (ggml's scalar loop).
void key_dots(const float* q, const float* keys_t, int64_t stride, int dk, int64_t n, float* dots);

// out[i] = fma(weights[j], value_j[i], out[i]) for j = 0 .. n-1 in order, i in [0, dv), where
// value_j = values + j * stride.
void accumulate_values(const float* weights, const float* values, int64_t stride, int64_t n, int dv, float* out);

}  // namespace bantam::ops
