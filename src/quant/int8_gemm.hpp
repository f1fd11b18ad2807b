// Prompt matmuls as int8 GEMMs (many tokens at once). Every supported weight type is unpacked,
// sixteen rows at a time, into one form: per block of L elements (32, or 16 for types with
// 16-element scales) unsigned 8-bit levels u, a scale d and an offset c, so that each weight is
//   w = d * (u - bias) - c        (bias: a constant of the type, c: the block's min term)
// Activations are quantized per 32 elements (scale da, int8 values q). A block's dot product is
// then one integer sum of u * q (vpdpbusd), corrected for the bias in integers and scaled once:
//   d * da * (sum(u * q) - bias * sum(q)) - c * da * sum(q).
// On aarch64 the panels hold the signed levels u - bias instead (sdot, smmla: signed by signed),
// the same integer sum without the correction.
// That is fewer float operations per block than llama.cpp's order with exact integer sums, so the
// accuracy is that of the activations' 8-bit rounding (docs/ARCHITECTURE.md, numerics). Internal
// to src/quant and src/ops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "format/ggml_type.hpp"

namespace bantam::quant {

// How int8 activation values are arranged (int8_gemm_kernels.hpp): Tokens for AVX-512 VNNI and the
// NEON levels without i8mm, TokenPairs for smmla (NeonI8mm).
enum class Int8Layout { Tokens, TokenPairs };

// Activations of n_tokens rows of k floats, prepared for weights of one type.
struct Int8Activations {
  int64_t k = 0;
  int64_t n_tokens = 0;
  Int8Layout layout = Int8Layout::Tokens;  // the active level's, set by reserve_int8_activations
  std::vector<int8_t> q;           // int8 values, arranged per `layout`
  std::vector<float> scale;        // da per token and 32 elements
  std::vector<int32_t> bias_sum;   // -bias * sum(q) per token and L elements (x86)
  std::vector<float> scaled_sum;   // da * sum(q) per token and L elements (types with mins)
};

// Rows per panel: callers splitting rows across threads keep ranges on multiples of this.
inline constexpr int64_t kInt8PanelRows = 16;

// True when the int8 GEMM runs weights of `type` on this CPU (its best kernel level).
bool int8_gemm_supports(GgmlType type);

// Sizes `acts` for n_tokens x k and the weight type (no quantization yet), in the active level's
// layout.
void reserve_int8_activations(GgmlType weight_type, int64_t k, int64_t n_tokens, Int8Activations& acts);
// Quantizes tokens [t_begin, t_end) of x (row t at x + t * k) into `acts` (threads may take
// disjoint token ranges).
void quantize_int8_activations(GgmlType weight_type, const float* x, int64_t t_begin, int64_t t_end,
                               Int8Activations& acts);

// out[t * out_stride + r] = row r . token t for rows [row_begin, row_end) of `weights` (`stride`
// bytes apart) and every token of `acts`. A row's result does not depend on the range it was in.
void int8_gemm(GgmlType type, const void* weights, size_t stride, int64_t row_begin, int64_t row_end,
               const Int8Activations& acts, float* out, size_t out_stride);

// Token t's activations as the kernel sees them (da * q), for tests.
std::vector<double> int8_activation_values(const Int8Activations& acts, int64_t t);

}  // namespace bantam::quant
