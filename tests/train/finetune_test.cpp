// train::finetune end to end on small shared models: chat data through the real training core,
// default targets on a fused-attention model, and the adapter bantam's loader accepts.
#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "bantam/error.hpp"
#include "format/gguf.hpp"
#include "model/config.hpp"
#include "model/lora.hpp"
#include "test_support.hpp"
#include "train/finetune.hpp"

namespace bantam::train {
namespace {

using test::shared;

TEST(Finetune, ChatDataTeachesTheAssistantsAnswer) {
  const auto dir = test::temp_dir();
  std::string lines;
  for (int i = 0; i < 12; ++i) {
    lines += nlohmann::json{{"messages", {{{"role", "user"}, {"content", "What is my dog called?"}},
                                         {{"role", "assistant"}, {"content", "Your dog is called Biscuit."}}}}}
                 .dump() +
             "\n";
  }
  test::write_file(dir / "chats.jsonl", lines);
  FinetuneOptions o;
  o.model = shared("models/weights/stories260K.gguf").string();
  o.data = (dir / "chats.jsonl").string();
  o.output = (dir / "chat.gguf").string();
  o.context = 64;
  o.batch = 2;
  o.epochs = 2;
  o.lr = 5e-3f;
  o.threads = 1;
  o.targets = {"attn_q", "attn_v", "ffn_down"};
  int started = 0;
  const FinetuneReport report =
      finetune(o, FinetuneCallbacks{.on_start = [&](const FinetuneReport&) { ++started; }, .loop = {}});
  EXPECT_EQ(started, 1);
  EXPECT_EQ(report.train_examples + report.held_out_examples, 12u);
  EXPECT_EQ(report.held_out_examples, 1u);
  ASSERT_TRUE(report.loop.initial_held_out_loss && report.loop.final_held_out_loss);
  EXPECT_LT(*report.loop.final_held_out_loss, *report.loop.initial_held_out_loss * 0.5);

  const gguf::File base = gguf::File::open(o.model);
  const Weights weights = Weights::bind(base, ModelConfig::from_gguf(base));
  const LoraAdapterFile adapter = LoraAdapterFile::load(o.output, "llama", weights);
  EXPECT_EQ(adapter.alpha, 16.0f);
  EXPECT_EQ(adapter.pairs.size(), 3u * 5u);  // three kinds in stories260K's five layers
}

TEST(Finetune, DefaultTargetsAreTheKindsTheModelHasFusedOnesWhole) {
  const auto dir = test::temp_dir();
  test::write_file(dir / "t.txt", "Once upon a time there was a little dog. It liked to run in the park.");
  FinetuneOptions o;
  o.model = shared("models/synthetic/synth-phi3-Q4_0.gguf").string();
  o.data = (dir / "t.txt").string();
  o.output = (dir / "phi3.gguf").string();
  o.context = 16;
  o.batch = 4;
  o.threads = 1;
  o.eval_split = 0;
  const FinetuneReport report = finetune(o, {});
  EXPECT_NE(std::find(report.targets.begin(), report.targets.end(), "attn_qkv"), report.targets.end());
  EXPECT_EQ(std::find(report.targets.begin(), report.targets.end(), "attn_q"), report.targets.end());
  EXPECT_FALSE(report.loop.final_held_out_loss);  // no held-out split asked for
  EXPECT_TRUE(gguf::File::open(o.output).find_tensor("blk.0.attn_qkv.weight.lora_a"));
}

}  // namespace
}  // namespace bantam::train
