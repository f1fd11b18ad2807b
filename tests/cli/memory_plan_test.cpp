// `run`, `chat` and `bench` check the memory plan before a session allocates its KV cache: a
// context that cannot fit is refused with what would fit, before memory grows.
#include <gtest/gtest.h>

#include <regex>

#include <fmt/format.h>

#include "format/gguf.hpp"
#include "format/gguf_writer.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

using gguf::Value;

// One layer with 64 KV heads of 1024 (F16 zeros, the stories260K vocab): 256 KiB of KV cache
// per position, so 16 Mi positions need 4 TiB, more than any test machine has.
std::string wide_kv_model() {
  constexpr int64_t kEmbd = 32, kHeads = 64, kHead = 1024, kFf = 64;
  const auto vocab = gguf::File::open(test::shared("models/weights/stories260K.gguf").string());
  const int64_t n_vocab = static_cast<int64_t>(vocab.get_array("tokenizer.ggml.tokens")->size());
  gguf::Writer w;
  for (const auto& [key, value] : vocab.metadata()) {
    if (key.starts_with("tokenizer.")) w.set(key, value);
  }
  w.set("general.architecture", Value::string("llama"));
  w.set("llama.embedding_length", Value::u32(kEmbd));
  w.set("llama.block_count", Value::u32(1));
  w.set("llama.feed_forward_length", Value::u32(kFf));
  w.set("llama.attention.head_count", Value::u32(kHeads));
  w.set("llama.attention.head_count_kv", Value::u32(kHeads));
  w.set("llama.attention.key_length", Value::u32(kHead));
  w.set("llama.attention.value_length", Value::u32(kHead));
  w.set("llama.rope.dimension_count", Value::u32(64));
  const auto add = [&w](const std::string& name, GgmlType type, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (const int64_t d : shape) n *= d;
    w.add_tensor(name, type, shape, std::vector<uint8_t>(static_cast<size_t>(n) * (type == GgmlType::F32 ? 4 : 2)));
  };
  add("token_embd.weight", GgmlType::F32, {kEmbd, n_vocab});
  add("output_norm.weight", GgmlType::F32, {kEmbd});
  add("blk.0.attn_norm.weight", GgmlType::F32, {kEmbd});
  add("blk.0.ffn_norm.weight", GgmlType::F32, {kEmbd});
  for (const char* name : {"attn_q", "attn_k", "attn_v"}) {
    add(fmt::format("blk.0.{}.weight", name), GgmlType::F16, {kEmbd, kHeads * kHead});
  }
  add("blk.0.attn_output.weight", GgmlType::F16, {kHeads * kHead, kEmbd});
  add("blk.0.ffn_gate.weight", GgmlType::F16, {kEmbd, kFf});
  add("blk.0.ffn_up.weight", GgmlType::F16, {kEmbd, kFf});
  add("blk.0.ffn_down.weight", GgmlType::F16, {kFf, kEmbd});
  const auto path = (test::temp_dir() / "wide-kv.gguf").string();
  w.write(path);
  return path;
}

TEST(MemoryPlan, EngineCommandsRefuseAContextThatCannotFit) {
  const std::string model = wide_kv_model();
  const std::vector<std::vector<std::string>> commands = {
      {"run", "-m", model, "-p", "Once", "-n", "1", "-c", "16777216"},
      {"chat", "-m", model, "-c", "16777216"},
      {"bench", "-m", model, "-p", "1", "-n", "1", "-r", "1", "--ctx", "16777216"},
  };
  for (const auto& args : commands) {
    SCOPED_TRACE(args[0]);
    const auto r = test::run_cli(args, "hello\n");
    EXPECT_EQ(r.exit_code, 1) << r.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.err, m, std::regex(R"(a context of 16777216 tokens needs .* MiB \(weights .*, KV )"
                                                       R"(cache 4194304\.0 MiB, .*MemAvailable\): the longest context )"
                                                       R"(that fits is (\d+))")))
        << r.err;
    const int64_t fits = std::stoll(m[1]);
    EXPECT_GT(fits, 0);
    EXPECT_LT(fits, 16777216);
    EXPECT_LT(r.max_rss_kb, 512 * 1024) << "grew before refusing";
  }
}

}  // namespace
}  // namespace bantam
