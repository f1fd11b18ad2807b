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

class KvCache;
class LoraSet;
namespace ops {
class ThreadPool;
}

// Tokens appended to one slot's sequence in a step.
struct BatchSegment {
  int slot = 0;
  std::span<const TokenId> tokens;
  const LoraSet* lora = nullptr;  // adapters for these tokens (null: the base model alone)
  bool all_logits = false;  // logits of every token (speculative drafts to verify), not just the last's
};

// Embeddings of several inputs, computed a bounded piece at a time so that a scheduler can run
// decode steps between the pieces and drop the work midway.
class EmbeddingRun {
 public:
  // Error naming the input when one has no tokens.
  explicit EmbeddingRun(std::vector<std::vector<TokenId>> inputs);
  ~EmbeddingRun();
  EmbeddingRun(const EmbeddingRun&) = delete;
  EmbeddingRun& operator=(const EmbeddingRun&) = delete;

  bool done() const { return results_.size() == inputs_.size(); }
  // Mean of the final (normalized) hidden states of each input, scaled to unit length; all of
  // them once done().
  std::vector<std::vector<float>> take_results() { return std::move(results_); }

 private:
  friend class BatchDecoder;
  std::vector<std::vector<TokenId>> inputs_;
  std::vector<std::vector<float>> results_;
  // The input longer than a batch being evaluated: its scratch cache, tokens done, running sum.
  std::unique_ptr<KvCache> long_cache_;
  int64_t long_done_ = 0;
  std::vector<double> long_sum_;
};

class BatchDecoder {
 public:
  // max_batch: most tokens one step carries over all slots (prompts are fed in chunks of it).
  BatchDecoder(std::shared_ptr<const Model> model, int n_slots, int64_t context, int threads, int max_batch,
               KvCacheTypes kv_types = {});
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

  // Context shift of a full slot (runtime/context_shift.hpp): drops half of its tokens after the
  // first `keep`; returns how many (0: none could be, nothing changed).
  int64_t shift_context(int slot, int64_t keep);

  // Appends each segment's tokens to its slot in one forward pass (at most max_batch tokens in
  // all, one segment per slot). logits receives n_vocab floats per segment for its last token
  // (for each of its tokens with all_logits), segment after segment.
  void step(std::span<const BatchSegment> segments, std::vector<float>& logits);
  // Forgets the slot's tokens after the first `length` (rejected drafts): their cache positions
  // are rewritten by later steps, and prefix reuse knows they were written (sliding windows).
  void truncate(int slot, size_t length);
  // The compute threads, for work between steps (a draft model's proposals).
  ops::ThreadPool& pool();

  // One forward of at most max_batch tokens of `run`: the next inputs together, or the next
  // max_batch tokens of an input longer than that. Runs in scratch caches: the slots are untouched.
  // Returns the tokens evaluated (0 once the run is done).
  int64_t embed_piece(EmbeddingRun& run);

  // KV cache bytes of one slot of `context` positions.
  static size_t kv_bytes_per_slot(const Model& model, int64_t context, int max_batch,
                                  KvCacheTypes kv_types = {});
  // Activations of one forward of max_batch tokens (an upper estimate).
  static size_t scratch_bytes(const Model& model, int max_batch);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bantam
