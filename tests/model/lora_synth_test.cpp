// `bantam lora synth`: random adapters that load against their model and change its logits.
#include <gtest/gtest.h>

#include "bantam/bantam.hpp"
#include "format/gguf.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

std::string base_path() { return test::shared("models/weights/stories260K.gguf").string(); }

TEST(LoraSynth, WritesALoadableAdapterOfTheRequestedShape) {
  const std::string out = (test::temp_dir() / "synth-r4.gguf").string();
  const auto run = test::run_cli({"lora", "synth", base_path(), out, "--rank", "4", "--targets", "attn_q,ffn_up"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto file = gguf::File::open(out);
  EXPECT_EQ(file.get_string("general.type"), "adapter");
  EXPECT_EQ(file.get_string("adapter.type"), "lora");
  const gguf::TensorInfo* a = file.find_tensor("blk.0.attn_q.weight.lora_a");
  const gguf::TensorInfo* b = file.find_tensor("blk.4.ffn_up.weight.lora_b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{64, 4}));   // [n_in, rank]
  EXPECT_EQ(b->shape, (std::vector<int64_t>{4, 172}));  // [rank, n_out]
  EXPECT_EQ(file.tensors().size(), 20u);                 // 5 layers x 2 kinds x (A, B)

  const auto model = Model::load(base_path());
  const auto adapter = Adapter::load(out, *model);
  EXPECT_EQ(adapter->tensor_pairs(), 10u);
  const auto prompt = model->tokenize("Once upon a time", true, false);
  Session plain(model, {.context_length = 64, .threads = 1});
  Session adapted(model, {.context_length = 64, .threads = 1, .adapters = {{adapter, 1.0f}}});
  EXPECT_NE(plain.evaluate(prompt), adapted.evaluate(prompt));
}

TEST(LoraSynth, UnknownTargetsAndBadRanksAreRefused) {
  const std::string out = (test::temp_dir() / "refused.gguf").string();
  auto run = test::run_cli({"lora", "synth", base_path(), out, "--targets", "attn_z"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("no attn_z matrices"), std::string::npos) << run.err;
  run = test::run_cli({"lora", "synth", base_path(), out, "--type", "q4_0"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("Q4_0"), std::string::npos) << run.err;
}

}  // namespace
}  // namespace bantam
