// KvCache::shift: the context shift's cache side. Positions move down and their keys turn by the
// difference of RoPE angles (ops/rope_shift.hpp), so no forward pass is repeated.
#include <algorithm>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "model/kv_cache.hpp"
#include "ops/rope_shift.hpp"
#include "quant/quant.hpp"

namespace bantam {

int64_t KvCache::max_discard(int64_t n_past, int64_t keep) const {
  int64_t most = n_past - keep;
  for (const Layer& layer : layers_) {
    // A ring holding fewer positions than the sequence keeps only its last `capacity`; after the
    // shift the ring's slots must all hold moved positions, since the kept ones it overwrote are
    // gone and a window could reach them again.
    if (n_past > layer.capacity) most = std::min(most, n_past - layer.capacity - keep);
  }
  return std::max<int64_t>(0, most);
}

void KvCache::shift(int64_t n_past, int64_t keep, int64_t discard, const ops::RopeParams& rope) {
  if (n_past > context_ || keep < 0 || discard <= 0 || discard > max_discard(n_past, keep)) {
    throw Error(fmt::format("KV cache: cannot drop {} positions after the first {} of {} (at most {})", discard, keep,
                            n_past, max_discard(n_past, keep)));
  }
  if (rope.n_rot > head_dim_k_ || rope.n_rot % 2 != 0) {
    throw Error(fmt::format("KV cache shift: {} rotated dimensions do not fit heads of {}", rope.n_rot, head_dim_k_));
  }
  const int64_t n_after = n_past - discard;
  const int64_t moved = n_after - keep;
  // One rotation table per moved position, shared by every layer and head.
  std::vector<float> tables(static_cast<size_t>(moved * rope.n_rot));
  for (int64_t p = keep; p < n_after; ++p) {
    ops::rope_shift_cos_sin(rope, p + discard, p, tables.data() + (p - keep) * rope.n_rot);
  }
  const size_t key_width = static_cast<size_t>(n_kv_head_) * row_bytes(types_.keys, head_dim_k_);
  const size_t value_width = static_cast<size_t>(n_kv_head_) * row_bytes(types_.values, head_dim_v_);
  const size_t head_bytes = row_bytes(types_.keys, head_dim_k_);
  std::vector<float> head(static_cast<size_t>(head_dim_k_));
  std::vector<uint8_t> keys, values;
  for (Layer& layer : layers_) {
    // The new positions this layer holds: all moved ones, or a ring's last `capacity`.
    const int64_t first = std::max(keep, n_after - layer.capacity);
    if (first >= n_after) continue;
    const auto rows = static_cast<size_t>(n_after - first);
    // Gathered first: in a ring a destination slot may still be another row's source.
    keys.resize(rows * key_width);
    values.resize(rows * value_width);
    for (int64_t p = first; p < n_after; ++p) {
      const auto from = static_cast<size_t>((p + discard) % layer.capacity);
      const auto i = static_cast<size_t>(p - first);
      std::memcpy(keys.data() + i * key_width, layer.keys.data() + from * key_width, key_width);
      std::memcpy(values.data() + i * value_width, layer.values.data() + from * value_width, value_width);
    }
    for (int64_t p = first; p < n_after; ++p) {
      const auto to = static_cast<size_t>(p % layer.capacity);
      const auto i = static_cast<size_t>(p - first);
      const float* table = tables.data() + (p - keep) * rope.n_rot;
      for (int h = 0; h < n_kv_head_; ++h) {
        const uint8_t* src = keys.data() + i * key_width + static_cast<size_t>(h) * head_bytes;
        quant::dequantize_row(types_.keys, src, head.data(), head_dim_k_);
        ops::rope_apply(rope, table, head.data(), 1, head_dim_k_);
        quant::quantize_row(types_.keys, head.data(), layer.keys.data() + to * key_width + h * head_bytes, head_dim_k_);
      }
      std::memcpy(layer.values.data() + to * value_width, values.data() + i * value_width, value_width);
    }
  }
}

}  // namespace bantam
