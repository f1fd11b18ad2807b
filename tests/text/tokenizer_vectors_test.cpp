// llama.cpp's tokenizer test vectors (test-tokenizer-0: add_special=false, parse_special=false)
// for every vocab that has them, and the round trip back to the input.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "format/gguf_writer.hpp"
#include "tokenizer_test_support.hpp"

namespace bantam {
namespace {

struct VocabCase {
  std::string name;
  std::string gguf;     // under shared/
  std::string vectors;  // prefix of the .inp/.out pair under shared/
  bool round_trips = true;
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
  // WordPiece is lossy (lower-case, no accents, whitespace dropped): encoding only.
  all.push_back({"bert-bge", vocab("bert-bge"), vocab("bert-bge"), false});
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
class TokenizerRoundTrip : public ::testing::TestWithParam<VocabCase> {};

TEST_P(TokenizerRoundTrip, DecodeGivesTheInputBack) {
  const auto& c = GetParam();
  const Tokenizer& tok = test::shared_tokenizer(c.gguf);
  for (const auto& v : test::read_vocab_vectors(c.vectors)) {
    EXPECT_EQ(tok.decode(v.ids, false), v.text) << c.name;
    EXPECT_EQ(tok.decode(v.ids, true), v.text) << c.name;
  }
}

// encode() is const and shared by threads (the piece cache is the only shared state): the same
// text from several threads at once gives the single-threaded ids.
TEST_P(TokenizerVectors, ConcurrentEncodingAgrees) {
  const Tokenizer& tok = test::shared_tokenizer(GetParam().gguf);
  const std::string text = test::read_file(test::shared("corpus/small-llms-essay.txt")) +
                           test::read_file(test::shared("corpus/gpl-3.txt"));
  std::vector<std::vector<TokenId>> results(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] {
      // Different slices first, so the threads fill the cache with different pieces.
      tok.encode(text.substr(t * text.size() / 4, text.size() / 4), false, false);
      results[t] = tok.encode(text, false, false);
    });
  }
  for (auto& th : threads) th.join();
  const auto expected = tok.encode(text, false, false);
  EXPECT_GT(expected.size(), text.size() / 8);
  for (const auto& r : results) EXPECT_EQ(r, expected);
  if (GetParam().round_trips) {
    EXPECT_EQ(tok.decode(expected, false), text);
  }
}

// SPM merges word by word when no token has U+2581 after another character (true of Llama 2's
// vocab). The same vocab plus one token that breaks the rule is merged as one whole text instead;
// both must give the same ids.
TEST(TokenizerSpm, WordByWordEqualsWholeText) {
  const auto path = test::shared("models/vocab/ggml-vocab-llama-spm.gguf");
  const auto file = gguf::File::open(path.string());
  gguf::Writer w;
  w.copy_metadata(file);
  auto append = [&](const std::string& key, gguf::Value v) {
    const gguf::ArrayView& stored = file.find(key)->as_array();
    gguf::Value::Array items(stored.begin(), stored.end());
    items.push_back(std::move(v));
    w.set(key, gguf::Value::array(file.find(key)->element_type(), std::move(items)));
  };
  append("tokenizer.ggml.tokens", gguf::Value::string("\x01\xE2\x96\x81\x02"));
  append("tokenizer.ggml.scores", gguf::Value::f32(-1e9f));
  append("tokenizer.ggml.token_type", gguf::Value::i32(Tokenizer::kNormal));
  const auto whole_path = test::temp_dir() / "llama-spm-whole.gguf";
  w.write(whole_path.string());
  const auto whole = Tokenizer::from_gguf(gguf::File::open(whole_path.string()));
  const Tokenizer& words = test::shared_tokenizer("models/vocab/ggml-vocab-llama-spm.gguf");

  std::vector<std::string> texts = {test::read_file(test::shared("corpus/small-llms-essay.txt")),
                                    test::read_file(test::shared("corpus/gpl-3.txt"))};
  for (const auto& v : test::read_vocab_vectors("models/vocab/ggml-vocab-llama-spm.gguf")) {
    texts.push_back(v.text);
  }
  for (const auto& text : texts) {
    EXPECT_EQ(whole->encode(text, true, false), words.encode(text, true, false));
  }
}

std::string case_name(const ::testing::TestParamInfo<VocabCase>& info) {
  std::string name = info.param.name;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

std::vector<VocabCase> round_trip_cases() {
  auto all = cases();
  std::erase_if(all, [](const VocabCase& c) { return !c.round_trips; });
  return all;
}

INSTANTIATE_TEST_SUITE_P(Vocabs, TokenizerVectors, ::testing::ValuesIn(cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Vocabs, TokenizerRoundTrip, ::testing::ValuesIn(round_trip_cases()),
                         case_name);

}  // namespace
}  // namespace bantam
