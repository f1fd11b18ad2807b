// Rows of F16 values: conversion both ways (round to nearest even) and the F16-rounded
// accumulation of ggml's vector flash attention. F16C does them eight at a time where the CPU has
// it (with AVX2 and FMA); results are bit for bit those of fp16_to_fp32 / fp32_to_fp16.
#pragma once

#include <cstdint>

namespace bantam::quant {

void f16_to_f32_row(const uint16_t* src, float* dst, int64_t n);
void f32_to_f16_row(const float* src, uint16_t* dst, int64_t n);

// acc[i] = f16(fma(v[i], s, acc[i])) and acc[i] = f16(acc[i] * s), kept as floats (each value is
// exactly an F16 one): ggml's ggml_vec_mad_f16 and ggml_vec_scale_f16 on an F16 accumulator.
void f16_fma_round_row(float* acc, const float* v, float s, int64_t n);
void f16_scale_round_row(float* acc, float s, int64_t n);

}  // namespace bantam::quant
