// `bantam finetune` below the CLI: the base model, its tokenizer and chat template, the data,
// the training core (lora_trainer.hpp) behind train_loop.hpp's TrainableModel, checkpoints and
// resume, and the adapter written at the end. The CLI adds flags, signals and the progress bar.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "train/train_loop.hpp"

namespace bantam::train {

struct FinetuneOptions {
  std::string model;   // base GGUF file
  std::string data;    // text, or chat JSONL (".jsonl")
  std::string output;  // adapter GGUF
  int rank = 8;
  float alpha = 16.0f;
  // Matrix kinds adapted in every layer; empty: every kind of kDefaultTargets the model has
  // (a fused attn_qkv / ffn_up counts as its own kind, adapted whole).
  std::vector<std::string> targets;
  int epochs = 1;
  float lr = 2e-4f;
  int context = 512;
  int batch = 8;
  int grad_accum = 1;
  int threads = 0;  // 0: all cores
  double eval_split = 0.1;
  uint64_t seed = 1;
  std::string resume;      // checkpoint to continue from
  std::string checkpoint;  // where checkpoints go; empty: OUTPUT.ckpt
  int64_t checkpoint_every = 0;  // updates between checkpoints besides epoch ends and Ctrl-C (0: none)
};

inline constexpr const char* kDefaultTargets[] = {"attn_q",   "attn_k", "attn_v",  "attn_qkv",
                                                  "attn_output", "ffn_gate", "ffn_up", "ffn_down"};

struct FinetuneReport {
  size_t train_examples = 0, held_out_examples = 0;
  size_t truncated = 0, dropped = 0;  // chat conversations cut at -c / left without targets
  std::vector<std::string> targets;   // the kinds adapted
  size_t parameters = 0;              // trained values
  uint64_t memory_bytes = 0;          // the core's formula for one sequence of -c tokens
  std::string checkpoint;             // the checkpoint path used
  LoopResult loop;
};

struct FinetuneCallbacks {
  std::function<void(const FinetuneReport&)> on_start;  // data read, trainer built (before the initial held-out score)
  LoopCallbacks loop;
};

// Trains and writes options.output (unless stopped; the checkpoint is written then). Error naming
// the file or option at fault: unreadable model or data, unknown target kind, a --resume
// checkpoint for another model, data or options.
FinetuneReport finetune(const FinetuneOptions& options, const FinetuneCallbacks& callbacks);

// The options that shape training, in words, as checkpoints compare them.
std::string fingerprint_options(const FinetuneOptions& options, const std::vector<std::string>& targets);

}  // namespace bantam::train
