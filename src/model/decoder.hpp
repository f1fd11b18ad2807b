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

// One sequence's part of a forward pass: its tokens go to `cache` from position first_pos.
struct DecodeSegment {
  std::span<const int32_t> tokens;
  int64_t first_pos = 0;
  KvCache* cache = nullptr;
  const LoraSet* lora = nullptr;  // this sequence's adapters (null: the base model alone)
  bool all_logits = false;  // with LastLogits: every token's logits (drafts to verify), not just the last's
};

// What a forward pass leaves behind.
enum class ForwardOutput {
  LastLogits,  // n_vocab logits for the last token of each segment (all_logits: each token), in order
  AllLogits,   // n_vocab logits for every token, row after row
  Hidden,      // no logits: every token's final normalized hidden state stays in buffers.normed
};

class Decoder {
 public:
  Decoder(const ModelConfig& config, const Weights& weights) : config_(config), weights_(weights) {}

  // Runs every segment's tokens through every layer in one pass: matrix products over all rows
  // at once (each row with its own segment's adapters), positions, cache writes and attention
  // per segment. Logits (or hidden states) as `output` says.
  void forward(std::span<const DecodeSegment> segments, ForwardBuffers& buffers, ops::ThreadPool& pool,
               ForwardOutput output, std::vector<float>& logits) const;

  const ModelConfig& config() const { return config_; }
  // RoPE for a sequence held in a context of `context` positions (LongRoPE picks its factors by
  // it): what the LoRA trainer rotates with and a context shift re-rotates keys with.
  ops::RopeParams rope_params(int64_t context) const;

 private:
  // Rows [first_row, first_row + n) of a batch and their adapters.
  struct RowGroup {
    int64_t first_row, n;
    const LoraSet* lora;
  };
  void attention_block(int il, std::span<const DecodeSegment> segments, std::span<const RowGroup> groups,
                       int64_t n, ForwardBuffers& b, ops::ThreadPool& pool) const;
  void ffn_block(int il, std::span<const RowGroup> groups, int64_t n, ForwardBuffers& b, ops::ThreadPool& pool) const;
  // ops::matmul over all n rows, plus each group's adapter terms for `w` on its rows.
  void project(const ops::Matrix& w, const float* x, int64_t n, float* y, int64_t y_stride,
               std::span<const RowGroup> groups, ForwardBuffers& b, ops::ThreadPool& pool) const;

  const ModelConfig& config_;
  const Weights& weights_;
};

// Leading tokens of `prompt` that a cache holding `tokens` can keep: the common prefix, unless a
// sliding-window layer's ring buffer no longer holds keys that prefix still needs (then none).
// written_end: positions ever written past `tokens` (rejected speculative drafts); < 0: tokens.size().
int64_t reusable_prefix(const ModelConfig& config, const KvCache& cache, std::span<const int32_t> tokens,
                        std::span<const int32_t> prompt, int64_t written_end = -1);

}  // namespace bantam
