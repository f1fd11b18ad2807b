#include "ops/attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "ops/attention_kernels.hpp"
#include "ops/vector_math.hpp"
#include "quant/dot.hpp"
#include "quant/f16_rows.hpp"
#include "quant/quant.hpp"

namespace bantam::ops {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Keys visible to a query at `pos`: [first, pos].
int64_t first_visible(const AttentionParams& params, int64_t pos) {
  return params.window > 0 ? std::max<int64_t>(0, pos - params.window + 1) : 0;
}

float capped_score(const AttentionParams& params, float dot) {
  if (params.softcap == 0.0f) return dot * params.scale;
  // ggml folds 1/softcap into the scale before the tanh.
  const float scale = params.scale / params.softcap;
  return params.softcap * std::tanh(dot * scale);
}

// One cache row as floats: F32 rows where they lie, others converted into `buffer` (exactly for
// F16; Q8_0/Q4_0 dequantized).
const float* row_as_floats(GgmlType type, const uint8_t* row, int n, float* buffer) {
  if (type == GgmlType::F32) return reinterpret_cast<const float*>(row);
  quant::dequantize_row(type, row, buffer, n);
  return buffer;
}

bool quantized(GgmlType type) { return type != GgmlType::F32 && type != GgmlType::F16; }

// ggml's F16 dot in an AVX-512 build: 64-wide steps into four 16-lane accumulators, reduced
// pairwise (0+2, 1+3, then 0+1, then over the lanes) in F32, and the rest summed in double.
// F16 x F16 products are exact in F32, so only the order of the sums matters.
BANTAM_FMA_CLONES float ggml_f16_dot(const float* a, const float* b, int n) {
  constexpr int kLanes = static_cast<int>(kVectorExpLanes), kStep = 4 * kLanes;
  const int steps_end = n & ~(kStep - 1);
  double sum = 0.0;
  if (steps_end > 0) {
    float acc[4][kLanes] = {};
    for (int i = 0; i < steps_end; i += kStep) {
      for (int j = 0; j < 4; ++j) {
        for (int l = 0; l < kLanes; ++l) {
          acc[j][l] = std::fma(a[i + j * kLanes + l], b[i + j * kLanes + l], acc[j][l]);
        }
      }
    }
    float lanes[kLanes];
    for (int l = 0; l < kLanes; ++l) lanes[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    sum = lane_tree_sum(lanes);
  }
  for (int i = steps_end; i < n; ++i) sum += static_cast<double>(a[i] * b[i]);
  return static_cast<float>(sum);
}

// Working memory of one query on the decode path (thread-local: one per thread of the pool).
struct QueryScratch {
  std::vector<float> q_rounded, acc, key, value;
  std::vector<uint8_t> q_blocks;
};

// One query against its visible keys, online softmax as ggml's vector flash-attention kernel:
// Q in the keys' dot type (F16 keys: rounded to F16 and dotted in F32; Q8_0/Q4_0 keys: quantized
// to Q8_0 once and dotted with each stored row by quant::vec_dot, ggml's integer dot), V
// accumulated in F16 when the values are F16.
BANTAM_FMA_CLONES void attend_vector(const AttentionParams& params, const KvLayerView& kv, const float* q,
                                     int64_t pos, int kv_head, float* out, QueryScratch& scratch) {
  const int dk = kv.head_dim_k;
  const int dv = kv.head_dim_v;
  scratch.q_rounded.resize(static_cast<size_t>(dk));
  scratch.acc.resize(static_cast<size_t>(dv));
  scratch.key.resize(static_cast<size_t>(dk));
  scratch.value.resize(static_cast<size_t>(dv));
  float* q_rounded = scratch.q_rounded.data();
  float* acc = scratch.acc.data();
  const bool integer_dot = quantized(kv.key_type);
  if (integer_dot) {
    const GgmlType dot_type = quant::vec_dot_type(kv.key_type);
    scratch.q_blocks.resize(quant::activation_bytes(dot_type, dk));
    quant::quantize_activations(dot_type, q, scratch.q_blocks.data(), dk);
  } else if (kv.key_type == GgmlType::F16) {
    scratch.q_blocks.resize(row_bytes(GgmlType::F16, dk));
    quant::quantize_row(GgmlType::F16, q, scratch.q_blocks.data(), dk);
    quant::dequantize_row(GgmlType::F16, scratch.q_blocks.data(), q_rounded, dk);
  } else {
    std::copy(q, q + dk, q_rounded);
  }
  // With F16 values ggml accumulates V in F16: `acc` then holds F16 values (as floats).
  const bool f16_accumulator = kv.value_type == GgmlType::F16;
  std::fill(acc, acc + dv, 0.0f);

  float max_score = kNegInf;
  float sum = 0.0f;
  for (int64_t p = first_visible(params, pos); p <= pos; ++p) {
    const uint8_t* key_row = kv.key(p, kv_head);
    const float dot = integer_dot ? quant::vec_dot(kv.key_type, dk, key_row, scratch.q_blocks.data())
                                  : ggml_f16_dot(row_as_floats(kv.key_type, key_row, dk, scratch.key.data()),
                                                 q_rounded, dk);
    const float s = capped_score(params, dot);

    float ms = 1.0f;  // rescales what was accumulated when a new maximum appears
    float vs = 1.0f;  // this key's weight exp(s - max)
    if (s > max_score) {
      ms = std::exp(max_score - s);
      max_score = s;
      if (f16_accumulator) {
        quant::f16_scale_round_row(acc, ms, dv);
      } else {
        for (int i = 0; i < dv; ++i) acc[i] *= ms;
      }
    } else {
      vs = std::exp(s - max_score);
    }
    const float* value = row_as_floats(kv.value_type, kv.value(p, kv_head), dv, scratch.value.data());
    if (f16_accumulator) {
      quant::f16_fma_round_row(acc, value, vs, dv);
    } else {
      for (int i = 0; i < dv; ++i) acc[i] = std::fma(value[i], vs, acc[i]);
    }
    sum = std::fma(sum, ms, vs);  // ggml's S*ms + vs, contracted by the compiler
  }
  const float inverse = sum == 0.0f ? 0.0f : 1.0f / sum;
  for (int i = 0; i < dv; ++i) out[i] = acc[i] * inverse;
}

// Working memory of one block of queries (thread-local: one per thread of the pool).
struct QueryBlock {
  std::vector<float> q, out, max, sum;
  std::vector<int64_t> first_key, last_key;
  // The tile of keys being attended, as floats: keys transposed ([dim][kTileKeys], zero past the
  // tile's last key) and values ([kTileKeys][dv]); `row` converts one key.
  std::vector<float> keys_t, values, row;
};

// Converts keys first_pos .. first_pos + count - 1 of KV head `kv_head` into the block's tile.
// Every block converts the tiles it reads: a tile is one key row per 48 query rows of work, and
// no copy of the cache grows with the context.
void load_tile(const KvLayerView& kv, int64_t first_pos, int64_t count, int kv_head, QueryBlock& block) {
  const int dk = kv.head_dim_k, dv = kv.head_dim_v;
  block.keys_t.resize(static_cast<size_t>(dk * kTileKeys));
  block.values.resize(static_cast<size_t>(dv * kTileKeys));
  block.row.resize(static_cast<size_t>(dk));
  for (int64_t j = 0; j < count; ++j) {
    const float* key = row_as_floats(kv.key_type, kv.key(first_pos + j, kv_head), dk, block.row.data());
    for (int i = 0; i < dk; ++i) block.keys_t[static_cast<size_t>(i * kTileKeys + j)] = key[i];
    float* value = block.values.data() + j * dv;
    const float* converted = row_as_floats(kv.value_type, kv.value(first_pos + j, kv_head), dv, value);
    if (converted != value) std::copy(converted, converted + dv, value);
  }
  if (count < kTileKeys) {  // the kernel reads whole tiles of keys
    for (int i = 0; i < dk; ++i) {
      std::fill_n(block.keys_t.begin() + i * kTileKeys + count, kTileKeys - count, 0.0f);
    }
  }
}

// The queries of tokens [t_begin, t_end) on all query heads of KV head `kv_head`, together: one
// row per (token, head of the group), token-major, so first and last visible keys never decrease
// from row to row. Each tile of keys is loaded once for all the rows; only tiles on the causal
// diagonal or the window's edge have keys some rows do not see, and the kernel masks those.
// Key indices count from `first`, the first position any query of the batch sees.
void attend_block(const AttentionParams& params, const KvLayerView& kv, int64_t first, const float* q,
                  const int64_t* positions, int64_t t_begin, int64_t t_end, int kv_head, float* out,
                  QueryBlock& block) {
  const int dk = kv.head_dim_k, dv = kv.head_dim_v;
  const int group = params.n_head / kv.n_kv_head;
  const int64_t n_rows = (t_end - t_begin) * group;
  block.q.resize(static_cast<size_t>(n_rows * dk));
  block.out.assign(static_cast<size_t>(n_rows * dv), 0.0f);
  block.max.assign(static_cast<size_t>(n_rows), kNegInf);
  block.sum.assign(static_cast<size_t>(n_rows), 0.0f);
  block.first_key.resize(static_cast<size_t>(n_rows));
  block.last_key.resize(static_cast<size_t>(n_rows));
  // The kernel takes the scores' scale (or, soft-capped, the scale over the cap) folded into q.
  const float q_scale = params.softcap == 0.0f ? params.scale : params.scale / params.softcap;
  const int64_t q_stride = static_cast<int64_t>(params.n_head) * dk;
  for (int64_t t = t_begin; t < t_end; ++t) {
    for (int g = 0; g < group; ++g) {
      const int64_t row = (t - t_begin) * group + g;
      const float* q_head = q + t * q_stride + static_cast<int64_t>(kv_head * group + g) * dk;
      for (int i = 0; i < dk; ++i) block.q[static_cast<size_t>(row * dk + i)] = q_head[i] * q_scale;
      block.first_key[static_cast<size_t>(row)] = first_visible(params, positions[t]) - first;
      block.last_key[static_cast<size_t>(row)] = positions[t] - first;
    }
  }
  const int64_t n_keys = positions[t_end - 1] + 1 - first;
  for (int64_t tile = block.first_key[0] / kTileKeys * kTileKeys; tile <= block.last_key.back();
       tile += kTileKeys) {
    const int64_t tile_keys = std::min(kTileKeys, n_keys - tile);
    bool loaded = false;  // converted when the first rows that see the tile come
    for (int64_t r = 0; r < n_rows; r += kTileRows) {
      const int count = static_cast<int>(std::min<int64_t>(kTileRows, n_rows - r));
      const size_t at = static_cast<size_t>(r);
      // Rows r.. see keys from first_key[r] on and up to last_key[r + count - 1] at most.
      if (block.first_key[at] >= tile + kTileKeys || block.last_key[at + static_cast<size_t>(count) - 1] < tile) {
        continue;
      }
      if (!loaded) {
        load_tile(kv, first + tile, tile_keys, kv_head, block);
        loaded = true;
      }
      const KeyTile keys{.first = tile, .count = tile_keys, .keys_t = block.keys_t.data(), .key_stride = kTileKeys,
                         .values = block.values.data(), .value_stride = dv};
      const QueryRows query_rows{.count = count, .dk = dk, .dv = dv,
                                 .q = block.q.data() + r * dk,
                                 .first_key = block.first_key.data() + r,
                                 .last_key = block.last_key.data() + r,
                                 .max = block.max.data() + r,
                                 .sum = block.sum.data() + r,
                                 .out = block.out.data() + r * dv};
      attend_tile(query_rows, keys, params.softcap);
    }
  }
  const int64_t out_stride = static_cast<int64_t>(params.n_head) * dv;
  for (int64_t row = 0; row < n_rows; ++row) {
    const int64_t t = t_begin + row / group;
    const int head = kv_head * group + static_cast<int>(row % group);
    const float sum = block.sum[static_cast<size_t>(row)];
    const float inverse = sum == 0.0f ? 0.0f : 1.0f / sum;
    const float* from = block.out.data() + row * dv;
    float* to = out + t * out_stride + static_cast<int64_t>(head) * dv;
    for (int i = 0; i < dv; ++i) to[i] = from[i] * inverse;
  }
}

}  // namespace

void attention(const AttentionParams& params, const KvLayerView& kv, const float* q,
               const int64_t* positions, int64_t n_tokens, float* out, ThreadPool& pool) {
  if (params.n_head % kv.n_kv_head != 0) {
    throw Error(fmt::format("attention: {} query heads do not group over {} kv heads", params.n_head,
                            kv.n_kv_head));
  }
  const int group = params.n_head / kv.n_kv_head;
  const int64_t first = first_visible(params, positions[0]);
  if (n_tokens >= kBlockAttentionMinTokens) {
    const int64_t block_tokens = std::max<int64_t>(1, kBlockQueryRows / group);
    const int64_t n_blocks = (n_tokens + block_tokens - 1) / block_tokens;
    // Later blocks see more keys: they are handed out first, so that no thread is left with a
    // long block at the end.
    pool.parallel_for(n_blocks * kv.n_kv_head, 1, [&](int64_t begin, int64_t end) {
      thread_local QueryBlock block;
      for (int64_t item = begin; item < end; ++item) {
        const int64_t t_begin = (n_blocks - 1 - item / kv.n_kv_head) * block_tokens;
        attend_block(params, kv, first, q, positions, t_begin, std::min(n_tokens, t_begin + block_tokens),
                     static_cast<int>(item % kv.n_kv_head), out, block);
      }
    });
    return;
  }
  const int64_t q_stride = static_cast<int64_t>(params.n_head) * kv.head_dim_k;
  const int64_t out_stride = static_cast<int64_t>(params.n_head) * kv.head_dim_v;
  pool.parallel_for(n_tokens * params.n_head, 1, [&](int64_t begin, int64_t end) {
    thread_local QueryScratch scratch;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / params.n_head;
      const int h = static_cast<int>(item % params.n_head);
      attend_vector(params, kv, q + t * q_stride + static_cast<int64_t>(h) * kv.head_dim_k, positions[t],
                    h / group, out + t * out_stride + static_cast<int64_t>(h) * kv.head_dim_v, scratch);
    }
  });
}

}  // namespace bantam::ops
