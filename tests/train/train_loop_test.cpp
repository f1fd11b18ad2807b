// The training loop over a small convex stand-in for the training core: the loss falls, gradient
// accumulation equals a larger batch, and a run stopped and resumed from its checkpoint ends bit
// for bit where an uninterrupted run ends.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "bantam/error.hpp"
#include "test_support.hpp"
#include "train/train_loop.hpp"

namespace bantam::train {
namespace {

// Each scored token t pulls the parameters towards targets of its own:
// loss = sum_j (a_j - 1.5 - 0.3 sin(t + j))^2 + sum_k (b_k + 1 - 0.3 cos(t k))^2, gradients summed
// token by token; the start (a = 0, b = 0.5) is far from the minimum.
class QuadraticModel : public TrainableModel {
 public:
  QuadraticModel() : a_(6, 0.0f), b_(4, 0.5f), grad_a_(6), grad_b_(4) {}
  std::vector<ParameterView> parameters() override {
    return {ParameterView{.name = "w.lora_a", .shape = {3, 2}, .values = a_, .gradient = grad_a_},
            ParameterView{.name = "w.lora_b", .shape = {2, 2}, .values = b_, .gradient = grad_b_}};
  }
  void zero_gradients() override {
    std::fill(grad_a_.begin(), grad_a_.end(), 0.0f);
    std::fill(grad_b_.begin(), grad_b_.end(), 0.0f);
  }
  BatchLoss accumulate(std::span<const Example> batch) override { return run(batch, true); }
  BatchLoss evaluate(std::span<const Example> batch) override { return run(batch, false); }
  std::vector<float> a_, b_, grad_a_, grad_b_;

