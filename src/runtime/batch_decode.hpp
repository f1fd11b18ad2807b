// Several sequences ("slots") on one model, advanced together: one forward pass carries every
// slot's next tokens (a prompt chunk or one sampled token each), so the weights are read once per
// step for all of them. Each slot keeps its own KV cache and its longest reusable prefix.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "bantam/bantam.hpp"

namespace bantam {

class LoraSet;

// Tokens appended to one slot's sequence in a step.
struct BatchSegment {
  int slot = 0;
  std::span<const TokenId> tokens;
  const LoraSet* lora = nullptr;  // adapters for these tokens (null: the base model alone)
};

class BatchDecoder {
 public:
  // max_batch: most tokens one step carries over all slots (prompts are fed in chunks of it).
  BatchDecoder(std::shared_ptr<const Model> model, int n_slots, int64_t context, int threads, int max_batch,
               KvCacheType kv_type = KvCacheType::F16);
  ~BatchDecoder();
  BatchDecoder(const BatchDecoder&) = delete;
  BatchDecoder& operator=(const BatchDecoder&) = delete;

  int slots() const;
  int64_t context() const;
  int max_batch() const;
  const Model& model() const;
  const std::vector<TokenId>& tokens(int slot) const;  // the sequence in the slot's cache

  // Leading tokens of `prompt` the slot's cache already holds (and can keep).
  int64_t reusable_prefix(int slot, std::span<const TokenId> prompt) const;
  // Keeps only the reusable prefix, at most prompt.size() - 1 tokens so the caller always has a
  // token to evaluate for fresh logits; returns how many tokens were kept.
  int64_t keep_prefix(int slot, std::span<const TokenId> prompt);

  // Appends each segment's tokens to its slot in one forward pass (at most max_batch tokens in
  // all, one segment per slot). logits receives n_vocab floats per segment for its last token.
  void step(std::span<const BatchSegment> segments, std::vector<float>& logits);

  // Mean of the final (normalized) hidden states of each input, scaled to unit length. Runs in
  // scratch caches: the slots are untouched.
  std::vector<std::vector<float>> embed(std::span<const std::vector<TokenId>> inputs);

  // KV cache bytes of one slot of `context` positions.
  static size_t kv_bytes_per_slot(const Model& model, int64_t context, int max_batch,
                                  KvCacheType kv_type = KvCacheType::F16);
  // Activations of one forward of max_batch tokens (an upper estimate).
  static size_t scratch_bytes(const Model& model, int max_batch);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bantam
