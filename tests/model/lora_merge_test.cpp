// `bantam lora merge`: the merged model computes what base + adapter compute at run time.
#include <gtest/gtest.h>

#include <filesystem>

#include "bantam/bantam.hpp"
#include "format/gguf.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

std::string base_path() { return test::shared("models/weights/stories260K.gguf").string(); }
std::string adapter_path(const std::string& name) { return test::shared("models/adapters/" + name).string(); }

std::vector<TokenId> greedy(const std::shared_ptr<const Model>& model, std::vector<AdapterUse> adapters, int n) {
  Session session(model, {.context_length = 256, .threads = 2, .adapters = std::move(adapters)});
  GenerateOptions options;
  options.max_tokens = n;
  options.sampling.temperature = 0.0f;
  return session.generate(model->tokenize("Once upon a time, there was a little"), options).tokens;
}

TEST(LoraMerge, MergedF32MatchesRuntimeAdapter) {
  const std::string merged = (test::temp_dir() / "merged-f32.gguf").string();
  const std::string spec = adapter_path("stories260K-lora-kogu-r4-f16.gguf") + ":0.75";
  const auto run = test::run_cli({"lora", "merge", base_path(), spec, merged});
  ASSERT_EQ(run.exit_code, 0) << run.err;

  const auto base = Model::load(base_path());
  const auto adapter = Adapter::load(adapter_path("stories260K-lora-kogu-r4-f16.gguf"), *base);
  const auto runtime = greedy(base, {{adapter, 0.75f}}, 48);
  EXPECT_NE(runtime, greedy(base, {}, 48));
  EXPECT_EQ(greedy(Model::load(merged), {}, 48), runtime);
}

TEST(LoraMerge, TypeAppliesToMergedMatrices) {
  const std::string merged = (test::temp_dir() / "merged-q8.gguf").string();
  // The kogu matrices take 64 inputs: whole Q8_0 blocks.
  const auto run = test::run_cli({"lora", "merge", base_path(), adapter_path("stories260K-lora-kogu-r4-f16.gguf"),
                                  merged, "--type", "q8_0"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto out = gguf::File::open(merged);
  const auto adapted = gguf::File::open(adapter_path("stories260K-lora-kogu-r4-f16.gguf"));
  for (const gguf::TensorInfo& info : out.tensors()) {
    const bool is_target = adapted.find_tensor(info.name + ".lora_a") != nullptr;
    EXPECT_EQ(info.type, is_target ? GgmlType::Q8_0 : GgmlType::F32) << info.name;
  }
  EXPECT_EQ(greedy(Model::load(merged), {}, 8).size(), 8u);
}

TEST(LoraMerge, RefusedAdapterWritesNothing) {
  const std::string merged = (test::temp_dir() / "refused.gguf").string();
  const auto run = test::run_cli({"lora", "merge", base_path(), adapter_path("synth-qwen2-lora-qkvu-r8-f16.gguf"), merged});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("synth-qwen2-lora-qkvu-r8-f16.gguf"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("architecture"), std::string::npos) << run.err;
  EXPECT_FALSE(std::filesystem::exists(merged));
}

TEST(LoraMerge, TypeThatCannotHoldTheRowsIsRefused) {
  // ffn_down takes 172 inputs: not a whole number of 32-element Q8_0 blocks.
  const std::string merged = (test::temp_dir() / "q8-refused.gguf").string();
  const auto run = test::run_cli({"lora", "merge", base_path(), adapter_path("stories260K-lora-qvd-r8-f32.gguf"),
                                  merged, "--type", "q8_0"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("blk.0.ffn_down.weight"), std::string::npos) << run.err;
  EXPECT_FALSE(std::filesystem::exists(merged));
}

}  // namespace
}  // namespace bantam
