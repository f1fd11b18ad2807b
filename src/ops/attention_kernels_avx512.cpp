// attend_tile for AVX-512 F: kTileRows query rows x kTileKeys keys of scores in registers (a
// small GEMM over the transposed keys: one load of each key vector serves every row), a
// polynomial exp, and the values accumulated into kTileRows x 64 output lanes held in registers.
#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/attention_kernels.hpp"

// Compiled for AVX-512 whatever the build's baseline; attend_tile only calls it where it runs.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
// GCC 12 flags the deliberately undefined pass-through operands inside its own AVX-512
// intrinsics as uninitialized: a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx2,fma")
#endif

namespace bantam::ops {

namespace {

constexpr int kKeyVectors = static_cast<int>(kTileKeys) / 16;
constexpr int kValueVectors = 4;  // output lanes per pass over the tile's values: 64

// exp(x) for x <= 0 (softmax weights): n = round(x / ln 2), b = x - n ln 2 in two steps, e^b by
// a degree-5 polynomial (the one vector_math.hpp uses, within 1.5 ulp of expf), scaled by 2^n.
// Below -87 (e^x under the smallest normal float, and -inf) the result is 0, so that no
// subnormal weight reaches the FMAs.
__m512 exp_nonpositive(__m512 x) {
  const __m512 floor = _mm512_set1_ps(-87.0f);
  const __mmask16 normal = _mm512_cmp_ps_mask(x, floor, _CMP_GE_OQ);
  x = _mm512_max_ps(x, floor);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(0x1.715476p+0f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x);
  b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f), b);
  const __m512 u = _mm512_mul_ps(b, b);
  const __m512 high = _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)),
                                      u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f)));
  const __m512 j = _mm512_fmadd_ps(high, u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
  return _mm512_maskz_scalef_ps(normal, j, n);
}

// Lanes l of a 16-lane group starting at `offset` with begin <= offset + l < end.
__mmask16 lanes_between(int64_t begin, int64_t end, int64_t offset) {
  const int64_t lo = std::clamp<int64_t>(begin - offset, 0, 16);
  const int64_t hi = std::clamp<int64_t>(end - offset, 0, 16);
  const uint32_t below_hi = (1u << hi) - 1u, below_lo = (1u << lo) - 1u;
  return static_cast<__mmask16>(below_hi & ~below_lo);
}

