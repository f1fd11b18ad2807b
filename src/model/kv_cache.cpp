#include "model/kv_cache.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "quant/quant.hpp"

namespace bantam {

GgmlType kv_cache_type(KvCacheType type) {
  switch (type) {
    case KvCacheType::F32: return GgmlType::F32;
    case KvCacheType::Q8_0: return GgmlType::Q8_0;
    case KvCacheType::F16: break;
  }
  return GgmlType::F16;
}


KvCache::KvCache(const ModelConfig& config, int64_t context, int64_t max_batch, GgmlType type)
    : type_(type), context_(context), n_kv_head_(config.n_head_kv), head_dim_k_(config.head_dim_k),
      head_dim_v_(config.head_dim_v) {
  if (type != GgmlType::F16 && type != GgmlType::F32 && type != GgmlType::Q8_0) {
    throw Error(fmt::format("KV cache type {} is not supported (use f16, f32 or q8_0)", type_name(type)));
  }
  const int64_t block = type_info(type).block_size;
  if (head_dim_k_ % block != 0 || head_dim_v_ % block != 0) {
    throw Error(fmt::format("KV cache type {} needs head sizes that are multiples of {}, the model has {} and {}",
                            type_name(type), block, head_dim_k_, head_dim_v_));
  }
  if (context <= 0 || max_batch <= 0) {
    throw Error(fmt::format("KV cache: context ({}) and batch ({}) must be positive", context, max_batch));
  }
  layers_.resize(config.n_layer);
  for (int il = 0; il < config.n_layer; ++il) {
    Layer& layer = layers_[il];
    // A batch writes all its keys before any of its queries attend, so a sliding layer keeps
    // window - 1 older positions plus the whole batch.
    layer.capacity = config.layer_sliding[il]
                         ? std::min<int64_t>(context, config.sliding_window + max_batch - 1)
                         : context;
    layer.keys.resize(static_cast<size_t>(layer.capacity) * n_kv_head_ * row_bytes(type, head_dim_k_));
    layer.values.resize(static_cast<size_t>(layer.capacity) * n_kv_head_ * row_bytes(type, head_dim_v_));
  }
}

size_t KvCache::bytes() const {
  size_t total = 0;
  for (const auto& layer : layers_) total += layer.keys.size() + layer.values.size();
  return total;
}

void KvCache::write(int layer, int64_t first_pos, int64_t n_tokens, const float* keys, const float* values) {
  if (first_pos < 0 || first_pos + n_tokens > context_) {
    throw Error(fmt::format("KV cache: positions {}..{} exceed the context of {}", first_pos,
                            first_pos + n_tokens - 1, context_));
  }
  Layer& l = layers_[layer];
  const size_t key_bytes = row_bytes(type_, head_dim_k_);
  const size_t value_bytes = row_bytes(type_, head_dim_v_);
  for (int64_t t = 0; t < n_tokens; ++t) {
    const size_t slot = static_cast<size_t>((first_pos + t) % l.capacity);
    for (int h = 0; h < n_kv_head_; ++h) {
      const float* k = keys + (t * n_kv_head_ + h) * head_dim_k_;
      const float* v = values + (t * n_kv_head_ + h) * head_dim_v_;
      quant::quantize_row(type_, k, l.keys.data() + (slot * n_kv_head_ + h) * key_bytes, head_dim_k_);
      quant::quantize_row(type_, v, l.values.data() + (slot * n_kv_head_ + h) * value_bytes, head_dim_v_);
    }
  }
}

std::span<const uint8_t> KvCache::row(int layer, int64_t pos, bool values) const {
  const Layer& l = layers_[layer];
  const size_t width = static_cast<size_t>(n_kv_head_) * row_bytes(type_, values ? head_dim_v_ : head_dim_k_);
  const auto& data = values ? l.values : l.keys;
  return {data.data() + static_cast<size_t>(pos % l.capacity) * width, width};
}

std::span<uint8_t> KvCache::row(int layer, int64_t pos, bool values) {
  const auto view = std::as_const(*this).row(layer, pos, values);
  return {const_cast<uint8_t*>(view.data()), view.size()};
}

ops::KvLayerView KvCache::view(int layer) const {
  const Layer& l = layers_[layer];
  return ops::KvLayerView{.type = type_, .keys = l.keys.data(), .values = l.values.data(),
                          .capacity = l.capacity, .n_kv_head = n_kv_head_, .head_dim_k = head_dim_k_,
                          .head_dim_v = head_dim_v_};
}

}  // namespace bantam
