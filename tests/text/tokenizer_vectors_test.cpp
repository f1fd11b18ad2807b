// llama.cpp's tokenizer test vectors (test-tokenizer-0: add_special=false, parse_special=false)
// for every vocab that has them, and the round trip back to the input.
#include <gtest/gtest.h>

#include "tokenizer_test_support.hpp"

namespace bantam {
namespace {

struct VocabCase {
  std::string name;
  std::string gguf;     // under shared/
  std::string vectors;  // prefix of the .inp/.out pair under shared/
};

std::string vocab(const std::string& name) { return "models/vocab/ggml-vocab-" + name + ".gguf"; }
std::string derived(const std::string& name) {
  return "models/vocab-derived/ggml-vocab-" + name + ".gguf";
}

std::vector<VocabCase> cases() {
  std::vector<VocabCase> all;
  for (const char* name : {"llama-spm", "phi-3", "gpt-2", "deepseek-llm", "deepseek-coder",
                           "falcon", "mpt", "refact", "starcoder"}) {
    all.push_back({name, vocab(name), vocab(name)});
  }
  // The Llama 3 and Qwen2 vocab GGUFs were rebuilt from the official tokenizer.json files; the
  // vectors are llama.cpp's.
  for (const char* name : {"llama-bpe", "qwen2"}) all.push_back({name, derived(name), vocab(name)});
  return all;
}

void PrintTo(const VocabCase& c, std::ostream* os) { *os << c.name; }

class TokenizerVectors : public ::testing::TestWithParam<VocabCase> {};

TEST_P(TokenizerVectors, EncodeGivesTheExpectedIds) {
  const auto& c = GetParam();
  const Tokenizer& tok = test::shared_tokenizer(c.gguf);
  const auto vectors = test::read_vocab_vectors(c.vectors);
  ASSERT_EQ(vectors.size(), 46u) << "unexpected vector files for " << c.name;
  for (size_t i = 0; i < vectors.size(); ++i) {
    EXPECT_EQ(tok.encode(vectors[i].text, false, false), vectors[i].ids)
        << c.name << " string #" << i << ": '" << vectors[i].text << "'";
  }
}

// Every upstream vector round-trips: decode() keeps bytes exactly (no clean-up of spaces before
// punctuation, unlike llama.cpp's clean_spaces for some BPE vocabs) and removes only the space
// SPM prepends. None of these strings has U+2581 (SPM turns it into a space) or text NFC changes.
TEST_P(TokenizerVectors, DecodeGivesTheInputBack) {
  const auto& c = GetParam();
  const Tokenizer& tok = test::shared_tokenizer(c.gguf);
  for (const auto& v : test::read_vocab_vectors(c.vectors)) {
    EXPECT_EQ(tok.decode(v.ids, false), v.text) << c.name;
    EXPECT_EQ(tok.decode(v.ids, true), v.text) << c.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Vocabs, TokenizerVectors, ::testing::ValuesIn(cases()),
                         [](const auto& info) {
                           std::string name = info.param.name;
                           for (char& ch : name) {
                             if (ch == '-') ch = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace bantam
