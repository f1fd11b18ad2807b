// Attention tests' shared ground: a layer's cache of random keys and values in given types, and
// softmax attention over it in float64, what the kernels are checked against.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <random>
#include <vector>

#include "ops/attention.hpp"
#include "ops/thread_pool.hpp"
#include "quant/dot.hpp"
#include "quant/quant.hpp"

namespace bantam::ops::testing_attention {

struct Case {
  const char* name;
  GgmlType type;  // the keys', and the values' unless value_type says otherwise
  int n_head, n_kv_head, dim_k, dim_v;
  int64_t first_pos, n_tokens;
  AttentionParams params;
  int64_t capacity = 0;  // 0: every position has its own slot; else a ring of this many
  std::optional<GgmlType> value_type = std::nullopt;
  GgmlType values() const { return value_type.value_or(type); }
};

// One layer's cache holding positions 0 .. last in the given type (written in order, so a ring
// keeps the last `capacity` of them).
struct Cache {
  std::vector<uint8_t> keys, values;
  KvLayerView view;
  Cache(const Case& c, int64_t last, std::mt19937& rng) {
    const int64_t capacity = c.capacity > 0 ? c.capacity : last + 1;
    view = {.key_type = c.type, .value_type = c.values(), .capacity = capacity, .n_kv_head = c.n_kv_head, .head_dim_k = c.dim_k, .head_dim_v = c.dim_v};
    keys.resize(static_cast<size_t>(capacity * c.n_kv_head) * view.key_row_bytes());
    values.resize(static_cast<size_t>(capacity * c.n_kv_head) * view.value_row_bytes());
    view.keys = keys.data();
    view.values = values.data();
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> k(static_cast<size_t>(c.dim_k)), v(static_cast<size_t>(c.dim_v));
    for (int64_t p = 0; p <= last; ++p) {
      for (int h = 0; h < c.n_kv_head; ++h) {
        for (float& x : k) x = dist(rng);
        for (float& x : v) x = dist(rng);
        quant::quantize_row(c.type, k.data(), const_cast<uint8_t*>(view.key(p, h)), c.dim_k);
        quant::quantize_row(c.values(), v.data(), const_cast<uint8_t*>(view.value(p, h)), c.dim_v);
      }
    }
  }
  std::vector<float> key(int64_t pos, int h) const {
    std::vector<float> row(static_cast<size_t>(view.head_dim_k));
    quant::dequantize_row(view.key_type, view.key(pos, h), row.data(), view.head_dim_k);
    return row;
  }
  std::vector<float> value(int64_t pos, int h) const {
    std::vector<float> row(static_cast<size_t>(view.head_dim_v));
    quant::dequantize_row(view.value_type, view.value(pos, h), row.data(), view.head_dim_v);
    return row;
  }
};

// softmax(scores) . values in float64 for one query at `pos` over kv head h.
inline std::vector<double> reference_query(const Case& c, const Cache& cache, const float* q, int64_t pos, int h) {
  const AttentionParams& p = c.params;
  const int64_t first = p.window > 0 ? std::max<int64_t>(0, pos - p.window + 1) : 0;
  std::vector<double> scores;
  for (int64_t k = first; k <= pos; ++k) {
    const std::vector<float> key = cache.key(k, h);
    double dot = 0.0;
    for (int i = 0; i < c.dim_k; ++i) dot += static_cast<double>(q[i]) * key[static_cast<size_t>(i)];
    double s = dot * p.scale;
    if (p.softcap > 0.0f) s = p.softcap * std::tanh(s / p.softcap);
    scores.push_back(s);
  }
  const double max = *std::max_element(scores.begin(), scores.end());
  double sum = 0.0;
  std::vector<double> out(static_cast<size_t>(c.dim_v), 0.0);
  for (int64_t k = first; k <= pos; ++k) {
    const double w = std::exp(scores[static_cast<size_t>(k - first)] - max);
    sum += w;
    const std::vector<float> value = cache.value(k, h);
    for (int i = 0; i < c.dim_v; ++i) out[static_cast<size_t>(i)] += w * value[static_cast<size_t>(i)];
  }
  for (double& x : out) x /= sum;
  return out;
}

// The case's attention on every ISA level (the portable kernel and each SIMD one) against
// float64 over a cache and queries drawn from `seed`; `as_dotted`, where given, turns a query
// into what the kernel dots with the keys, for the reference to take the same.
inline void expect_every_isa_matches_reference(
    const Case& c, uint32_t seed, double tolerance,
    const std::function<std::vector<float>(const float* q, int dim_k)>& as_dotted = {}) {
  std::mt19937 rng(seed);
  const Cache cache(c, c.first_pos + c.n_tokens - 1, rng);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> q(static_cast<size_t>(c.n_tokens * c.n_head * c.dim_k));
  for (float& x : q) x = dist(rng);
  std::vector<int64_t> positions(static_cast<size_t>(c.n_tokens));
  for (int64_t t = 0; t < c.n_tokens; ++t) positions[static_cast<size_t>(t)] = c.first_pos + t;
  AttentionParams params = c.params;
  params.n_head = c.n_head;

  std::vector<double> want(static_cast<size_t>(c.n_tokens * c.n_head * c.dim_v));
  const int group = c.n_head / c.n_kv_head;
  for (int64_t t = 0; t < c.n_tokens; ++t) {
    for (int h = 0; h < c.n_head; ++h) {
      const float* query = q.data() + (t * c.n_head + h) * c.dim_k;
      const std::vector<float> dotted = as_dotted ? as_dotted(query, c.dim_k) : std::vector<float>();
      const auto out = reference_query(c, cache, as_dotted ? dotted.data() : query, positions[static_cast<size_t>(t)],
                                       h / group);
      std::copy(out.begin(), out.end(), want.begin() + (t * c.n_head + h) * c.dim_v);
    }
  }
  ThreadPool pool(2);
  const auto isas = quant::available_isas();
  for (const quant::Isa isa : isas) {
    quant::set_isa_for_testing(isa);
    std::vector<float> got(want.size());
    attention(params, cache.view, q.data(), positions.data(), c.n_tokens, got.data(), pool);
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_NEAR(got[i], want[i], tolerance * (1.0 + std::fabs(want[i]))) << quant::isa_name(isa) << ", element " << i;
    }
  }
  quant::set_isa_for_testing(isas.back());
}

}  // namespace bantam::ops::testing_attention
