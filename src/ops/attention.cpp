#include "ops/attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "ops/attention_kernels.hpp"
#include "ops/vector_math.hpp"
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

// The cache rows a batch reads, converted to F32 once (F16 and Q8_0 values convert exactly):
// [position - first][kv_head][head_dim].
// For the block kernel also the keys transposed per KV head, [kv_head][dim][position - first],
// keys_t_stride floats per dimension (padded with zeros past the last position).
struct FloatRows {
  int64_t first = 0;
  std::vector<float> keys, values, keys_t;
  int64_t keys_t_stride = 0;
  const float* transposed_keys(const KvLayerView& kv, int64_t pos, int h) const {
    return keys_t.data() + static_cast<int64_t>(h) * keys_t_stride * kv.head_dim_k + (pos - first);
  }
  const float* key(const KvLayerView& kv, int64_t pos, int h) const {
    return keys.data() + ((pos - first) * kv.n_kv_head + h) * kv.head_dim_k;
  }
  const float* value(const KvLayerView& kv, int64_t pos, int h) const {
    return values.data() + ((pos - first) * kv.n_kv_head + h) * kv.head_dim_v;
  }
};

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

// One query against its visible keys, online softmax as ggml's vector flash-attention kernel:
// Q in the key's dot type, V accumulated in F16 when the cache is F16.
BANTAM_FMA_CLONES void attend_vector(const AttentionParams& params, const KvLayerView& kv, const FloatRows& rows,
                   const float* q, int64_t pos, int kv_head, float* out, std::vector<float>& scratch) {
  const int dk = kv.head_dim_k;
  const int dv = kv.head_dim_v;
  scratch.resize(static_cast<size_t>(dk + dv));
  float* q_rounded = scratch.data();
  float* acc = q_rounded + dk;
  thread_local std::vector<uint8_t> q_blocks;
  q_blocks.resize(row_bytes(kv.type, dk));
  if (kv.type == GgmlType::F32) {
    std::copy(q, q + dk, q_rounded);
  } else {
    quant::quantize_row(kv.type, q, q_blocks.data(), dk);
    quant::dequantize_row(kv.type, q_blocks.data(), q_rounded, dk);
  }
  // With an F16 cache ggml accumulates V in F16: `acc` then holds F16 values (as floats).
  const bool f16_accumulator = kv.type == GgmlType::F16;
  std::fill(acc, acc + dv, 0.0f);

  float max_score = kNegInf;
  float sum = 0.0f;
  for (int64_t p = first_visible(params, pos); p <= pos; ++p) {
    const float* key = rows.key(kv, p, kv_head);
    const float s = capped_score(params, ggml_f16_dot(key, q_rounded, dk));

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
    const float* value = rows.value(kv, p, kv_head);
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
};

// The queries of tokens [t_begin, t_end) on all query heads of KV head `kv_head`, together: one
// row per (token, head of the group), token-major, so first and last visible keys never decrease
// from row to row. Each tile of keys is loaded once for all the rows; only tiles on the causal
// diagonal or the window's edge have keys some rows do not see, and the kernel masks those.
void attend_block(const AttentionParams& params, const KvLayerView& kv, const FloatRows& rows, const float* q,
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
      block.first_key[static_cast<size_t>(row)] = first_visible(params, positions[t]) - rows.first;
      block.last_key[static_cast<size_t>(row)] = positions[t] - rows.first;
    }
  }
  const int64_t n_keys = positions[t_end - 1] + 1 - rows.first;
  for (int64_t tile = block.first_key[0] / kTileKeys * kTileKeys; tile <= block.last_key.back();
       tile += kTileKeys) {
    const KeyTile keys{.first = tile,
                       .count = std::min(kTileKeys, n_keys - tile),
                       .keys_t = rows.transposed_keys(kv, rows.first + tile, kv_head),
                       .key_stride = rows.keys_t_stride,
                       .values = rows.value(kv, rows.first + tile, kv_head),
                       .value_stride = static_cast<int64_t>(kv.n_kv_head) * dv};
    for (int64_t r = 0; r < n_rows; r += kTileRows) {
      const int count = static_cast<int>(std::min<int64_t>(kTileRows, n_rows - r));
      const size_t at = static_cast<size_t>(r);
      // Rows r.. see keys from first_key[r] on and up to last_key[r + count - 1] at most.
      if (block.first_key[at] >= tile + kTileKeys || block.last_key[at + static_cast<size_t>(count) - 1] < tile) {
        continue;
      }
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

// Fills rows.keys_t from rows.keys; the padding lets the kernel read whole tiles of keys.
void transpose_keys(const KvLayerView& kv, int64_t n_rows, FloatRows& rows, ThreadPool& pool) {
  const int dk = kv.head_dim_k;
  rows.keys_t_stride = (n_rows + kTileKeys + 15) / 16 * 16;
  rows.keys_t.assign(static_cast<size_t>(kv.n_kv_head * dk * rows.keys_t_stride), 0.0f);
  pool.parallel_for(static_cast<int64_t>(kv.n_kv_head) * dk, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t h = item / dk, i = item % dk;
      float* out = rows.keys_t.data() + item * rows.keys_t_stride;
      const float* in = rows.keys.data() + h * dk + i;
      const int64_t step = static_cast<int64_t>(kv.n_kv_head) * dk;
      for (int64_t r = 0; r < n_rows; ++r) out[r] = in[r * step];
    }
  });
}

}  // namespace

