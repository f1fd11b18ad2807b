#include "quant/f16_rows.hpp"

#include <algorithm>
#include <cmath>

#include "quant/dot.hpp"
#include "quant/quant.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace bantam::quant {

namespace {

inline float round_f16(float x) { return fp16_to_fp32(fp32_to_fp16(x)); }

#if defined(__x86_64__)
#define BANTAM_F16C __attribute__((target("avx2,fma,f16c")))

// The AVX2 kernel level is AVX2 + FMA + F16C (dot.cpp detects it; clang 14's
// __builtin_cpu_supports does not know "f16c").
bool has_f16c() {
  static const bool yes = [] {
    const auto isas = available_isas();
    return std::find(isas.begin(), isas.end(), Isa::Avx2) != isas.end();
  }();
  return yes;
}

// _MM_FROUND_TO_NEAREST_INT: round to nearest even, as fp32_to_fp16.
BANTAM_F16C __m256 round_f16x8(__m256 x) { return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT)); }

BANTAM_F16C void to_f32_f16c(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  }
  for (; i < n; ++i) dst[i] = fp16_to_fp32(src[i]);
}

BANTAM_F16C void to_f16_f16c(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) dst[i] = fp32_to_fp16(src[i]);
}

BANTAM_F16C void fma_round_f16c(float* acc, const float* v, float s, int64_t n) {
  const __m256 scale = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 sum = _mm256_fmadd_ps(_mm256_loadu_ps(v + i), scale, _mm256_loadu_ps(acc + i));
    _mm256_storeu_ps(acc + i, round_f16x8(sum));
  }
  for (; i < n; ++i) acc[i] = round_f16(std::fma(v[i], s, acc[i]));
}

BANTAM_F16C void scale_round_f16c(float* acc, float s, int64_t n) {
  const __m256 scale = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(acc + i, round_f16x8(_mm256_mul_ps(_mm256_loadu_ps(acc + i), scale)));
  for (; i < n; ++i) acc[i] = round_f16(acc[i] * s);
}
#endif

}  // namespace

void f16_to_f32_row(const uint16_t* src, float* dst, int64_t n) {
#if defined(__x86_64__)
  if (has_f16c()) return to_f32_f16c(src, dst, n);
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(src[i]);
}

void f32_to_f16_row(const float* src, uint16_t* dst, int64_t n) {
#if defined(__x86_64__)
  if (has_f16c()) return to_f16_f16c(src, dst, n);
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] = fp32_to_fp16(src[i]);
}

void f16_fma_round_row(float* acc, const float* v, float s, int64_t n) {
#if defined(__x86_64__)
  if (has_f16c()) return fma_round_f16c(acc, v, s, n);
#endif
  for (int64_t i = 0; i < n; ++i) acc[i] = round_f16(std::fma(v[i], s, acc[i]));
}

void f16_scale_round_row(float* acc, float s, int64_t n) {
#if defined(__x86_64__)
  if (has_f16c()) return scale_round_f16c(acc, s, n);
#endif
  for (int64_t i = 0; i < n; ++i) acc[i] = round_f16(acc[i] * s);
}

}  // namespace bantam::quant
