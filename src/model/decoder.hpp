// The one decoder for every supported family: token ids in, logits out. Family differences are
// read from ModelConfig::traits, never from a copy of this forward pass.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/config.hpp"
#include "model/kv_cache.hpp"
#include "model/lora.hpp"
#include "model/weights.hpp"
#include "ops/thread_pool.hpp"

namespace bantam {

// Scratch activations of one forward pass, reused across calls (sized to the largest batch).
struct ForwardBuffers {
  std::vector<float> x, normed, q, k, v, qkv, attn, proj, gate, up, act, cos_sin;
  std::vector<int64_t> positions;
  ops::LoraScratch lora;
};

class Decoder {
 public:
  // `lora`, when given, adds its low-rank terms to the products of the matrices it adapts.
  Decoder(const ModelConfig& config, const Weights& weights, const LoraSet* lora = nullptr)
      : config_(config), weights_(weights), lora_(lora && !lora->empty() ? lora : nullptr) {}

  // Runs `tokens` at positions first_pos, first_pos + 1, ... through every layer, appending their
  // keys and values to `cache`. logits receives n_vocab floats for the last token, or for every
  // token (row after row) when all_logits is set.
  void forward(std::span<const int32_t> tokens, int64_t first_pos, KvCache& cache,
               ForwardBuffers& buffers, ops::ThreadPool& pool, bool all_logits,
               std::vector<float>& logits) const;

  const ModelConfig& config() const { return config_; }

 private:
  void attention_block(int il, int64_t n, int64_t first_pos, KvCache& cache, ForwardBuffers& b,
                       ops::ThreadPool& pool) const;
  void ffn_block(int il, int64_t n, ForwardBuffers& b, ops::ThreadPool& pool) const;
  ops::RopeParams rope_params(int64_t context) const;
  // ops::matmul plus the adapters' terms for `w`.
  void project(const ops::Matrix& w, const float* x, int64_t n, float* y, int64_t y_stride, ForwardBuffers& b,
               ops::ThreadPool& pool) const;

  const ModelConfig& config_;
  const Weights& weights_;
  const LoraSet* lora_;
};

}  // namespace bantam