void attention(const AttentionParams& params, const KvLayerView& kv, const float* q,
               const int64_t* positions, int64_t n_tokens, float* out, ThreadPool& pool) {
  if (params.n_head % kv.n_kv_head != 0) {
    throw Error(fmt::format("attention: {} query heads do not group over {} kv heads", params.n_head,
                            kv.n_kv_head));
  }
  const int group = params.n_head / kv.n_kv_head;
  const bool blocked = n_tokens >= kBlockAttentionMinTokens;
  // Every position any query of the batch sees, converted once.
  thread_local FloatRows caller_rows;  // per calling thread; workers use it through `rows`
  FloatRows& rows = caller_rows;
  rows.first = first_visible(params, positions[0]);
  const int64_t n_rows = positions[n_tokens - 1] + 1 - rows.first;
  rows.keys.resize(static_cast<size_t>(n_rows * kv.n_kv_head * kv.head_dim_k));
  rows.values.resize(static_cast<size_t>(n_rows * kv.n_kv_head * kv.head_dim_v));
  pool.parallel_for(n_rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      for (int h = 0; h < kv.n_kv_head; ++h) {
        const int64_t pos = rows.first + r;
        quant::dequantize_row(kv.type, kv.key(pos, h), rows.keys.data() + (r * kv.n_kv_head + h) * kv.head_dim_k,
                              kv.head_dim_k);
        quant::dequantize_row(kv.type, kv.value(pos, h),
                              rows.values.data() + (r * kv.n_kv_head + h) * kv.head_dim_v, kv.head_dim_v);
      }
    }
  });
  if (blocked) {
    transpose_keys(kv, n_rows, rows, pool);
    const int64_t block_tokens = std::max<int64_t>(1, kBlockQueryRows / group);
    const int64_t n_blocks = (n_tokens + block_tokens - 1) / block_tokens;
    // Later blocks see more keys: they are handed out first, so that no thread is left with a
    // long block at the end.
    pool.parallel_for(n_blocks * kv.n_kv_head, 1, [&](int64_t begin, int64_t end) {
      thread_local QueryBlock block;
      for (int64_t item = begin; item < end; ++item) {
        const int64_t t_begin = (n_blocks - 1 - item / kv.n_kv_head) * block_tokens;
        attend_block(params, kv, rows, q, positions, t_begin, std::min(n_tokens, t_begin + block_tokens),
                     static_cast<int>(item % kv.n_kv_head), out, block);
      }
    });
    return;
  }
  const int64_t q_stride = static_cast<int64_t>(params.n_head) * kv.head_dim_k;
  const int64_t out_stride = static_cast<int64_t>(params.n_head) * kv.head_dim_v;
  pool.parallel_for(n_tokens * params.n_head, 1, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> scratch;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / params.n_head;
      const int h = static_cast<int>(item % params.n_head);
      attend_vector(params, kv, rows, q + t * q_stride + static_cast<int64_t>(h) * kv.head_dim_k, positions[t],
                    h / group, out + t * out_stride + static_cast<int64_t>(h) * kv.head_dim_v, scratch);
    }
  });
}

}  // namespace bantam::ops
