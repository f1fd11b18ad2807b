// LoRA fine-tuning on the device: the adapter matrices A and B of each target are the only
// trained weights; the base model stays in its stored type (Q4_0, Q8_0, F16, ...) and gradients
// flow through it by transposed products over rows dequantized a tile at a time, never a whole
// F32 copy. One step runs one token sequence forward and backward with gradient checkpointing per
// layer (only each layer's input is kept; a layer is recomputed when its gradient is needed) and
// the loss over the output head computed in vocabulary chunks (a sequence's full logits are never
// held).
//
// The adapter is llama.cpp's: for a target W (n_out x n_in) the trained pair is A (rank x n_in,
// GGUF `lora_a` of ggml shape [n_in, rank]) and B (n_out x rank, `lora_b`, [rank, n_out]), and the
// adapted product is W x + (alpha / rank) B (A x), as model/lora.hpp applies it at scale 1.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/config.hpp"
#include "model/weights.hpp"
#include "ops/thread_pool.hpp"

namespace bantam::train {

struct LoraTrainerOptions {
  // Matrix kinds (tensor_table.hpp's role names: attn_q, attn_k, attn_v, attn_qkv, attn_output,
  // ffn_gate, ffn_up, ffn_down), adapted in every layer. Error naming a kind the model lacks.
  std::vector<std::string> targets = {"attn_q", "attn_v"};
  int rank = 8;
  float alpha = 16.0f;
  uint64_t seed = 1;           // A's initial values (B starts at zero, so step 0 is the base model)
  int64_t vocab_chunk = 4096;  // output-head rows per chunk of the loss
};

// One trained pair, its values at offsets into parameters() (and the same into gradients()).
struct LoraTensor {
  std::string target;  // the base tensor, "blk.3.attn_q.weight"
  int64_t n_in = 0, n_out = 0, rank = 0;
  size_t a_offset = 0;  // rank rows of n_in floats: written as `<target>.lora_a`, ggml shape [n_in, rank]
  size_t b_offset = 0;  // n_out rows of rank floats: written as `<target>.lora_b`, ggml shape [rank, n_out]
};

// The result of one step (or evaluation) of one sequence.
struct StepLoss {
  double loss_sum = 0;    // summed cross-entropy (nats) over the sequence's target tokens
  int64_t n_targets = 0;  // tokens whose prediction was scored
  double mean() const { return n_targets ? loss_sum / static_cast<double>(n_targets) : 0.0; }
};

// Bytes a trainer needs beside the mapped base model, for a sequence of n_ctx tokens.
struct TrainingMemory {
  uint64_t adapters = 0;          // parameters + gradients: 2 * 4 * P
  uint64_t optimizer = 0;         // AdamW's two moments: 2 * 4 * P (held by the optimizer, counted here)
  uint64_t checkpoints = 0;       // 4 * n_layer * n_ctx * n_embd (each layer's input)
  uint64_t layer_activations = 0; // one layer's saved activations and their gradients
  uint64_t loss_chunk = 0;        // 4 * n_ctx * vocab_chunk logits (and their gradients)
  uint64_t total() const { return adapters + optimizer + checkpoints + layer_activations + loss_chunk; }
};

class LoraTrainer {
 public:
  // `config` and `weights` must outlive the trainer (views into the mapped model). Error for an
  // unknown target kind, a rank below 1 or above a target's smaller side, an unusable weight type.
  LoraTrainer(const ModelConfig& config, const Weights& weights, const LoraTrainerOptions& options);
  ~LoraTrainer();
  LoraTrainer(const LoraTrainer&) = delete;
  LoraTrainer& operator=(const LoraTrainer&) = delete;

  // Forward and backward over tokens[0..n): the loss of predicting tokens[i] from tokens[0..i)
  // for every i >= 1 with loss_mask[i] != 0 (loss_mask[0] is ignored; an empty mask scores every
  // token). ADDS d(loss_sum)/d(parameter) to gradients(): divide by the summed n_targets of the
  // steps accumulated (scale_gradients) before the optimizer step for a mean loss. Error when the
  // sequence has fewer than 2 tokens, a token is outside the vocabulary, or the mask's length
  // differs from the tokens'.
  StepLoss step(std::span<const int32_t> tokens, std::span<const uint8_t> loss_mask, ops::ThreadPool& pool);
  // The same loss, forward only (held-out scoring); gradients untouched.
  StepLoss evaluate(std::span<const int32_t> tokens, std::span<const uint8_t> loss_mask, ops::ThreadPool& pool);

  void zero_gradients();
  void scale_gradients(float factor);

  // Every trained value, flat, in the order of tensors(): what the optimizer updates and a
  // checkpoint saves.
  std::span<float> parameters();
  std::span<const float> parameters() const;
  std::span<float> gradients();
  const std::vector<LoraTensor>& tensors() const;
  int rank() const;
  float alpha() const;

  // Bytes for a sequence of n_ctx tokens (TrainingMemory's formula).
  static TrainingMemory memory(const ModelConfig& config, const Weights& weights,
                               const LoraTrainerOptions& options, int64_t n_ctx);
  TrainingMemory memory(int64_t n_ctx) const;

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace bantam::train
