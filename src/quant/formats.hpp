// Per-type scalar reference (de)quantizers behind quant.hpp's dequantize_row/quantize_row.
// n is a multiple of the type's block size. Internal to src/quant.
#pragma once

#include <cstdint>

namespace bantam::quant::formats {

// Legacy 32-element blocks (legacy.cpp). Q8_0/Q8_1 quantizers here are llama-quantize's
// reference ones (roundf, id = 1/d); activation quantization for dot products is in dot.cpp.
void dequantize_q4_0(const void* src, float* dst, int64_t n);
void dequantize_q4_1(const void* src, float* dst, int64_t n);
void dequantize_q5_0(const void* src, float* dst, int64_t n);
void dequantize_q5_1(const void* src, float* dst, int64_t n);
void dequantize_q8_0(const void* src, float* dst, int64_t n);
void dequantize_q8_1(const void* src, float* dst, int64_t n);
void quantize_q4_0(const float* src, void* dst, int64_t n);
void quantize_q4_1(const float* src, void* dst, int64_t n);
void quantize_q5_0(const float* src, void* dst, int64_t n);
void quantize_q5_1(const float* src, void* dst, int64_t n);
void quantize_q8_0(const float* src, void* dst, int64_t n);
void quantize_q8_1(const float* src, void* dst, int64_t n);

// K-quants, 256-element super-blocks (kquants.cpp).
void dequantize_q2_k(const void* src, float* dst, int64_t n);
void dequantize_q3_k(const void* src, float* dst, int64_t n);
void dequantize_q4_k(const void* src, float* dst, int64_t n);
void dequantize_q5_k(const void* src, float* dst, int64_t n);
void dequantize_q6_k(const void* src, float* dst, int64_t n);
void dequantize_q8_k(const void* src, float* dst, int64_t n);
void quantize_q2_k(const float* src, void* dst, int64_t n);
void quantize_q3_k(const float* src, void* dst, int64_t n);
void quantize_q4_k(const float* src, void* dst, int64_t n);
void quantize_q5_k(const float* src, void* dst, int64_t n);
void quantize_q6_k(const float* src, void* dst, int64_t n);
void quantize_q8_k(const float* src, void* dst, int64_t n);
// Q8_K as ggml_quantize_mat_q8_K_4x8 (llama.cpp's activations for repacked gemms) makes it: like
// quantize_q8_k except that +amax is the extreme mapped to -127 whenever it occurs, not the first.
void quantize_q8_k_positive_extreme(const float* src, void* dst, int64_t n);

// Non-linear 4-bit (iq4.cpp).
void dequantize_iq4_nl(const void* src, float* dst, int64_t n);
void dequantize_iq4_xs(const void* src, float* dst, int64_t n);
void quantize_iq4_nl(const float* src, void* dst, int64_t n);
void quantize_iq4_xs(const float* src, void* dst, int64_t n);

}  // namespace bantam::quant::formats
