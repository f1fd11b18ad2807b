// Loading: a malformed-model corpus written with gguf::Writer must fail at load with a message
// naming the tensor or key; a well-formed tiny model runs on token ids even without a vocabulary.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "bantam/bantam.hpp"
#include "format/gguf_writer.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

using gguf::Value;

constexpr int kEmbd = 32, kFf = 64, kVocab = 16;

std::vector<uint8_t> f32_bytes(int64_t n, float seed) {
  std::vector<float> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = 0.1f * std::sin(seed + 0.37f * static_cast<float>(i));
  std::vector<uint8_t> bytes(n * 4);
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

struct TensorSpec {
  std::string name;
  GgmlType type;
  std::vector<int64_t> shape;
};

std::vector<TensorSpec> tiny_llama_tensors() {
  return {{"token_embd.weight", GgmlType::F32, {kEmbd, kVocab}},
          {"output_norm.weight", GgmlType::F32, {kEmbd}},
          {"blk.0.attn_norm.weight", GgmlType::F32, {kEmbd}},
          {"blk.0.attn_q.weight", GgmlType::F32, {kEmbd, kEmbd}},
          {"blk.0.attn_k.weight", GgmlType::F32, {kEmbd, kEmbd}},
          {"blk.0.attn_v.weight", GgmlType::F32, {kEmbd, kEmbd}},
          {"blk.0.attn_output.weight", GgmlType::F32, {kEmbd, kEmbd}},
          {"blk.0.ffn_norm.weight", GgmlType::F32, {kEmbd}},
          {"blk.0.ffn_gate.weight", GgmlType::F32, {kEmbd, kFf}},
          {"blk.0.ffn_up.weight", GgmlType::F32, {kEmbd, kFf}},
          {"blk.0.ffn_down.weight", GgmlType::F32, {kFf, kEmbd}}};
}

// A one-layer llama; `edit` may change its metadata and tensor list before it is written.
std::string write_model(const std::string& name,
                        const std::function<void(gguf::Writer&, std::vector<TensorSpec>&)>& edit = {}) {
  gguf::Writer w;
  w.set("general.architecture", Value::string("llama"));
  w.set("llama.embedding_length", Value::u32(kEmbd));
  w.set("llama.block_count", Value::u32(1));
  w.set("llama.feed_forward_length", Value::u32(kFf));
  w.set("llama.attention.head_count", Value::u32(2));
  w.set("llama.attention.head_count_kv", Value::u32(2));
  w.set("llama.attention.layer_norm_rms_epsilon", Value::f32(1e-5f));
  w.set("tokenizer.ggml.eos_token_id", Value::u32(2));
  std::vector<TensorSpec> tensors = tiny_llama_tensors();
  if (edit) edit(w, tensors);
  float seed = 0;
  for (const auto& t : tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    auto bytes = f32_bytes(n, seed += 1.0f);
    bytes.resize(row_bytes(t.type, t.shape[0]) * (n / t.shape[0]));
    w.add_tensor(t.name, t.type, t.shape, std::move(bytes));
  }
  const auto path = (test::temp_dir() / name).string();
  w.write(path);
  return path;
}

void set_tensor(std::vector<TensorSpec>& tensors, const std::string& name, GgmlType type, std::vector<int64_t> shape) {
  for (auto& t : tensors) {
    if (t.name == name) t = {name, type, std::move(shape)};
  }
}

void expect_load_error(const std::string& path, const std::string& fragment) {
  try {
    Model::load(path);
    ADD_FAILURE() << path << " loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Load, TinyModelGeneratesFromIdsWithoutAVocabulary) {
  const auto model = Model::load(write_model("ok.gguf"));
  EXPECT_EQ(model->info().n_vocab, kVocab);
  EXPECT_THROW(model->tokenize("hello"), Error);
  Session session(model, {.context_length = 64, .threads = 1});
  GenerateOptions options;
  options.max_tokens = 5;
  options.sampling.temperature = 0;
  const auto result = session.generate(std::vector<TokenId>{1, 5, 7}, options);
  EXPECT_LE(result.tokens.size(), 5u);
  for (TokenId id : result.tokens) EXPECT_TRUE(id >= 0 && id < kVocab);
}

TEST(Load, MalformedCorpusFailsWithClearMessages) {
  struct Case {
    std::string name;
    std::function<void(gguf::Writer&, std::vector<TensorSpec>&)> edit;
    std::string message;
  };
  using Tensors = std::vector<TensorSpec>;
  const std::vector<Case> cases = {
      {"missing_tensor", [](gguf::Writer&, Tensors& t) {
         std::erase_if(t, [](const TensorSpec& s) { return s.name == "blk.0.ffn_up.weight"; });
       }, "missing tensor blk.0.ffn_up.weight"},
      {"wrong_shape", [](gguf::Writer&, Tensors& t) {
         set_tensor(t, "blk.0.attn_q.weight", GgmlType::F32, {kEmbd, 16});
       }, "llama.attention.head_count x llama.attention.key_length = 32 does not match tensor "
          "blk.0.attn_q.weight of shape [32, 16]"},
      {"unsupported_type", [](gguf::Writer&, Tensors& t) {
         set_tensor(t, "blk.0.attn_k.weight", GgmlType::I32, {kEmbd, kEmbd});
       }, "tensor blk.0.attn_k.weight: type I32 is not supported"},
      {"norm_type", [](gguf::Writer&, Tensors& t) {
         set_tensor(t, "blk.0.ffn_norm.weight", GgmlType::I32, {kEmbd});
       }, "tensor blk.0.ffn_norm.weight: expected type F32, got I32"},
      {"missing_key", [](gguf::Writer& w, Tensors&) { w.remove("llama.block_count"); },
       "missing metadata key llama.block_count"},
      {"bad_gqa", [](gguf::Writer& w, Tensors&) { w.set("llama.attention.head_count_kv", Value::u32(3)); },
       "is not a multiple of"},
      {"architecture", [](gguf::Writer& w, Tensors&) { w.set("general.architecture", Value::string("gpt9")); },
       "unsupported architecture 'gpt9'"},
      {"extra_layer", [](gguf::Writer& w, Tensors&) { w.set("llama.block_count", Value::u32(2)); },
       "llama.block_count = 2 but the file has tensors for 1 layers"},
      {"missing_layer_tensor", [](gguf::Writer&, Tensors& t) {
         t.push_back({"blk.1.attn_norm.weight", GgmlType::F32, {kEmbd}});
       }, "llama.block_count = 1 but the file has tensors for 2 layers"},
  };
  for (const auto& c : cases) expect_load_error(write_model(c.name + ".gguf", c.edit), c.message);
}

// Every hyper-parameter that sizes a buffer, set far beyond the tensors: each load must fail
// with the key and the file named, before anything is allocated from it (no std::bad_alloc).
TEST(Load, ShapeKeysAreCheckedAgainstTheTensors) {
  const uint32_t huge = 1u << 30;
  const std::vector<std::pair<std::string, std::string>> keys = {
      {"llama.block_count", "metadata llama.block_count = 1073741824 but the file has tensors for 1 layers"},
      {"llama.embedding_length", "metadata llama.embedding_length = 1073741824 does not match tensor token_embd.weight"},
      {"llama.feed_forward_length", "metadata llama.feed_forward_length = 1073741824 does not match tensor blk.0.ffn_down"},
      {"llama.attention.head_count", "llama.attention.key_length must be positive, got 0"},
      {"llama.attention.key_length",
       "metadata llama.attention.head_count x llama.attention.key_length = 2147483648 does not match tensor blk.0.attn_q"},
      {"llama.attention.value_length",
       "metadata llama.attention.head_count x llama.attention.value_length = 2147483648 does not match tensor "
       "blk.0.attn_output"},
      {"llama.rope.dimension_count", "llama.rope.dimension_count = 1073741824 must be even and at most the head size 16"},
  };
  for (const auto& [key, message] : keys) {
    const auto path = write_model("huge.gguf", [&key](gguf::Writer& w, auto&) { w.set(key, Value::u32(huge)); });
    SCOPED_TRACE(key);
    expect_load_error(path, path + ": " + message);
  }
  // head_count and head_count_kv together, so that the grouping check passes.
  const auto heads = write_model("heads.gguf", [](gguf::Writer& w, auto&) {
    w.set("llama.attention.head_count", Value::u32(1u << 20));
    w.set("llama.attention.head_count_kv", Value::u32(1u << 20));
    w.set("llama.attention.key_length", Value::u32(16));
    w.set("llama.attention.value_length", Value::u32(16));
  });
  expect_load_error(heads, "llama.attention.head_count x llama.attention.value_length = 16777216 does not match");
}

// A vocabulary longer than the embedding is refused before its tokenizer is built (each token
// costs far more memory than its bytes); the model still runs on ids.
TEST(Load, MoreTokensThanEmbeddingRowsAreRefused) {
  const auto path = write_model("long_vocab.gguf", [](gguf::Writer& w, auto&) {
    Value::Array tokens;
    for (int i = 0; i <= kVocab; ++i) tokens.push_back(Value::string(fmt::format("t{}", i)));
    w.set("tokenizer.ggml.model", Value::string("llama"));
    w.set("tokenizer.ggml.tokens", Value::array(gguf::ValueType::STRING, tokens));
  });
  const auto model = Model::load(path);
  try {
    model->tokenize("t1");
    ADD_FAILURE() << "tokenized with a vocabulary longer than the embedding";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.ggml.tokens has 17 tokens but token_embd.weight has 16 rows"),
              std::string::npos)
        << e.what();
  }
}

// A context of 0 would serve a 1-token context; it is refused at load, naming the key.
TEST(Load, ZeroContextLengthIsRefused) {
  const auto path = write_model("ctx0.gguf", [](gguf::Writer& w, auto&) { w.set("llama.context_length", Value::u32(0)); });
  expect_load_error(path, path + ": llama.context_length must be positive, got 0");
}

}  // namespace
}  // namespace bantam
