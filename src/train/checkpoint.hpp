// Training checkpoints: a GGUF file (general.type "bantam-finetune-checkpoint", versioned) with
// the adapter parameters and both AdamW moments as F32 tensors, the optimizer step, the data
// cursor (epoch, next example of the epoch's order), the seed/RNG state, and hashes of the base
// model, the data and the options that shape training, so a resume continues bit for bit (same
// thread count and CPU) and one written for other inputs is refused.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bantam::train {

inline constexpr uint32_t kCheckpointVersion = 1;

// What a checkpoint must match to be resumed: each differing field is named in the error.
struct TrainFingerprint {
  uint64_t model_hash = 0;    // the base model file's bytes
  uint64_t data_hash = 0;     // Dataset::content_hash (tokens and targets, so tokenizer and template too)
  std::string options;        // the shaping options in words: "rank=8 alpha=16 targets=... lr=... c=... b=..."
};

struct TrainCursor {
  int epoch = 0;               // 0-based epoch in progress
  uint64_t next_example = 0;   // position in epoch_order(train size, seed, epoch)
  int64_t optimizer_steps = 0; // AdamW updates done
  uint64_t rng_state = 0;      // splitmix64 state of the run (seeded from --seed)
  uint64_t tokens_trained = 0; // target tokens seen so far (for reporting)
};

struct NamedTensor {
  std::string name;            // e.g. "blk.0.attn_q.weight.lora_a"
  std::vector<int64_t> shape;  // ggml order
  std::vector<float> values;
};

struct Checkpoint {
  TrainFingerprint fingerprint;
  TrainCursor cursor;
  std::vector<NamedTensor> params, first_moments, second_moments;  // same order and shapes
};

// Atomic write; Error on I/O failure.
void write_checkpoint(const std::string& path, const Checkpoint& checkpoint);
// Error naming the file when it is not a checkpoint, of another version, or damaged.
Checkpoint read_checkpoint(const std::string& path);
// Error naming the file and what differs (base model, data, or which options) when `checkpoint`
// was written for other inputs than `expected`.
void check_resumable(const std::string& path, const Checkpoint& checkpoint, const TrainFingerprint& expected);

// A fast 64-bit hash of bytes (8 bytes a step, multiply-xorshift mixing): fingerprints, not security.
uint64_t hash_bytes(const void* data, size_t size, uint64_t seed = 0);
// hash_bytes over a whole file, read in pieces.
uint64_t hash_file(const std::string& path);

}  // namespace bantam::train
