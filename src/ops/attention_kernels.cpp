#include "ops/attention_kernels.hpp"

#include <algorithm>
#include <cmath>

#include "quant/dot.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace bantam::ops {

namespace {

void key_dots_portable(const float* q, const float* keys_t, int64_t stride, int dk, int64_t n, float* dots) {
  for (int64_t j = 0; j < n; ++j) {
    float dot = 0.0f;
    for (int i = 0; i < dk; ++i) dot = std::fma(q[i], keys_t[i * stride + j], dot);
    dots[j] = dot;
  }
}

void accumulate_values_portable(const float* weights, const float* values, int64_t stride, int64_t n, int dv,
                                float* out) {
  for (int64_t j = 0; j < n; ++j) {
    for (int i = 0; i < dv; ++i) out[i] = std::fma(weights[j], values[j * stride + i], out[i]);
  }
}

#if defined(__x86_64__)
#define BANTAM_AVX2 __attribute__((target("avx2,fma")))

bool use_avx2() {
  const quant::Isa isa = quant::active_isa();
  return isa == quant::Isa::Avx2 || isa == quant::Isa::Avx512 || isa == quant::Isa::Avx512Vnni;
}

// 64 keys in eight vectors: enough independent FMA chains to hide the FMA latency.
BANTAM_AVX2 void key_dots_avx2(const float* q, const float* keys_t, int64_t stride, int dk, int64_t n,
                               float* dots) {
  for (int64_t j0 = 0; j0 < n; j0 += kKeyDotGroup) {
    __m256 acc[8];
    for (auto& a : acc) a = _mm256_setzero_ps();
    for (int i = 0; i < dk; ++i) {
      const float* row = keys_t + i * stride + j0;
      const __m256 qi = _mm256_set1_ps(q[i]);
      for (int v = 0; v < 8; ++v) acc[v] = _mm256_fmadd_ps(qi, _mm256_loadu_ps(row + 8 * v), acc[v]);
    }
    alignas(32) float all[kKeyDotGroup];
    for (int v = 0; v < 8; ++v) _mm256_store_ps(all + 8 * v, acc[v]);
    std::copy(all, all + std::min(kKeyDotGroup, n - j0), dots + j0);
  }
}

// kVecs * 8 output dimensions from `out` held in registers over all the keys.
template <int kVecs>
BANTAM_AVX2 void accumulate_chunk_avx2(const float* weights, const float* values, int64_t stride, int64_t n,
                                       int offset, float* out) {
  __m256 acc[kVecs];
  for (int v = 0; v < kVecs; ++v) acc[v] = _mm256_loadu_ps(out + offset + 8 * v);
  for (int64_t j = 0; j < n; ++j) {
    const __m256 w = _mm256_set1_ps(weights[j]);
    const float* value = values + j * stride + offset;
    for (int v = 0; v < kVecs; ++v) acc[v] = _mm256_fmadd_ps(w, _mm256_loadu_ps(value + 8 * v), acc[v]);
  }
  for (int v = 0; v < kVecs; ++v) _mm256_storeu_ps(out + offset + 8 * v, acc[v]);
}

BANTAM_AVX2 void accumulate_values_avx2(const float* weights, const float* values, int64_t stride, int64_t n,
                                        int dv, float* out) {
  int offset = 0;
  for (; offset + 64 <= dv; offset += 64) accumulate_chunk_avx2<8>(weights, values, stride, n, offset, out);
  for (; offset + 8 <= dv; offset += 8) accumulate_chunk_avx2<1>(weights, values, stride, n, offset, out);
  if (offset == dv) return;
  for (int64_t j = 0; j < n; ++j) {
    for (int i = offset; i < dv; ++i) out[i] = std::fma(weights[j], values[j * stride + i], out[i]);
  }
}
#endif

}  // namespace

void key_dots(const float* q, const float* keys_t, int64_t stride, int dk, int64_t n, float* dots) {
#if defined(__x86_64__)
  if (use_avx2()) return key_dots_avx2(q, keys_t, stride, dk, n, dots);
#endif
  key_dots_portable(q, keys_t, stride, dk, n, dots);
}

void accumulate_values(const float* weights, const float* values, int64_t stride, int64_t n, int dv, float* out) {
#if defined(__x86_64__)
  if (use_avx2()) return accumulate_values_avx2(weights, values, stride, n, dv, out);
#endif
  accumulate_values_portable(weights, values, stride, n, dv, out);
}

}  // namespace bantam::ops
