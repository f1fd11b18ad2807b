// The fine-tuning loop around a training core: epochs over the training examples in a seeded
// order, batches of `batch` examples, gradients accumulated over `grad_accum` batches and applied
// by AdamW, the held-out loss scored before training and after each epoch, a checkpoint at each
// epoch's end and whenever `should_stop` says so (Ctrl-C), and a resume from a checkpoint that
// continues bit for bit.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "train/adamw.hpp"
#include "train/checkpoint.hpp"
#include "train/train_data.hpp"

namespace bantam::train {

// One trainable tensor of the core: its values and its gradient, both F32, same size.
struct ParameterView {
  std::string name;            // e.g. "blk.0.attn_q.weight.lora_a"
  std::vector<int64_t> shape;  // ggml order: [n_in, rank] for lora_a, [rank, n_out] for lora_b
  std::span<float> values;
  std::span<float> gradient;
};

struct BatchLoss {
  double loss_sum = 0;  // summed -log p over the scored tokens
  uint64_t tokens = 0;  // scored tokens
};

// What the loop needs from the training core (the CLI adapts the core's trainer to it).
class TrainableModel {
 public:
  virtual ~TrainableModel() = default;
  virtual std::vector<ParameterView> parameters() = 0;  // stable order and storage
  virtual void zero_gradients() = 0;
  // Adds d(loss_sum)/d(parameter) of the batch to the gradients (summed, not averaged).
  virtual BatchLoss accumulate(std::span<const Example> batch) = 0;
  // The loss alone (no gradients).
  virtual BatchLoss evaluate(std::span<const Example> batch) = 0;
};

struct LoopOptions {
  int epochs = 1;
  int batch = 8;       // examples per accumulate() call
  int grad_accum = 1;  // batches per AdamW update
  uint64_t seed = 1;
  AdamWOptions adamw;
  TrainFingerprint fingerprint;
  std::string checkpoint_path;  // written at each epoch's end and on stop; empty: never
  int64_t checkpoint_every = 0; // also after every this many updates (0: not), so a crash loses little
};

struct LoopProgress {
  int epoch = 0, epochs = 0;
  int64_t step = 0, total_steps = 0;     // AdamW updates, done and planned
  double train_loss = 0;                 // mean per token over the last update
  std::optional<double> held_out_loss;   // the latest held-out score
  double tokens_per_second = 0;          // tokens (all, not only targets) through the core this run
  double fraction = 0;                   // of the whole run, for the ETA
};

struct LoopResult {
  bool stopped = false;                 // should_stop() ended it early (checkpoint written)
  int64_t steps = 0;
  std::optional<double> initial_held_out_loss, final_held_out_loss;
  double last_train_loss = 0;
};

struct LoopCallbacks {
  std::function<void(const LoopProgress&)> on_step;                 // after every update
  std::function<void(const LoopProgress&)> on_epoch;                // after each epoch's held-out score
  std::function<bool()> should_stop;                                // polled after every update
};

// Runs the loop; `resume`, when given, must have been checked (check_resumable) and hold the
// model's parameters in the same order and shapes (Error naming the tensor otherwise).
LoopResult run_training(TrainableModel& model, const Dataset& data, const LoopOptions& options,
                        const std::optional<Checkpoint>& resume, const LoopCallbacks& callbacks);

// The held-out loss per token (batches of `batch`); nullopt when there is no held-out example.
std::optional<double> held_out_loss(TrainableModel& model, std::span<const Example> held_out, int batch);

}  // namespace bantam::train
