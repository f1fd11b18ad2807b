#include <gtest/gtest.h>

#include "bantam/error.hpp"
#include "eval/synth.hpp"
#include "format/gguf.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

TEST(Synth, PresetsCarryThePublishedDimensions) {
  const auto& q = find_synth_preset("qwen2-0.5b");
  EXPECT_EQ(q.arch, "qwen2");
  EXPECT_EQ(q.n_embd, 896);
  EXPECT_EQ(q.n_layer, 24);
  EXPECT_EQ(q.n_head, 14);
  EXPECT_EQ(q.n_head_kv, 2);
  EXPECT_EQ(q.n_ff, 4864);
  const auto& l = find_synth_preset("llama-3.2-1b");
  EXPECT_EQ(l.n_embd, 2048);
  EXPECT_EQ(l.n_layer, 16);
  EXPECT_EQ(l.n_head_kv, 8);
  EXPECT_EQ(l.n_ff, 8192);
  EXPECT_EQ(find_synth_preset("mistral-nemo-12b").head_dim, 128);  // != 5120 / 32
  EXPECT_EQ(find_synth_preset("gemma-2-2b").head_dim, 256);
  for (const char* name : {"llama-3.1-8b", "phi-3-mini"}) EXPECT_NO_THROW(find_synth_preset(name));
  try {
    find_synth_preset("gpt-5");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("qwen2-0.5b"), std::string::npos);
  }
}

TEST(Synth, WritesAValidModelWithTheVocabAndTheMix) {
  const auto out = test::temp_dir() / "q.gguf";
  const auto r = test::run_cli({"synth", "--arch", "qwen2", "--preset", "qwen2-0.5b", "--type",
                                "Q4_K_M", "--layers", "2", "--vocab",
                                test::shared("models/weights/stories260K.gguf").string(),
                                out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto f = gguf::File::open(out);
  EXPECT_EQ(f.architecture(), "qwen2");
  EXPECT_EQ(f.get_uint("qwen2.embedding_length"), 896u);
  EXPECT_EQ(f.get_uint("qwen2.block_count"), 2u);
  EXPECT_EQ(f.get_uint("general.file_type"), 15u);
  EXPECT_EQ(f.get_array("tokenizer.ggml.tokens")->size(), 512u);
  const auto* embd = f.find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->shape, (std::vector<int64_t>{896, 512}));
  EXPECT_EQ(embd->type, GgmlType::Q8_0);  // tied output, 896 % 256 != 0: Q6_K falls back
  EXPECT_EQ(f.find_tensor("output.weight"), nullptr);
  ASSERT_NE(f.find_tensor("blk.0.attn_q.bias"), nullptr);
  // 896-wide rows do not fit 256-blocks: the K-quant falls back to a 32-block type.
  EXPECT_EQ(f.find_tensor("blk.0.attn_q.weight")->type, GgmlType::Q5_0);
  // ffn_down rows are 4864 = 19 * 256 wide; the last layer gets more bits in Q4_K_M.
  EXPECT_EQ(f.find_tensor("blk.0.ffn_down.weight")->type, GgmlType::Q4_K);
  EXPECT_EQ(f.find_tensor("blk.1.ffn_down.weight")->type, GgmlType::Q6_K);
  EXPECT_EQ(f.find_tensor("blk.0.attn_norm.weight")->type, GgmlType::F32);
  EXPECT_NE(r.err.find("done"), std::string::npos);
}

TEST(Synth, RejectsUnknownTypesAndArchitectureMismatch) {
  const auto out = test::temp_dir() / "x.gguf";
  auto r = test::run_cli({"synth", "--preset", "qwen2-0.5b", "--type", "Q9_9", out.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown type 'Q9_9'"), std::string::npos) << r.err;
  r = test::run_cli({"synth", "--arch", "gemma2", "--preset", "qwen2-0.5b", out.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not 'gemma2'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bantam