 private:
  BatchLoss run(std::span<const Example> batch, bool gradients) {
    BatchLoss out;
    for (const Example& e : batch) {
      for (size_t i = 0; i < e.tokens.size(); ++i) {
        if (!e.target[i]) continue;
        const auto t = static_cast<float>(e.tokens[i]);
        for (size_t j = 0; j < a_.size(); ++j) add(a_[j], 1.5f + 0.3f * std::sin(t + static_cast<float>(j)), grad_a_[j], gradients, out);
        for (size_t k = 0; k < b_.size(); ++k) add(b_[k], -1.0f + 0.3f * std::cos(t * static_cast<float>(k)), grad_b_[k], gradients, out);
        ++out.tokens;
      }
    }
    return out;
  }
  static void add(float p, float target, float& grad, bool gradients, BatchLoss& out) {
    const float d = p - target;
    out.loss_sum += static_cast<double>(d * d);
    if (gradients) grad += 2 * d;
  }
};

Dataset toy_data() {
  Dataset data;
  for (int i = 0; i < 23; ++i) {
    Example e;
    for (int t = 0; t < 5; ++t) e.tokens.push_back((i * 7 + t * 3) % 11);
    e.target = {0, 1, 1, 1, 1};
    data.train.push_back(e);
  }
  split_held_out(data, 0.15, 9);
  return data;
}

LoopOptions toy_options(const std::string& checkpoint) {
  LoopOptions o;
  o.epochs = 3;
  o.batch = 2;
  o.grad_accum = 2;
  o.seed = 11;
  o.adamw.lr = 0.1f;
  o.fingerprint = {.model_hash = 1, .data_hash = 2, .options = "lr=0.05"};
  o.checkpoint_path = checkpoint;
  return o;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(TrainLoop, LossFallsAndEveryEpochIsScored) {
  const Dataset data = toy_data();
  QuadraticModel model;
  int epochs_seen = 0;
  int64_t last_step = 0, total = 0;
  const LoopResult result = run_training(model, data, toy_options(""), std::nullopt,
                                         LoopCallbacks{.on_step = [&](const LoopProgress& p) {
                                                         last_step = p.step;
                                                         total = p.total_steps;
                                                       },
                                                       .on_epoch = [&](const LoopProgress&) { ++epochs_seen; },
                                                       .should_stop = nullptr});
  EXPECT_FALSE(result.stopped);
  EXPECT_EQ(epochs_seen, 3);
  EXPECT_EQ(last_step, total);
  EXPECT_EQ(result.steps, 3 * ((static_cast<int64_t>(data.train.size()) + 3) / 4));
  ASSERT_TRUE(result.initial_held_out_loss && result.final_held_out_loss);
  EXPECT_LT(*result.final_held_out_loss, *result.initial_held_out_loss * 0.8);
}

TEST(TrainLoop, GradientAccumulationEqualsTheLargerBatch) {
  const Dataset data = toy_data();
  QuadraticModel accumulated, whole;
  LoopOptions o = toy_options("");
  run_training(accumulated, data, o, std::nullopt, {});
  o.batch = 4;
  o.grad_accum = 1;
  run_training(whole, data, o, std::nullopt, {});
  EXPECT_TRUE(same_bits(accumulated.a_, whole.a_));
  EXPECT_TRUE(same_bits(accumulated.b_, whole.b_));
}

TEST(TrainLoop, StoppedAndResumedRunEndsBitForBitWhereAnUninterruptedOneEnds) {
  const Dataset data = toy_data();
  const auto dir = test::temp_dir();
  QuadraticModel straight;
  run_training(straight, data, toy_options((dir / "straight.ckpt").string()), std::nullopt, {});

  // Stop mid-epoch (step 7 of 15), then resume in a fresh model from the checkpoint.
  const std::string path = (dir / "stopped.ckpt").string();
  QuadraticModel first;
  int64_t steps = 0;
  const LoopResult stopped = run_training(first, data, toy_options(path), std::nullopt,
                                          LoopCallbacks{.on_step = [&](const LoopProgress& p) { steps = p.step; },
                                                        .on_epoch = nullptr,
                                                        .should_stop = [&] { return steps == 7; }});
  ASSERT_TRUE(stopped.stopped);
  const Checkpoint checkpoint = read_checkpoint(path);
  EXPECT_EQ(checkpoint.cursor.optimizer_steps, 7);
  EXPECT_EQ(checkpoint.cursor.epoch, 1);
  check_resumable(path, checkpoint, toy_options(path).fingerprint);
  QuadraticModel resumed;
  const LoopResult rest = run_training(resumed, data, toy_options(path), checkpoint, {});
  EXPECT_FALSE(rest.stopped);
  EXPECT_FALSE(rest.initial_held_out_loss);  // scored only at a run's real start
  EXPECT_TRUE(same_bits(resumed.a_, straight.a_));
  EXPECT_TRUE(same_bits(resumed.b_, straight.b_));

  // A checkpoint whose tensors do not fit the model is refused by name.
  Checkpoint wrong = checkpoint;
  wrong.params[1].name = "v.lora_b";
  QuadraticModel other;
  EXPECT_THROW(run_training(other, data, toy_options(""), wrong, {}), Error);
}

TEST(TrainLoop, CheckpointEveryNUpdatesIsWrittenBeforeTheStepIsReported) {
  const Dataset data = toy_data();
  const std::string path = (test::temp_dir() / "every.ckpt").string();
  LoopOptions o = toy_options(path);
  o.checkpoint_every = 4;
  QuadraticModel model;
  std::vector<int64_t> saved_at;
  run_training(model, data, o, std::nullopt,
               LoopCallbacks{.on_step = [&](const LoopProgress& p) {
                               if (p.step % 4 == 0) saved_at.push_back(read_checkpoint(path).cursor.optimizer_steps);
                             },
                             .on_epoch = nullptr,
                             .should_stop = nullptr});
  EXPECT_EQ(saved_at, (std::vector<int64_t>{4, 8, 12}));
}

TEST(TrainLoop, BadOptionsAreRefused) {
  const Dataset data = toy_data();
  QuadraticModel model;
  LoopOptions o = toy_options("");
  o.grad_accum = 0;
  EXPECT_THROW(run_training(model, data, o, std::nullopt, {}), Error);
  o = toy_options("");
  o.epochs = 0;
  EXPECT_THROW(run_training(model, data, o, std::nullopt, {}), Error);
}

}  // namespace
}  // namespace bantam::train
