// Dot products of weight rows with activations, as ggml computes them: activations are first
// converted to the weight type's partner format (vec_dot_type), then each weight row is dotted
// with them by a kernel picked at runtime from the CPU's features (scalar, AVX2, AVX-512, NEON).
// Every kernel equals, up to float summation order, the dot of the dequantized weight row with
// the dequantized activations (for Q4_1/Q5_1 with Q8_1's stored block sums, as ggml does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "format/ggml_type.hpp"

namespace bantam::quant {

// Instruction-set levels with their own kernels, lowest first within each architecture. Avx2
// includes FMA and F16C; Avx512 is F+BW+VL(+FMA/F16C); Avx512Vnni adds vpdpbusd/vpdpwssd.
// Neon is aarch64's Advanced SIMD; NeonDotprod adds sdot (ARMv8.2 dotprod). A CPU only ever
// lists the levels of its own architecture.
enum class Isa { Scalar, Avx2, Avx512, Avx512Vnni, Neon, NeonDotprod };

std::string_view isa_name(Isa isa);
// Levels this CPU supports, lowest first (always starts with Scalar).
std::vector<Isa> available_isas();
// The level in use: the best available one unless set_isa_for_testing chose another.
Isa active_isa();
std::string_view active_isa_name();
// Forces a level (Error if this CPU lacks it). Not thread-safe: for tests and benchmarks.
void set_isa_for_testing(Isa isa);

// True when vec_dot/gemv handle weights of `weight_type`.
bool can_dot(GgmlType weight_type);
// The activation format that weights of `weight_type` are dotted with: Q8_0 for
// Q4_0/Q5_0/Q8_0/IQ4_NL, Q8_1 for Q4_1/Q5_1, Q8_K for K-quants and IQ4_XS, F16/BF16/F32 for
// themselves. Error for types without dot products.
GgmlType vec_dot_type(GgmlType weight_type);
// Bytes quantize_activations writes for n values in `vec_dot_type`.
size_t activation_bytes(GgmlType vec_dot_type, int64_t n);
// n floats (a multiple of the format's block size) into `vec_dot_type` blocks, rounding as
// ggml's x86 build does (Q8_0/Q8_1: 127/amax and ties-to-even; Q8_K: -127/signed max).
void quantize_activations(GgmlType vec_dot_type, const float* x, void* out, int64_t n);

// Dot of one weight row of n elements with activations already in vec_dot_type(weight_type).
float vec_dot(GgmlType weight_type, int64_t n, const void* weight_row, const void* activations);

// out[r] = dot(row r, activations) for r in [row_begin, row_end); row r starts at
// weights + r * row_stride_bytes. Callers split row ranges across threads.
void gemv(GgmlType weight_type, int64_t n, const void* weights, size_t row_stride_bytes, int64_t row_begin,
          int64_t row_end, const void* activations, float* out);

// Many tokens at once: out[t * out_stride + r] = dot(row r, token t) for r in [row_begin,
// row_end) and t in [0, n_tokens), token t's activations at activations + t * act_stride bytes.
// Equal to gemv per token bit for bit, except F32/F16 rows at SIMD levels: like llama.cpp, several
// tokens sum them in tinyBLAS's order and one token in ggml_vec_dot's. Where a multi-token kernel
// exists (AVX-512: Q4_0, Q8_0, Q4_K, Q5_K, Q6_K) each weight block is unpacked once per tile.
void gemm(GgmlType weight_type, int64_t n, const void* weights, size_t row_stride_bytes, int64_t row_begin,
          int64_t row_end, const void* activations, size_t act_stride_bytes, int64_t n_tokens, float* out,
          size_t out_stride);

}  // namespace bantam::quant