template <int kRows>
void attend_rows(const QueryRows& rows, const KeyTile& tile, float softcap) {
  const int dk = rows.dk, dv = rows.dv;
  __m512 s[kRows][kKeyVectors];
  for (auto& row : s) {
    for (auto& v : row) v = _mm512_setzero_ps();
  }
  const float* dimension = tile.keys_t;
  for (int i = 0; i < dk; ++i, dimension += tile.key_stride) {
    __m512 k[kKeyVectors];
    for (int v = 0; v < kKeyVectors; ++v) k[v] = _mm512_loadu_ps(dimension + 16 * v);
    for (int r = 0; r < kRows; ++r) {
      const __m512 q = _mm512_set1_ps(rows.q[r * dk + i]);
      for (int v = 0; v < kKeyVectors; ++v) s[r][v] = _mm512_fmadd_ps(q, k[v], s[r][v]);
    }
  }

  // Softmax weights of the tile, 0 for the keys a row does not see.
  alignas(64) float weights[kRows][kTileKeys];
  float rescale[kRows];
  int64_t keys_begin = tile.count, keys_end = 0;  // the keys any row sees
  for (int r = 0; r < kRows; ++r) {
    const int64_t begin = std::max<int64_t>(rows.first_key[r] - tile.first, 0);
    const int64_t end = std::min(rows.last_key[r] - tile.first + 1, tile.count);
    rescale[r] = 1.0f;
    if (begin >= end) {
      std::fill(weights[r], weights[r] + kTileKeys, 0.0f);
      continue;
    }
    keys_begin = std::min(keys_begin, begin);
    keys_end = std::max(keys_end, end);
    if (softcap > 0.0f) {  // Gemma 2 only: scalar tanh on the row's scores
      for (int v = 0; v < kKeyVectors; ++v) _mm512_store_ps(weights[r] + 16 * v, s[r][v]);
      for (int64_t j = begin; j < end; ++j) weights[r][j] = softcap * std::tanh(weights[r][j]);
      for (int v = 0; v < kKeyVectors; ++v) s[r][v] = _mm512_load_ps(weights[r] + 16 * v);
    }
    __mmask16 seen[kKeyVectors];
    __m512 max = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    for (int v = 0; v < kKeyVectors; ++v) {
      seen[v] = lanes_between(begin, end, 16 * v);
      max = _mm512_mask_max_ps(max, seen[v], max, s[r][v]);
    }
    const float new_max = std::max(rows.max[r], _mm512_reduce_max_ps(max));
    rescale[r] = std::exp(rows.max[r] - new_max);  // 0 before the first key
    rows.max[r] = new_max;
    const __m512 shift = _mm512_set1_ps(new_max);
    __m512 sum = _mm512_setzero_ps();
    for (int v = 0; v < kKeyVectors; ++v) {
      const __m512 w = _mm512_maskz_mov_ps(seen[v], exp_nonpositive(_mm512_sub_ps(s[r][v], shift)));
      _mm512_store_ps(weights[r] + 16 * v, w);
      sum = _mm512_add_ps(sum, w);
    }
    rows.sum[r] = std::fma(rows.sum[r], rescale[r], _mm512_reduce_add_ps(sum));
  }
  if (keys_begin >= keys_end) return;

  for (int offset = 0; offset < dv; offset += 16 * kValueVectors) {
    __mmask16 lanes[kValueVectors];
    for (int u = 0; u < kValueVectors; ++u) lanes[u] = lanes_between(0, dv, offset + 16 * u);
    __m512 acc[kRows][kValueVectors];
    for (int r = 0; r < kRows; ++r) {
      const __m512 scale = _mm512_set1_ps(rescale[r]);
      const float* out = rows.out + r * dv + offset;
      for (int u = 0; u < kValueVectors; ++u) {
        acc[r][u] = _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes[u], out + 16 * u), scale);
      }
    }
    for (int64_t j = keys_begin; j < keys_end; ++j) {
      const float* value = tile.values + j * tile.value_stride + offset;
      __m512 v[kValueVectors];
      for (int u = 0; u < kValueVectors; ++u) v[u] = _mm512_maskz_loadu_ps(lanes[u], value + 16 * u);
      for (int r = 0; r < kRows; ++r) {
        const __m512 w = _mm512_set1_ps(weights[r][j]);
        for (int u = 0; u < kValueVectors; ++u) acc[r][u] = _mm512_fmadd_ps(w, v[u], acc[r][u]);
      }
    }
    for (int r = 0; r < kRows; ++r) {
      float* out = rows.out + r * dv + offset;
      for (int u = 0; u < kValueVectors; ++u) _mm512_mask_storeu_ps(out + 16 * u, lanes[u], acc[r][u]);
    }
  }
}

}  // namespace

void attend_tile_avx512(const QueryRows& rows, const KeyTile& tile, float softcap) {
  static_assert(kTileRows == 6, "one case per row count below");
  switch (rows.count) {
    case 1: return attend_rows<1>(rows, tile, softcap);
    case 2: return attend_rows<2>(rows, tile, softcap);
    case 3: return attend_rows<3>(rows, tile, softcap);
    case 4: return attend_rows<4>(rows, tile, softcap);
    case 5: return attend_rows<5>(rows, tile, softcap);
    case 6: return attend_rows<6>(rows, tile, softcap);
    default: return;
  }
}

}  // namespace bantam::ops

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif
#endif  // __x86_64__
