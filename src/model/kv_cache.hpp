// Keys and values of one sequence, per layer, stored as F16 by default (llama.cpp's default, so
// attention reads the same rounded values), or F32 / Q8_0 / Q4_0, keys and values each in their
// own type. Sliding-window layers keep a ring of window + batch - 1 slots: their memory is
// bounded by the window, not the context.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "bantam/bantam.hpp"
#include "format/ggml_type.hpp"
#include "model/config.hpp"
#include "ops/attention.hpp"
#include "ops/ops.hpp"

namespace bantam {

// "f16", "f32", "q8_0" or "q4_0", as the command-line options spell them.
std::string_view kv_cache_type_name(KvCacheType type);

// The stored types of keys and values.
struct KvRowTypes {
  GgmlType keys = GgmlType::F16;
  GgmlType values = GgmlType::F16;
};

// The stored types for the public option on this model: a block type (Q8_0, Q4_0) where the head
// size is a multiple of its block, else F16, said once per process on stderr.
KvRowTypes kv_row_types(const ModelConfig& config, KvCacheTypes types);

class KvCache {
 public:
  // context: positions the sequence may reach; max_batch: most tokens written in one forward.
  KvCache(const ModelConfig& config, int64_t context, int64_t max_batch, KvRowTypes types = {});

  int64_t context() const { return context_; }
  KvRowTypes types() const { return types_; }
  int64_t capacity(int layer) const { return layers_[layer].capacity; }
  size_t bytes() const;

  // Stores n_tokens rows of keys [n_kv_head * head_dim_k] and values at consecutive positions.
  void write(int layer, int64_t first_pos, int64_t n_tokens, const float* keys, const float* values);
  ops::KvLayerView view(int layer) const;
  // One position's keys or values (every KV head, in the stored type) where the layer's ring
  // keeps them: what saving and restoring a sequence copies.
  std::span<const uint8_t> row(int layer, int64_t pos, bool values) const;
  std::span<uint8_t> row(int layer, int64_t pos, bool values);
  int layers() const { return static_cast<int>(layers_.size()); }

  // Context shift (kv_shift.cpp): of a sequence of n_past positions, [keep, keep + discard) are
  // dropped and the later ones move down by `discard`, their keys re-rotated for their new
  // positions with `rope` (stored types other than F32 dequantized, rotated, quantized again);
  // values move as they are. Error when discard exceeds max_discard().
  void shift(int64_t n_past, int64_t keep, int64_t discard, const ops::RopeParams& rope);
  // The most positions shift() may drop after `keep`: all of them, less where a sliding layer's
  // ring has overwritten kept positions that the shorter sequence's window would reach again.
  int64_t max_discard(int64_t n_past, int64_t keep) const;

 private:
  struct Layer {
    int64_t capacity = 0;
    std::vector<uint8_t> keys;
    std::vector<uint8_t> values;
  };
  KvRowTypes types_;
  int64_t context_;
  int n_kv_head_, head_dim_k_, head_dim_v_;
  std::vector<Layer> layers_;
};

}  // namespace bantam
