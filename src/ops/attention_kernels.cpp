#include "ops/attention_kernels.hpp"

#include <algorithm>
#include <cmath>

#include "ops/vector_math.hpp"
#include "quant/dot.hpp"

namespace bantam::ops {

// Row by row; the loops over keys run innermost so that they vectorize where the compiler can.
BANTAM_FMA_CLONES void attend_tile_portable(const QueryRows& rows, const KeyTile& tile, float softcap) {
  const int dk = rows.dk, dv = rows.dv;
  float scores[kTileKeys];
  for (int r = 0; r < rows.count; ++r) {
    const int64_t begin = std::max<int64_t>(rows.first_key[r] - tile.first, 0);
    const int64_t end = std::min(rows.last_key[r] - tile.first + 1, tile.count);
    if (begin >= end) continue;
    const float* q = rows.q + static_cast<int64_t>(r) * dk;
    std::fill(scores + begin, scores + end, 0.0f);
    for (int i = 0; i < dk; ++i) {
      const float* dimension = tile.keys_t + i * tile.key_stride;
      for (int64_t j = begin; j < end; ++j) scores[j] = std::fma(q[i], dimension[j], scores[j]);
    }
    if (softcap > 0.0f) {
      for (int64_t j = begin; j < end; ++j) scores[j] = softcap * std::tanh(scores[j]);
    }
    const float tile_max = *std::max_element(scores + begin, scores + end);
    const float new_max = std::max(rows.max[r], tile_max);
    const float rescale = std::exp(rows.max[r] - new_max);  // 0 before the first key
    float sum = 0.0f;
    for (int64_t j = begin; j < end; ++j) {
      scores[j] = std::exp(scores[j] - new_max);
      sum += scores[j];
    }
    rows.max[r] = new_max;
    rows.sum[r] = std::fma(rows.sum[r], rescale, sum);
    float* out = rows.out + static_cast<int64_t>(r) * dv;
    for (int i = 0; i < dv; ++i) out[i] *= rescale;
    for (int64_t j = begin; j < end; ++j) {
      const float* value = tile.values + j * tile.value_stride;
      for (int i = 0; i < dv; ++i) out[i] = std::fma(scores[j], value[i], out[i]);
    }
  }
}

void attend_tile(const QueryRows& rows, const KeyTile& tile, float softcap) {
#if defined(__x86_64__)
  const quant::Isa isa = quant::active_isa();
  if (isa == quant::Isa::Avx512 || isa == quant::Isa::Avx512Vnni) return attend_tile_avx512(rows, tile, softcap);
#endif
  attend_tile_portable(rows, tile, softcap);
}

}  // namespace bantam::ops
