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
// includes FMA and F16C; Avx512 is F+BW+VL(+FMA/F16C/BMI2); Avx512Vnni adds vpdpbusd/vpdpwssd.
// Neon is aarch64's Advanced SIMD; NeonDotprod adds sdot (ARMv8.2 dotprod); NeonI8mm adds the
// int8 matrix multiplies (smmla, usdot; ARMv8.6 i8mm, always with dotprod). A CPU only ever lists
// the levels of its own architecture.
enum class Isa { Scalar, Avx2, Avx512, Avx512Vnni, Neon, NeonDotprod, NeonI8mm };

std::string_view isa_name(Isa isa);
// Levels this CPU supports, lowest first (always starts with Scalar).
std::vector<Isa> available_isas();
// The level in use: the best available one unless set_isa_for_testing chose another.
Isa active_isa();
std::string_view active_isa_name();
// Forces a level (Error if this CPU lacks it). Not thread-safe: for tests and benchmarks.
void set_isa_for_testing(Isa isa);

// True where the level's kernels sum in llama.cpp's x86 orders (DotOrder): scalar and the x86
// levels. The aarch64 levels sum in orders of their own, within the numerics contract
// (docs/ARCHITECTURE.md), since llama.cpp's ARM build has orders of its own too.
bool follows_llama_cpp_orders(Isa isa);

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

// Float summation order of a dot product. The integer sums within a block are exact; the order
// in which the per-block float terms are added is not, and the activations of the next layer are
// rounded to 8 bits, so one ulp can change a token. llama.cpp (x86, AVX-512 build) has two:
//  - VecDot: ggml's x86 vec_dot (and tinyBLAS) order. Eight float lanes, each an FMA chain across
//    the row, then the lanes added as hsum8 does (l + (l+4), then pairs). 32-blocks (Q4_0, Q5_0,
//    Q8_0, IQ4_NL): lane l takes the integer sum of elements 4l..4l+3 of each block times dw * da.
//    K-quants (Q2_K..Q6_K): lane m takes, per super-block, elements 4m..4m+3 of each of its eight
//    32-element chunks, each times its group scale, summed as integers, times da * dw; the mins
//    (Q2_K, Q4_K, Q5_K) are summed per type as ggml's AVX2 code does (see dot_scalar_kquants.cpp).
//    Multi-token matmuls of these types run vec_dot per (row, token) in llama.cpp too.
//  - Interleaved8: the x86 CPU backend repacks Q4_0, Q4_K and Q2_K matrices whose row count is a
//    multiple of 8 at load (8 rows interleaved). Q4_0 sums every (row, token) as ONE chain over the
//    blocks: acc = fma((float)isum_b, dw_b * da_b, acc). Q4_K and Q2_K keep two chains, scaled sums
//    times dw * da and min sums times dmin * da, and return their difference; one token (gemv) adds
//    one term per super-block, while its gemm, which takes whole groups of four tokens of a batch
//    (the last n_tokens % 4, or a batch of up to three, go through gemv), adds one per 64 (Q4_K) or
//    128 (Q2_K) elements, and quantizes those tokens' activations with
//    quantize_activation_rows's rule.
// Other types sum one way whatever the order says; IQ4_XS in one of its own (no llama.cpp order
// to follow): each super-block's exact integer dot, then one FMA chain over the super-blocks.
enum class DotOrder { VecDot, Interleaved8 };

// The order llama.cpp uses for a weight matrix of `type` with `rows` rows (its output width):
// Interleaved8 for Q4_0, Q4_K and Q2_K with rows % 8 == 0, VecDot otherwise.
DotOrder dot_order(GgmlType weight_type, int64_t rows);

// The lowest level whose kernels (vec_dot, gemv and gemm alike) serve weights of `weight_type`
// in `order` at the active level: Scalar where no SIMD kernel does. For tests.
Isa kernel_level(GgmlType weight_type, DotOrder order);

// Activations for n_tokens rows of k floats (row t at x + t * k), written `activation_bytes` apart,
// for weights of `weight_type` summed in `order`, as llama.cpp quantizes them: quantize_activations
// per row, except for Q4_K/Q2_K in the Interleaved8 order, whose gemm's groups of four tokens get
// Q8_K scales whose sign follows +amax wherever it occurs (ggml_quantize_mat_q8_K_4x8).
void quantize_activation_rows(GgmlType weight_type, DotOrder order, const float* x, int64_t k, int64_t n_tokens,
                              void* out);

// Dot of one weight row of n elements with activations already in vec_dot_type(weight_type).
float vec_dot(GgmlType weight_type, int64_t n, const void* weight_row, const void* activations,
              DotOrder order = DotOrder::VecDot);

// out[r] = dot(row r, activations) for r in [row_begin, row_end); row r starts at
// weights + r * row_stride_bytes. Callers split row ranges across threads: a row's result does
// not depend on the range it was computed in.
void gemv(GgmlType weight_type, int64_t n, const void* weights, size_t row_stride_bytes, int64_t row_begin,
          int64_t row_end, const void* activations, float* out, DotOrder order = DotOrder::VecDot);

// Many tokens at once: out[t * out_stride + r] = dot(row r, token t) for r in [row_begin,
// row_end) and t in [0, n_tokens), token t's activations at activations + t * act_stride bytes.
// Equal to gemv per token bit for bit, except where llama.cpp's batches take another order: F32/F16
// rows at SIMD levels (several tokens in tinyBLAS's order, one in ggml_vec_dot's) and Q4_K/Q2_K in
// the Interleaved8 order (see DotOrder). F16 rows whose length is not a multiple of 16 (tinyBLAS
// declines them) are summed in half precision, as the reference build's ggml_vec_dot_f16 does with
// AVX512-FP16, at every level and for any number of tokens. Where a multi-token kernel exists each
// weight block is unpacked once per tile.
void gemm(GgmlType weight_type, int64_t n, const void* weights, size_t row_stride_bytes, int64_t row_begin,
          int64_t row_end, const void* activations, size_t act_stride_bytes, int64_t n_tokens, float* out,
          size_t out_stride, DotOrder order = DotOrder::VecDot);

}  // namespace bantam::quant
