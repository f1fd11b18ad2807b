// Block formats of GGUF tensor types: dequantize, quantize and dot products per type.
// Scalar reference code lives here; SIMD kernels (runtime-dispatched) must agree with it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "format/ggml_type.hpp"

namespace bantam::quant {

float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);  // round to nearest even
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);  // round to nearest even

// True when dequantize_row handles `type`.
bool can_dequantize(GgmlType type);
// n elements (a multiple of the type's block size) from `src` blocks into `dst`.
void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n);

// True when quantize_row handles `type`.
bool can_quantize(GgmlType type);
// n floats into blocks of `type`; returns bytes written (row_bytes(type, n)).
size_t quantize_row(GgmlType type, const float* src, void* dst, int64_t n);

}  // namespace bantam::quant
