// `bantam lora merge`: the merged model computes what base + adapter compute at run time.
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

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

TEST(LoraMerge, RowsThatAreNoWholeBlocksFallBackWithAMessage) {
  // ffn_down takes 172 inputs: not a whole number of 32-element Q8_0 blocks, so F16 (as quantize does).
  const std::string merged = (test::temp_dir() / "q8-fallback.gguf").string();
  const auto run = test::run_cli({"lora", "merge", base_path(), adapter_path("stories260K-lora-qvd-r8-f32.gguf"),
                                  merged, "--type", "q8_0"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("blk.0.ffn_down.weight rows are no whole number of Q8_0 blocks; written as F16"),
            std::string::npos)
      << run.err;
  const auto out = gguf::File::open(merged);
  EXPECT_EQ(out.find_tensor("blk.0.ffn_down.weight")->type, GgmlType::F16);
  EXPECT_EQ(out.find_tensor("blk.0.attn_q.weight")->type, GgmlType::Q8_0);
}

double kl_mean(const std::vector<std::string>& args) {
  const auto run = test::run_cli(args);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  return nlohmann::json::parse(run.out).at("kl_mean").get<double>();
}

// A merged quantized model is as close to base + adapter (F32, at run time) as quantizing the
// base alone is to the base: merging adds no error of its own beyond the quantization.
TEST(LoraMerge, MergedQuantizedModelStaysWithinQuantizationError) {
  const auto dir = test::temp_dir();
  const std::string corpus = test::shared("corpus/small-llms-essay.txt").string();
  const std::string adapter = adapter_path("stories260K-lora-qvd-r8-f32.gguf");
  const std::vector<std::string> ppl = {"perplexity", "-f", corpus, "-c", "128", "--chunks", "40", "-o", "json"};
  const auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = ppl;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  const std::string runtime_logits = (dir / "runtime.bin").string(), base_logits = (dir / "base.bin").string();
  ASSERT_EQ(test::run_cli(with({"-m", base_path(), "--lora", adapter, "--kl-divergence-base", runtime_logits})).exit_code, 0);
  ASSERT_EQ(test::run_cli(with({"-m", base_path(), "--kl-divergence-base", base_logits})).exit_code, 0);

  const std::string merged = (dir / "merged-q8.gguf").string(), quantized = (dir / "base-q8.gguf").string();
  ASSERT_EQ(test::run_cli({"lora", "merge", base_path(), adapter, merged, "--type", "q8_0"}).exit_code, 0);
  ASSERT_EQ(test::run_cli({"quantize", base_path(), quantized, "q8_0"}).exit_code, 0);
  const double merged_kl = kl_mean({"perplexity", "-o", "json", "-m", merged, "--kl-divergence-base", runtime_logits, "--kl-divergence"});
  const double quantized_kl = kl_mean({"perplexity", "-o", "json", "-m", quantized, "--kl-divergence-base", base_logits, "--kl-divergence"});
  std::cout << "KL merged Q8_0 vs base+adapter: " << merged_kl << ", quantized base vs base: " << quantized_kl << "\n";
  EXPECT_GT(merged_kl, 0.0);  // the merged matrices really are quantized
  EXPECT_LT(merged_kl, 1.5 * quantized_kl);
}

}  // namespace
}  // namespace bantam
