// Causal multi-head attention of a batch of queries over one layer's KV cache, grouped-query
// aware, with optional sliding window and logit soft-capping.
//
// Two kernels, both with an online softmax (flash-attention style):
//  - fewer than kBlockAttentionMinTokens queries (decode, short prompts): one query at a time
//    as ggml's vector flash-attention kernel computes it (Q converted to the keys' dot type:
//    F16, or Q8_0 for Q8_0/Q4_0 keys, dotted with each stored row by quant::vec_dot; V
//    accumulated in F16 for F16 values, in F32 otherwise);
//  - prompts: blocks of queries (every query head of a KV head's group at several positions)
//    against tiles of keys, everything in F32 (attention_kernels.hpp), any cache type and head size.
// Both read the cache rows in their stored types, a row or a tile of 64 keys at a time: working
// memory does not grow with the context.
#pragma once

#include <cstddef>
#include <cstdint>

#include "format/ggml_type.hpp"
#include "ops/thread_pool.hpp"

namespace bantam::ops {

// One layer's cache: position p lives in slot p % capacity (a ring for sliding-window layers).
struct KvLayerView {
  GgmlType key_type = GgmlType::F16;    // F32, F16, Q8_0 or Q4_0
  GgmlType value_type = GgmlType::F16;  // the same choices, independent of the keys'
  const uint8_t* keys = nullptr;    // [capacity][n_kv_head] rows of head_dim_k
  const uint8_t* values = nullptr;  // [capacity][n_kv_head] rows of head_dim_v
  int64_t capacity = 0;
  int n_kv_head = 0;
  int head_dim_k = 0;
  int head_dim_v = 0;

  size_t key_row_bytes() const { return row_bytes(key_type, head_dim_k); }
  size_t value_row_bytes() const { return row_bytes(value_type, head_dim_v); }
  const uint8_t* key(int64_t pos, int kv_head) const {
    return keys + (static_cast<size_t>(pos % capacity) * n_kv_head + kv_head) * key_row_bytes();
  }
  const uint8_t* value(int64_t pos, int kv_head) const {
    return values + (static_cast<size_t>(pos % capacity) * n_kv_head + kv_head) * value_row_bytes();
  }
};

struct AttentionParams {
  int n_head = 0;
  float scale = 1.0f;    // applied to q.k
  float softcap = 0.0f;  // 0: none; else scores = softcap * tanh(scores / softcap)
  int window = 0;        // 0: full causal; else a query at p sees keys at k with p - k < window
};

// Batches of at least this many queries take the block kernel.
inline constexpr int64_t kBlockAttentionMinTokens = 64;
// Query rows (positions x query heads of one KV head) attended together: their queries, running
// sums and outputs stay in the L1/L2 caches while the block passes over the keys.
inline constexpr int64_t kBlockQueryRows = 48;

// q: [n_tokens][n_head * head_dim_k]; positions: n_tokens ascending positions whose keys and
// values are already in the cache; out: [n_tokens][n_head * head_dim_v].
void attention(const AttentionParams& params, const KvLayerView& kv, const float* q,
               const int64_t* positions, int64_t n_tokens, float* out, ThreadPool& pool);

}  // namespace bantam::ops
