// Between int8_gemm.cpp (dispatch, layout) and the per-ISA int8 GEMM kernels. Internal to src/quant.
#pragma once

#include <cstddef>
#include <cstdint>

#include "format/ggml_type.hpp"
#include "quant/int8_gemm.hpp"

namespace bantam::quant {

// How a weight type maps onto the int8 form (see int8_gemm.hpp).
struct Int8Form {
  int block = 32;      // elements per weight scale (L)
  int bias = 0;        // subtracted from the unsigned levels
  bool mins = false;   // blocks carry a min term c
  // Activation scales rounded to fp16 as in llama.cpp's Q8_0/Q8_1 activations: the integer sums are
  // then exactly llama.cpp's and only the float order differs (types whose partner is Q8_0/Q8_1).
  bool half_scales = false;
};
// The form of `type`; block 0 when the int8 GEMM does not take the type.
constexpr Int8Form int8_form(GgmlType type) {
  switch (type) {
    case GgmlType::Q4_0: return {32, 8, false, true};
    case GgmlType::Q5_0: return {32, 16, false, true};
    case GgmlType::Q8_0: case GgmlType::IQ4_NL: return {32, 128, false, true};
    case GgmlType::Q4_1: case GgmlType::Q5_1: return {32, 0, true, true};
    case GgmlType::IQ4_XS: return {32, 128, false, false};
    case GgmlType::Q4_K: case GgmlType::Q5_K: return {32, 0, true, false};
    case GgmlType::Q6_K: return {16, 32, false, false};
    case GgmlType::Q2_K: return {16, 0, true, false};
    case GgmlType::Q3_K: return {16, 4, false, false};
    default: return {0, 0, false, false};
  }
}

// Activations live in groups of kInt8TileTokens tokens, interleaved per 32 elements, so that one
// kernel tile reads every token of its group at fixed offsets from one pointer:
//   q (Int8Layout::Tokens): ((group * k/32 + b32) * kInt8TileTokens + lane) * 32 + i
//   q (Int8Layout::TokenPairs): (group * k/32 + b32) * kInt8TileTokens * 32 + int8_pair_offset(lane, i)
//   scale:        (group * k/32 + b32) * int8_token_floats(layout) + int8_token_float_slot(layout, lane)
//   scaled_sum:   (group * k/L + b) * int8_token_floats(layout) + int8_token_float_slot(layout, lane)
//   bias_sum:     (group * k/L + b) * kInt8TileTokens + lane
// bias_sum is only filled for the x86 kernels (unsigned levels); the aarch64 ones take signed levels.
inline constexpr int kInt8TileTokens = 8;

// TokenPairs, for smmla (2x8 by 8x2 int8 blocks): per 8 elements of a 32-block, the group's tokens
// in pairs, each pair's two tokens 8 bytes apart.
constexpr int int8_pair_offset(int lane, int i) { return (i / 8) * 64 + (lane / 2) * 16 + (lane % 2) * 8 + i % 8; }
// Per-token floats of a group's block: one per token, or for TokenPairs each pair twice over
// (t0, t1, t0, t1: the token lanes of a 2x2 block, loaded as they are).
constexpr int int8_token_floats(Int8Layout layout) {
  return layout == Int8Layout::TokenPairs ? 2 * kInt8TileTokens : kInt8TileTokens;
}
// The first copy of a token's float among them (a TokenPairs copy follows 2 floats later).
constexpr int int8_token_float_slot(Int8Layout layout, int lane) {
  return layout == Int8Layout::TokenPairs ? (lane / 2) * 4 + lane % 2 : lane;
}

namespace kernels {
// AVX-512 VNNI (int8_gemm_avx512.cpp; x86 builds only).
void int8_quantize_avx512(const Int8Form& form, const float* x, int64_t t_begin, int64_t t_end,
                          Int8Activations& acts);
// False for a type without a panel unpacker.
bool int8_gemm_avx512(GgmlType type, const void* weights, size_t stride, int64_t row_begin, int64_t row_end,
                      const Int8Activations& acts, float* out, size_t out_stride);

// aarch64 (int8_gemm_neon*.cpp; aarch64 builds only): activations for any NEON level, and the
// tiles of each level (Neon: smull/sadalp, NeonDotprod: sdot, NeonI8mm: smmla). False for a type
// without a form.
void int8_quantize_neon(const Int8Form& form, const float* x, int64_t t_begin, int64_t t_end,
                        Int8Activations& acts);
bool int8_gemm_neon(GgmlType type, const void* weights, size_t stride, int64_t row_begin, int64_t row_end,
                    const Int8Activations& acts, float* out, size_t out_stride);
bool int8_gemm_neon_dotprod(GgmlType type, const void* weights, size_t stride, int64_t row_begin,
                            int64_t row_end, const Int8Activations& acts, float* out, size_t out_stride);
bool int8_gemm_neon_i8mm(GgmlType type, const void* weights, size_t stride, int64_t row_begin, int64_t row_end,
                         const Int8Activations& acts, float* out, size_t out_stride);
}  // namespace kernels

}  // namespace bantam::quant
