// The LoRA trainer as a whole: its forward equals inference's, its loss falls when trained, its
// errors name what is wrong, and its memory formula counts what it holds. (Its gradients are
// checked against the float64 reference in tests/numerics/reference_backward_test.cpp.)
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "bantam/bantam.hpp"
#include "bantam/error.hpp"
#include "format/gguf.hpp"
#include "model/decoder.hpp"
#include "model/kv_cache.hpp"
#include "test_support.hpp"
#include "train/lora_trainer.hpp"

namespace bantam {
namespace {

struct Loaded {
  gguf::File file;
  ModelConfig config;
  Weights weights;
  explicit Loaded(const std::string& name)
      : file(gguf::File::open(test::shared("models/weights/" + name).string())),
        config(ModelConfig::from_gguf(file)),
        weights(Weights::bind(file, config)) {}
};

std::vector<int32_t> story_tokens(const std::string& model_file, size_t n) {
  const auto model = Model::load(test::shared("models/weights/" + model_file).string());
  const std::string text = test::read_file(test::shared("corpus/gpl-3.txt"));
  std::vector<int32_t> tokens = model->tokenize(text.substr(0, 4000));
  tokens.resize(std::min(tokens.size(), n));
  return tokens;
}

// An untrained adapter (B = 0) leaves the model as it is: the trainer's loss equals the one
// inference's logits give (Decoder, F32 KV cache).
TEST(LoraTrainer, UntrainedLossEqualsInferenceLoss) {
  Loaded m("stories260K.gguf");
  const std::vector<int32_t> tokens = story_tokens("stories260K.gguf", 48);
  Decoder decoder(m.config, m.weights);
  KvCache cache(m.config, 64, 64, KvRowTypes{GgmlType::F32, GgmlType::F32});
  ForwardBuffers buffers;
  ops::ThreadPool pool(2);
  std::vector<float> logits;
  const DecodeSegment segment{.tokens = tokens, .first_pos = 0, .cache = &cache};
  decoder.forward({&segment, 1}, buffers, pool, ForwardOutput::AllLogits, logits);
  double expected = 0;
  for (size_t t = 0; t + 1 < tokens.size(); ++t) {
    const float* row = logits.data() + t * static_cast<size_t>(m.config.n_vocab);
    double mx = row[0], total = 0;
    for (int v = 0; v < m.config.n_vocab; ++v) mx = std::max<double>(mx, row[v]);
    for (int v = 0; v < m.config.n_vocab; ++v) total += std::exp(row[v] - mx);
    expected += mx + std::log(total) - row[tokens[t + 1]];
  }
  train::LoraTrainer trainer(m.config, m.weights, {.targets = {"attn_q", "attn_v", "ffn_down"}, .vocab_chunk = 128});
  const train::StepLoss loss = trainer.evaluate(tokens, {}, pool);
  EXPECT_EQ(loss.n_targets, static_cast<int64_t>(tokens.size()) - 1);
  EXPECT_NEAR(loss.loss_sum, expected, 1e-4 * expected);
}

// A few normalized gradient steps on one text lower its loss, for an F32 and a Q4_0 base, and
// one thread and two give the same gradients.
class LossFalls : public testing::TestWithParam<std::string> {};

TEST_P(LossFalls, OnTheTrainingText) {
  Loaded m(GetParam());
  const std::vector<int32_t> tokens = story_tokens(GetParam(), 64);
  train::LoraTrainer trainer(m.config, m.weights, {.targets = {"attn_q", "attn_v", "ffn_down"}, .rank = 4});
  ops::ThreadPool pool(2), single(1);
  const double before = trainer.evaluate(tokens, {}, pool).mean();
  for (int step = 0; step < 6; ++step) {
    trainer.zero_gradients();
    const train::StepLoss loss = trainer.step(tokens, {}, pool);
    trainer.scale_gradients(1.0f / static_cast<float>(loss.n_targets));
    if (step == 0) {
      const std::vector<float> two_threads(trainer.gradients().begin(), trainer.gradients().end());
      trainer.zero_gradients();
      trainer.step(tokens, {}, single);
      trainer.scale_gradients(1.0f / static_cast<float>(loss.n_targets));
      double diff = 0, norm = 0;
      for (size_t i = 0; i < two_threads.size(); ++i) {
        diff += std::abs(two_threads[i] - trainer.gradients()[i]);
        norm += std::abs(two_threads[i]);
      }
      EXPECT_LT(diff, 1e-5 * norm);
    }
    double norm = 0;
    for (float g : trainer.gradients()) norm += static_cast<double>(g) * g;
    ASSERT_GT(norm, 0.0);
    const float rate = static_cast<float>(0.5 / std::sqrt(norm));
    for (size_t i = 0; i < trainer.parameters().size(); ++i) trainer.parameters()[i] -= rate * trainer.gradients()[i];
  }
  const double after = trainer.evaluate(tokens, {}, pool).mean();
  EXPECT_LT(after, before - 0.05) << "before " << before << ", after " << after;
}

INSTANTIATE_TEST_SUITE_P(Bases, LossFalls, testing::Values("stories260K.gguf", "stories260K-Q4_0.gguf"),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return info.param == "stories260K.gguf" ? std::string("F32") : std::string("Q4_0");
                         });

TEST(LoraTrainer, LayoutFollowsLlamaCppAdapters) {
  Loaded m("stories260K.gguf");
  train::LoraTrainer trainer(m.config, m.weights, {.targets = {"attn_v", "ffn_down"}, .rank = 8, .alpha = 16});
  ASSERT_EQ(trainer.tensors().size(), static_cast<size_t>(2 * m.config.n_layer));
  const train::LoraTensor& down = trainer.tensors()[1];
  EXPECT_EQ(down.target, "blk.0.ffn_down.weight");
  EXPECT_EQ(down.n_in, m.config.n_ff);
  EXPECT_EQ(down.n_out, m.config.n_embd);
  EXPECT_EQ(down.b_offset, down.a_offset + static_cast<size_t>(8 * down.n_in));
  size_t total = 0;
  for (const auto& t : trainer.tensors()) total += static_cast<size_t>(t.rank * (t.n_in + t.n_out));
  EXPECT_EQ(trainer.parameters().size(), total);
  // B starts at zero, A does not.
  for (int64_t i = 0; i < down.n_out * down.rank; ++i) ASSERT_EQ(trainer.parameters()[down.b_offset + i], 0.0f);
  EXPECT_NE(trainer.parameters()[down.a_offset], 0.0f);
}

TEST(LoraTrainer, MemoryFormulaCountsItsParts) {
  Loaded m("stories260K.gguf");
  const train::LoraTrainerOptions options{.targets = {"attn_q", "attn_v"}, .rank = 8, .vocab_chunk = 256};
  train::LoraTrainer trainer(m.config, m.weights, options);
  const train::TrainingMemory memory = trainer.memory(128);
  EXPECT_EQ(memory.adapters, 8 * trainer.parameters().size());
  EXPECT_EQ(memory.optimizer, memory.adapters);
  EXPECT_EQ(memory.checkpoints, 4u * static_cast<uint64_t>(m.config.n_layer + 1) * 128 * m.config.n_embd);
  EXPECT_EQ(memory.loss_chunk, 4u * 128 * (256 + 2 * static_cast<uint64_t>(m.config.n_embd)));
  EXPECT_GT(memory.layer_activations, 4u * 128 * 10 * m.config.n_embd);
  EXPECT_EQ(memory.total(), memory.adapters + memory.optimizer + memory.checkpoints + memory.layer_activations +
                                memory.loss_chunk);
  EXPECT_EQ(train::LoraTrainer::memory(m.config, m.weights, options, 128).total(), memory.total());
}

TEST(LoraTrainer, ErrorsNameTheProblem) {
  Loaded m("stories260K.gguf");
  const auto message = [&](const train::LoraTrainerOptions& options) {
    try {
      train::LoraTrainer trainer(m.config, m.weights, options);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message({.targets = {"attn_x"}}).find("'attn_x' is not a trainable matrix kind"), std::string::npos);
  EXPECT_NE(message({.targets = {"output"}}).find("not a trainable matrix kind"), std::string::npos);
  EXPECT_NE(message({.targets = {"attn_qkv"}}).find("has no blk.0.attn_qkv.weight"), std::string::npos);
  EXPECT_NE(message({.targets = {"attn_q"}, .rank = 0}).find("rank 0 is below 1"), std::string::npos);
  EXPECT_NE(message({.targets = {"attn_k"}, .rank = 100000}).find("exceeds the smaller side"), std::string::npos);
  EXPECT_NE(message({.targets = {}}).find("no target"), std::string::npos);

  train::LoraTrainer trainer(m.config, m.weights, {});
  ops::ThreadPool pool(1);
  const std::vector<int32_t> one = {1};
  const std::vector<int32_t> bad = {1, 100000};
  const std::vector<int32_t> good = {1, 2, 3};
  const std::vector<uint8_t> short_mask = {1, 1};
  EXPECT_THROW(
      {
        try {
          trainer.step(one, {}, pool);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("nothing to predict"), std::string::npos);
          throw;
        }
      },
      Error);
  EXPECT_THROW(trainer.step(bad, {}, pool), Error);
  EXPECT_THROW(trainer.step(good, short_mask, pool), Error);
  // A mask scoring nothing: no loss, no gradient.
  const std::vector<uint8_t> none = {1, 0, 0};
  const train::StepLoss loss = trainer.step(good, none, pool);
  EXPECT_EQ(loss.n_targets, 0);
  EXPECT_EQ(loss.mean(), 0.0);
}

}  // namespace
}  // namespace bantam
