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
// For the tiled kernel also the keys transposed per KV head, [kv_head][dim][position - first],
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

// The largest of n scores (eight running maxima, so the loop vectorizes; max is exact).
BANTAM_FMA_CLONES float max_of(const float* x, int64_t n) {
  float lanes[8];
  std::fill(lanes, lanes + 8, kNegInf);
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    for (int l = 0; l < 8; ++l) lanes[l] = lanes[l] < x[k + l] ? x[k + l] : lanes[l];
  }
  float m = kNegInf;
  for (; k < n; ++k) m = std::max(m, x[k]);
  for (float l : lanes) m = std::max(m, l);
  return m;
}

// One query in F32 over key tiles of kAttentionTileRows, as ggml's tiled kernel for large batches.
BANTAM_FMA_CLONES void attend_tiled(const AttentionParams& params, const KvLayerView& kv, const FloatRows& rows,
                                    const float* q, int64_t pos, int kv_head, float* out,
                                    std::vector<float>& scratch) {
  constexpr int64_t kTile = kAttentionTileRows;
  const int dk = kv.head_dim_k;
  const int dv = kv.head_dim_v;
  scratch.resize(static_cast<size_t>(kTile));
  float* scores = scratch.data();
  std::fill(out, out + dv, 0.0f);

  const int64_t first = first_visible(params, pos);
  float max_score = kNegInf;
  float sum = 0.0f;
  for (int64_t tile = (first / kTile) * kTile; tile <= pos; tile += kTile) {
    const int64_t begin = std::max(first, tile);
    const int64_t end = std::min(pos + 1, tile + kTile);
    const int64_t n = end - begin;
    key_dots(q, rows.transposed_keys(kv, begin, kv_head), rows.keys_t_stride, dk, n, scores);
    if (params.softcap == 0.0f) {
      for (int64_t k = 0; k < n; ++k) scores[k] *= params.scale;
    } else {
      for (int64_t k = 0; k < n; ++k) scores[k] = capped_score(params, scores[k]);
    }
    const float tile_max = max_of(scores, n);
    const float new_max = std::max(max_score, tile_max);
    if (new_max > max_score) {
      const float ms = std::exp(max_score - new_max);
      for (int i = 0; i < dv; ++i) out[i] *= ms;
      sum *= ms;
    }
    max_score = new_max;
    // ggml's vector softmax over the whole tile (masked keys give 0): lanes summed per group of
    // 16 in F32, groups in double, and the double added to the running F32 sum in one rounding.
    double tile_sum = 0.0;
    for (int64_t group = 0; group < kTile; group += kVectorExpLanes) {
      float lanes[kVectorExpLanes];
      const int64_t first_key = tile + group - begin;
      if (first_key >= 0 && first_key + kVectorExpLanes <= n) {  // every key of the group visible
        float* group_scores = scores + first_key;
        for (int64_t l = 0; l < kVectorExpLanes; ++l) lanes[l] = group_scores[l] - new_max;
        vector_expf_lanes(lanes);
        std::copy(lanes, lanes + kVectorExpLanes, group_scores);
        tile_sum += lane_tree_sum(lanes);
        continue;
      }
      bool any = false;
      for (int64_t l = 0; l < kVectorExpLanes; ++l) {
        const int64_t j = tile + group + l - begin;
        const bool visible = j >= 0 && j < n;
        lanes[l] = visible ? scores[j] - new_max : 0.0f;
        any |= visible;
      }
      if (!any) continue;
      vector_expf_lanes(lanes);
      for (int64_t l = 0; l < kVectorExpLanes; ++l) {
        const int64_t j = tile + group + l - begin;
        if (j >= 0 && j < n) {
          scores[j] = lanes[l];
        } else {
          lanes[l] = 0.0f;
        }
      }
      tile_sum += lane_tree_sum(lanes);
    }
    sum = static_cast<float>(static_cast<double>(sum) + tile_sum);
    accumulate_values(scores, rows.value(kv, begin, kv_head), static_cast<int64_t>(kv.n_kv_head) * dv, n, dv, out);
  }
  const float inverse = sum == 0.0f ? 0.0f : 1.0f / sum;
  for (int i = 0; i < dv; ++i) out[i] *= inverse;
}

// Fills rows.keys_t from rows.keys; the padding lets key_dots read whole groups of keys.
void transpose_keys(const KvLayerView& kv, int64_t n_rows, FloatRows& rows, ThreadPool& pool) {
  const int dk = kv.head_dim_k;
  rows.keys_t_stride = (n_rows + kKeyDotGroup + 15) / 16 * 16;
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
  const bool tiled = n_tokens >= kAttentionTileRows && kv.head_dim_v % kAttentionTileLanes == 0 &&
                     (kv.type == GgmlType::F16 || kv.type == GgmlType::F32);
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
  if (tiled) transpose_keys(kv, n_rows, rows, pool);
  const int64_t q_stride = static_cast<int64_t>(params.n_head) * kv.head_dim_k;
  const int64_t out_stride = static_cast<int64_t>(params.n_head) * kv.head_dim_v;
  pool.parallel_for(n_tokens * params.n_head, 1, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> scratch;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / params.n_head;
      const int h = static_cast<int>(item % params.n_head);
      const float* q_head = q + t * q_stride + static_cast<int64_t>(h) * kv.head_dim_k;
      float* out_head = out + t * out_stride + static_cast<int64_t>(h) * kv.head_dim_v;
      if (tiled) {
        attend_tiled(params, kv, rows, q_head, positions[t], h / group, out_head, scratch);
      } else {
        attend_vector(params, kv, rows, q_head, positions[t], h / group, out_head, scratch);
      }
    }
  });
}

}  // namespace bantam::ops
