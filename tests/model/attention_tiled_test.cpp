// The tiled attention kernel (batches of 64+ queries) against a plain scalar transcription of
// ggml's tiled flash attention: key tiles of 64, each score one FMA chain over the head
// dimension, vector exp per group of 16 keys with tree sums, V accumulated key by key. The
// kernel vectorizes across keys and dimensions; every result must be identical bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "ops/attention.hpp"
#include "ops/vector_math.hpp"
#include "quant/dot.hpp"
#include "quant/quant.hpp"

namespace bantam::ops {
namespace {

struct Case {
  int n_head, n_kv_head, dim;
  int64_t first_pos, n_tokens;
  AttentionParams params;
};

struct Cache {
  std::vector<uint16_t> keys, values;  // F16, [pos][kv_head][dim]
  std::vector<float> keys_f, values_f;
  KvLayerView view;
};

Cache make_cache(const Case& c, int64_t capacity, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Cache cache;
  const size_t count = static_cast<size_t>(capacity * c.n_kv_head * c.dim);
  cache.keys.resize(count);
  cache.values.resize(count);
  cache.keys_f.resize(count);
  cache.values_f.resize(count);
  for (size_t i = 0; i < count; ++i) {
    cache.keys[i] = quant::fp32_to_fp16(dist(rng));
    cache.values[i] = quant::fp32_to_fp16(dist(rng));
    cache.keys_f[i] = quant::fp16_to_fp32(cache.keys[i]);
    cache.values_f[i] = quant::fp16_to_fp32(cache.values[i]);
  }
  cache.view = {.type = GgmlType::F16, .keys = reinterpret_cast<const uint8_t*>(cache.keys.data()),
                .values = reinterpret_cast<const uint8_t*>(cache.values.data()), .capacity = capacity,
                .n_kv_head = c.n_kv_head, .head_dim_k = c.dim, .head_dim_v = c.dim};
  return cache;
}

float reference_score(const AttentionParams& p, float dot) {
  if (p.softcap == 0.0f) return dot * p.scale;
  return p.softcap * std::tanh(dot * (p.scale / p.softcap));
}

// One query at `pos` for kv head h, scalar and in ggml's order.
void reference_query(const Case& c, const Cache& cache, const float* q, int64_t pos, int h, float* out) {
  constexpr int64_t kTile = kAttentionTileRows;
  const int64_t first = c.params.window > 0 ? std::max<int64_t>(0, pos - c.params.window + 1) : 0;
  const auto key = [&](int64_t p) { return &cache.keys_f[static_cast<size_t>((p * c.n_kv_head + h) * c.dim)]; };
  const auto value = [&](int64_t p) { return &cache.values_f[static_cast<size_t>((p * c.n_kv_head + h) * c.dim)]; };
  std::fill(out, out + c.dim, 0.0f);
  float max_score = -std::numeric_limits<float>::infinity(), sum = 0.0f;
  for (int64_t tile = (first / kTile) * kTile; tile <= pos; tile += kTile) {
    const int64_t begin = std::max(first, tile), end = std::min(pos + 1, tile + kTile);
    std::vector<float> scores(static_cast<size_t>(end - begin));
    float tile_max = -std::numeric_limits<float>::infinity();
    for (int64_t p = begin; p < end; ++p) {
      float dot = 0.0f;
      for (int i = 0; i < c.dim; ++i) dot = std::fma(q[i], key(p)[i], dot);
      scores[static_cast<size_t>(p - begin)] = reference_score(c.params, dot);
      tile_max = std::max(tile_max, scores[static_cast<size_t>(p - begin)]);
    }
    const float new_max = std::max(max_score, tile_max);
    if (new_max > max_score) {
      const float ms = std::exp(max_score - new_max);
      for (int i = 0; i < c.dim; ++i) out[i] *= ms;
      sum *= ms;
    }
    max_score = new_max;
    double tile_sum = 0.0;
    for (int64_t group = 0; group < kTile; group += kVectorExpLanes) {
      float lanes[kVectorExpLanes] = {};
      for (int64_t l = 0; l < kVectorExpLanes; ++l) {
        const int64_t p = tile + group + l;
        if (p >= begin && p < end) {
          lanes[l] = scores[static_cast<size_t>(p - begin)] = vector_expf(scores[static_cast<size_t>(p - begin)] - new_max);
        }
      }
      tile_sum += lane_tree_sum(lanes);
    }
    sum = static_cast<float>(static_cast<double>(sum) + tile_sum);
    for (int64_t p = begin; p < end; ++p) {
      for (int i = 0; i < c.dim; ++i) out[i] = std::fma(scores[static_cast<size_t>(p - begin)], value(p)[i], out[i]);
    }
  }
  const float inverse = sum == 0.0f ? 0.0f : 1.0f / sum;
  for (int i = 0; i < c.dim; ++i) out[i] *= inverse;
}

class TiledAttention : public testing::TestWithParam<Case> {};

TEST_P(TiledAttention, MatchesScalarTranscriptionBitForBit) {
  const Case c = GetParam();
  std::mt19937 rng(42);
  const int64_t capacity = c.first_pos + c.n_tokens;
  const Cache cache = make_cache(c, capacity, rng);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> q(static_cast<size_t>(c.n_tokens * c.n_head * c.dim));
  for (float& x : q) x = dist(rng);
  std::vector<int64_t> positions(static_cast<size_t>(c.n_tokens));
  for (int64_t t = 0; t < c.n_tokens; ++t) positions[static_cast<size_t>(t)] = c.first_pos + t;
  AttentionParams params = c.params;
  params.n_head = c.n_head;
  std::vector<float> want(q.size());
  const int group = c.n_head / c.n_kv_head;
  for (int64_t t = 0; t < c.n_tokens; ++t) {
    for (int h = 0; h < c.n_head; ++h) {
      const size_t at = static_cast<size_t>((t * c.n_head + h) * c.dim);
      reference_query(c, cache, q.data() + at, positions[static_cast<size_t>(t)], h / group, want.data() + at);
    }
  }
  ThreadPool pool(2);
  const auto isas = quant::available_isas();
  for (const quant::Isa isa : isas) {  // the portable loops and each SIMD level
    quant::set_isa_for_testing(isa);
    std::vector<float> got(q.size());
    attention(params, cache.view, q.data(), positions.data(), c.n_tokens, got.data(), pool);
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << quant::isa_name(isa) << ", element " << i;
  }
  quant::set_isa_for_testing(isas.back());
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, TiledAttention,
    testing::Values(Case{4, 2, 64, 0, 130, {.scale = 0.125f}},                   // GQA, three key tiles
                    Case{2, 2, 16, 37, 70, {.scale = 0.35f}},                     // small heads, cached prefix
                    Case{3, 1, 96, 10, 90, {.scale = 0.1f, .window = 50}},        // sliding window
                    Case{2, 1, 256, 0, 66, {.scale = 0.0625f, .softcap = 50.0f}},  // Gemma-2-like
                    Case{1, 1, 48, 64, 64, {.scale = 0.2f}}));                      // starts on a tile edge

TEST(VectorExp, LanesEqualTheScalarFunction) {
  std::vector<float> inputs = {0.0f, -0.0f, 1.0f, -1.0f, -87.0f, -87.5f, -88.7f, -100.0f, -103.5f, -150.0f,
                               88.0f, 88.8f, 89.0f, -1e-30f, std::numeric_limits<float>::quiet_NaN(),
                               -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::infinity()};
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-90.0f, 5.0f);
  while (inputs.size() % kVectorExpLanes != 0 || inputs.size() < 4096) inputs.push_back(dist(rng));
  for (size_t g = 0; g < inputs.size(); g += kVectorExpLanes) {
    float lanes[kVectorExpLanes];
    std::copy(inputs.begin() + static_cast<std::ptrdiff_t>(g), inputs.begin() + static_cast<std::ptrdiff_t>(g + kVectorExpLanes), lanes);
    vector_expf_lanes(lanes);
    for (int64_t l = 0; l < kVectorExpLanes; ++l) {
      const float want = vector_expf(inputs[g + static_cast<size_t>(l)]);
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(lanes[l]));
      } else {
        EXPECT_EQ(lanes[l], want) << "x = " << inputs[g + static_cast<size_t>(l)];
      }
    }
  }
}

}  // namespace
}  // namespace bantam::ops
