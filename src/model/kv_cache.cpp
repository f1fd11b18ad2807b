#include "model/kv_cache.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <utility>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "quant/quant.hpp"

namespace bantam {

namespace {

GgmlType stored_type(KvCacheType type) {
  switch (type) {
    case KvCacheType::F32: return GgmlType::F32;
    case KvCacheType::Q8_0: return GgmlType::Q8_0;
    case KvCacheType::Q4_0: return GgmlType::Q4_0;
    case KvCacheType::F16: break;
  }
  return GgmlType::F16;
}

// A block type needs whole blocks per head; else the head stays F16 (llama.cpp refuses such a
// cache instead; a note keeps the model usable with the flag it was asked for).
GgmlType fitting_type(KvCacheType requested, int head_dim, const char* what) {
  const GgmlType type = stored_type(requested);
  const int64_t block = type_info(type).block_size;
  if (head_dim % block == 0) return type;
  static std::atomic<bool> noted{false};
  if (!noted.exchange(true)) {
    fmt::print(stderr, "bantam: note: the {} cache stays f16: {} needs head sizes that are multiples of {}, this "
                       "model's are {}\n", what, type_name(type), block, head_dim);
  }
  return GgmlType::F16;
}

void check_row_type(GgmlType type, int head_dim) {
  if (type != GgmlType::F16 && type != GgmlType::F32 && type != GgmlType::Q8_0 && type != GgmlType::Q4_0) {
    throw Error(fmt::format("KV cache type {} is not supported (use f16, f32, q8_0 or q4_0)", type_name(type)));
  }
  const int64_t block = type_info(type).block_size;
  if (head_dim % block != 0) {
    throw Error(fmt::format("KV cache type {} needs head sizes that are multiples of {}, the model has {}",
                            type_name(type), block, head_dim));
  }
}

}  // namespace

std::string_view kv_cache_type_name(KvCacheType type) {
  switch (type) {
    case KvCacheType::F32: return "f32";
    case KvCacheType::Q8_0: return "q8_0";
    case KvCacheType::Q4_0: return "q4_0";
    case KvCacheType::F16: break;
  }
  return "f16";
}

KvRowTypes kv_row_types(const ModelConfig& config, KvCacheTypes types) {
  return {fitting_type(types.keys, config.head_dim_k, "key"), fitting_type(types.values, config.head_dim_v, "value")};
}

KvCache::KvCache(const ModelConfig& config, int64_t context, int64_t max_batch, KvRowTypes types)
    : types_(types), context_(context), n_kv_head_(config.n_head_kv), head_dim_k_(config.head_dim_k),
      head_dim_v_(config.head_dim_v) {
  check_row_type(types.keys, head_dim_k_);
  check_row_type(types.values, head_dim_v_);
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
    layer.keys.resize(static_cast<size_t>(layer.capacity) * n_kv_head_ * row_bytes(types.keys, head_dim_k_));
    layer.values.resize(static_cast<size_t>(layer.capacity) * n_kv_head_ * row_bytes(types.values, head_dim_v_));
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
  const size_t key_bytes = row_bytes(types_.keys, head_dim_k_);
  const size_t value_bytes = row_bytes(types_.values, head_dim_v_);
  for (int64_t t = 0; t < n_tokens; ++t) {
    const size_t slot = static_cast<size_t>((first_pos + t) % l.capacity);
    for (int h = 0; h < n_kv_head_; ++h) {
      const float* k = keys + (t * n_kv_head_ + h) * head_dim_k_;
      const float* v = values + (t * n_kv_head_ + h) * head_dim_v_;
      quant::quantize_row(types_.keys, k, l.keys.data() + (slot * n_kv_head_ + h) * key_bytes, head_dim_k_);
      quant::quantize_row(types_.values, v, l.values.data() + (slot * n_kv_head_ + h) * value_bytes, head_dim_v_);
    }
  }
}

std::span<const uint8_t> KvCache::row(int layer, int64_t pos, bool values) const {
  const Layer& l = layers_[layer];
  const size_t width = static_cast<size_t>(n_kv_head_) * (values ? row_bytes(types_.values, head_dim_v_) : row_bytes(types_.keys, head_dim_k_));
  const auto& data = values ? l.values : l.keys;
  return {data.data() + static_cast<size_t>(pos % l.capacity) * width, width};
}

std::span<uint8_t> KvCache::row(int layer, int64_t pos, bool values) {
  const auto view = std::as_const(*this).row(layer, pos, values);
  return {const_cast<uint8_t*>(view.data()), view.size()};
}

ops::KvLayerView KvCache::view(int layer) const {
  const Layer& l = layers_[layer];
  return ops::KvLayerView{.key_type = types_.keys, .value_type = types_.values, .keys = l.keys.data(), .values = l.values.data(),
                          .capacity = l.capacity, .n_kv_head = n_kv_head_, .head_dim_k = head_dim_k_,
                          .head_dim_v = head_dim_v_};
}

}  // namespace bantam
