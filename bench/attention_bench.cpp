// One layer's prompt attention (a 512-token batch from an empty F16 cache, one thread) in the
// shapes of qwen2-0.5b (14 query heads over 2 KV heads) and llama-3.2-1b (32 over 8), per ISA
// level: `--benchmark_filter=Prompt`. Multiply by the layer count (24 and 16) for a pp512's share.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <vector>

#include "ops/attention.hpp"
#include "quant/dot.hpp"
#include "quant/quant.hpp"

namespace {

using namespace bantam;

void PromptAttention(benchmark::State& state, int n_head, int n_kv_head, quant::Isa isa) {
  constexpr int kDim = 64;
  constexpr int64_t kTokens = 512;
  const auto isas = quant::available_isas();
  if (std::find(isas.begin(), isas.end(), isa) == isas.end()) {
    state.SkipWithError("ISA not available");
    return;
  }
  quant::set_isa_for_testing(isa);
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<uint16_t> keys(static_cast<size_t>(kTokens * n_kv_head * kDim));
  std::vector<uint16_t> values(keys.size());
  for (auto& k : keys) k = quant::fp32_to_fp16(dist(rng));
  for (auto& v : values) v = quant::fp32_to_fp16(dist(rng));
  std::vector<float> q(static_cast<size_t>(kTokens * n_head * kDim)), out(q.size());
  for (float& x : q) x = dist(rng);
  std::vector<int64_t> positions(kTokens);
  for (int64_t t = 0; t < kTokens; ++t) positions[static_cast<size_t>(t)] = t;
  const ops::KvLayerView view{.key_type = GgmlType::F16, .value_type = GgmlType::F16,
                              .keys = reinterpret_cast<const uint8_t*>(keys.data()),
                              .values = reinterpret_cast<const uint8_t*>(values.data()), .capacity = kTokens,
                              .n_kv_head = n_kv_head, .head_dim_k = kDim, .head_dim_v = kDim};
  ops::ThreadPool pool(1);
  const ops::AttentionParams params{.n_head = n_head, .scale = 0.125f};
  for (auto _ : state) {
    ops::attention(params, view, q.data(), positions.data(), kTokens, out.data(), pool);
    benchmark::DoNotOptimize(out.data());
  }
  quant::set_isa_for_testing(isas.back());
}

BENCHMARK_CAPTURE(PromptAttention, qwen2_0_5b_best, 14, 2, quant::available_isas().back())->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(PromptAttention, qwen2_0_5b_portable, 14, 2, quant::Isa::Scalar)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(PromptAttention, llama_3_2_1b_best, 32, 8, quant::available_isas().back())->Unit(benchmark::kMillisecond);

}  // namespace
