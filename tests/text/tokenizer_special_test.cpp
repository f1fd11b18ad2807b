// Special tokens (parse_special, user-defined tokens, BOS/EOS/EOT), and vocab metadata errors.
#include <gtest/gtest.h>

#include <algorithm>

#include "bantam/error.hpp"
#include "format/gguf_writer.hpp"
#include "tokenizer_test_support.hpp"

namespace bantam {
namespace {

const Tokenizer& llama3() { return test::shared_tokenizer("models/vocab-derived/ggml-vocab-llama-bpe.gguf"); }
const Tokenizer& qwen2() { return test::shared_tokenizer("models/vocab-derived/ggml-vocab-qwen2.gguf"); }
const Tokenizer& llama2() { return test::shared_tokenizer("models/vocab/ggml-vocab-llama-spm.gguf"); }
const Tokenizer& phi3() { return test::shared_tokenizer("models/vocab/ggml-vocab-phi-3.gguf"); }

std::vector<TokenId> concat(std::initializer_list<std::vector<TokenId>> parts) {
  std::vector<TokenId> all;
  for (const auto& p : parts) all.insert(all.end(), p.begin(), p.end());
  return all;
}

bool contains(const std::vector<TokenId>& ids, TokenId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

TEST(TokenizerSpecial, ControlTokensAreParsedOnlyWhenAsked) {
  const Tokenizer& tok = llama3();
  const TokenId begin = tok.find("<|begin_of_text|>"), eot = tok.find("<|eot_id|>");
  ASSERT_GE(begin, 0);
  ASSERT_GE(eot, 0);
  EXPECT_EQ(tok.bos(), begin);
  const std::string text = "<|begin_of_text|>Hello world<|eot_id|>";
  EXPECT_EQ(tok.encode(text, false, true),
            concat({{begin}, tok.encode("Hello world", false, false), {eot}}));
  const auto plain = tok.encode(text, false, false);
  EXPECT_FALSE(contains(plain, begin));
  EXPECT_FALSE(contains(plain, eot));
  EXPECT_EQ(tok.decode(plain, false), text);
  // Specials are rendered unless skipped.
  const auto parsed = tok.encode(text, true, true);
  EXPECT_EQ(tok.decode(parsed, false), "<|begin_of_text|>" + text);
  EXPECT_EQ(tok.decode(parsed, true), "Hello world");
}

TEST(TokenizerSpecial, UserDefinedTokensAreAlwaysSplitOut) {
  // As HF added tokens: Qwen's <think> is user-defined, recognized even without parse_special.
  const Tokenizer& tok = qwen2();
  const TokenId think = tok.find("<think>");
  ASSERT_GE(think, 0);
  EXPECT_EQ(tok.token_type(think), Tokenizer::kUserDefined);
  EXPECT_TRUE(tok.is_special(think));
  const auto ids = tok.encode("a<think>b", false, false);
  EXPECT_EQ(ids, concat({tok.encode("a", false, false), {think}, tok.encode("b", false, false)}));
  // User-defined tokens are text: decoding keeps them even when skipping specials.
  EXPECT_EQ(tok.decode(ids, true), "a<think>b");
}

TEST(TokenizerSpecial, AddSpecialFollowsTheVocabFlags) {
  EXPECT_TRUE(llama3().add_bos());
  EXPECT_EQ(llama3().encode("Hi", true, false).front(), llama3().bos());
  EXPECT_FALSE(qwen2().add_bos());
  EXPECT_EQ(qwen2().encode("Hi", true, false), qwen2().encode("Hi", false, false));
  EXPECT_TRUE(llama2().add_bos());
  EXPECT_FALSE(llama2().add_eos());
  EXPECT_EQ(llama2().encode("", true, false), std::vector<TokenId>{llama2().bos()});
  EXPECT_TRUE(llama2().encode("", false, false).empty());
}

TEST(TokenizerSpecial, EndOfGenerationTokens) {
  const Tokenizer& l3 = llama3();
  for (const char* text : {"<|eot_id|>", "<|end_of_text|>"}) {
    EXPECT_TRUE(l3.is_end_of_generation(l3.find(text))) << text;
  }
  EXPECT_EQ(l3.eot(), l3.find("<|eot_id|>"));
  EXPECT_FALSE(l3.is_end_of_generation(l3.find("Hello")));
  EXPECT_FALSE(l3.is_end_of_generation(l3.bos()));
  const Tokenizer& q = qwen2();
  EXPECT_TRUE(q.is_end_of_generation(q.find("<|im_end|>")));
  EXPECT_TRUE(q.is_end_of_generation(q.find("<|endoftext|>")));
  EXPECT_EQ(q.bos(), -1);
  EXPECT_TRUE(llama2().is_end_of_generation(llama2().eos()));
  EXPECT_TRUE(phi3().is_end_of_generation(phi3().find("<|end|>")));
}

TEST(TokenizerSpecial, WordPieceAddsClsAndSep) {
  const Tokenizer& tok = test::shared_tokenizer("models/vocab/ggml-vocab-bert-bge.gguf");
  const TokenId cls = tok.find("[CLS]"), sep = tok.find("[SEP]"), mask = tok.find("[MASK]");
  ASSERT_GE(cls, 0);
  EXPECT_EQ(tok.bos(), cls);
  const auto words = tok.encode("Hello World", false, false);
  EXPECT_EQ(tok.encode("Hello World", true, false), concat({{cls}, words, {sep}}));
  EXPECT_EQ(tok.encode("Hello [MASK] World", false, true),
            concat({tok.encode("Hello", false, false), {mask}, tok.encode("World", false, false)}));
  EXPECT_EQ(tok.decode(words, false), " hello world");  // lower-cased, words marked by a space
  EXPECT_EQ(tok.encode("\xE4\xB8\xAD\xE6\x96\x87!", false, false).size(), 3u);  // CJK, punctuation
}

TEST(TokenizerSpecial, SpmPrefixesASpaceAfterEverySpecialToken) {
  const Tokenizer& tok = llama2();
  EXPECT_EQ(tok.encode("<s>Hello</s>world", false, true),
            concat({{tok.bos()}, tok.encode("Hello", false, false), {tok.eos()},
                    tok.encode("world", false, false)}));
}

TEST(TokenizerSpecial, Phi3StripsWhitespaceAfterSpecialTokens) {
  // llama.cpp's rule for Phi-3 (its tokenizer_config's rstrip): the newline after <|user|>
  // is dropped.
  const Tokenizer& tok = phi3();
  const TokenId user = tok.find("<|user|>");
  ASSERT_GE(user, 0);
  EXPECT_EQ(tok.encode("<|user|>\nHello", false, true),
            concat({{user}, tok.encode("Hello", false, false)}));
}

std::string write_vocab(const std::string& name, gguf::Writer& w) {
  const auto path = test::temp_dir() / (name + ".gguf");
  w.write(path.string());
  return path.string();
}

gguf::Value strings(std::initializer_list<std::string> items) {
  gguf::Value::Array a;
  for (const auto& s : items) a.push_back(gguf::Value::string(s));
  return gguf::Value::array(gguf::ValueType::STRING, std::move(a));
}

gguf::Value ints(std::initializer_list<int32_t> items) {
  gguf::Value::Array a;
  for (const int32_t v : items) a.push_back(gguf::Value::i32(v));
  return gguf::Value::array(gguf::ValueType::INT32, std::move(a));
}

TEST(TokenizerSpecial, LongerSpecialTokensWinOverlaps) {
  // "BCD" is longer than "AB", so in "ABCD" it is taken first and "A" stays text.
  gguf::Writer w;
  w.set("tokenizer.ggml.model", gguf::Value::string("llama"));
  w.set("tokenizer.ggml.tokens", strings({"<unk>", "<s>", "</s>", "AB", "BCD", "\xE2\x96\x81", "A",
                                          "\xE2\x96\x81" "A"}));
  w.set("tokenizer.ggml.token_type", ints({2, 3, 3, 3, 3, 1, 1, 1}));
  const auto tok = Tokenizer::from_gguf(gguf::File::open(write_vocab("overlap", w)));
  EXPECT_EQ(tok->encode("ABCD", false, true),
            (std::vector<TokenId>{tok->find("\xE2\x96\x81" "A"), tok->find("BCD")}));
}

template <typename F>
void expect_error_mentioning(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no Error thrown; expected one mentioning " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(TokenizerSpecial, BadVocabMetadataIsAnError) {
  gguf::Writer bpe;
  bpe.set("tokenizer.ggml.model", gguf::Value::string("gpt2"));
  bpe.set("tokenizer.ggml.pre", gguf::Value::string("no-such-pre"));
  bpe.set("tokenizer.ggml.tokens", strings({"a", "b", "ab"}));
  bpe.set("tokenizer.ggml.merges", strings({"a b"}));
  const auto unknown_pre = write_vocab("unknown-pre", bpe);
  expect_error_mentioning([&] { Tokenizer::from_gguf(gguf::File::open(unknown_pre)); },
                          "no-such-pre");

  bpe.set("tokenizer.ggml.pre", gguf::Value::string("gpt-2"));
  bpe.remove("tokenizer.ggml.merges");
  const auto no_merges = write_vocab("no-merges", bpe);
  expect_error_mentioning([&] { Tokenizer::from_gguf(gguf::File::open(no_merges)); },
                          "tokenizer.ggml.merges");

  gguf::Writer model;
  model.set("tokenizer.ggml.model", gguf::Value::string("t5"));
  model.set("tokenizer.ggml.tokens", strings({"a"}));
  const auto unknown_model = write_vocab("unknown-model", model);
  expect_error_mentioning([&] { Tokenizer::from_gguf(gguf::File::open(unknown_model)); }, "t5");

  gguf::Writer no_bos;
  no_bos.set("tokenizer.ggml.model", gguf::Value::string("gpt2"));
  no_bos.set("tokenizer.ggml.pre", gguf::Value::string("qwen2"));
  no_bos.set("tokenizer.ggml.tokens", strings({"a", "b", "ab"}));
  no_bos.set("tokenizer.ggml.merges", strings({"a b"}));
  no_bos.set("tokenizer.ggml.add_bos_token", gguf::Value::boolean(true));
  const auto missing_bos = write_vocab("missing-bos", no_bos);
  expect_error_mentioning([&] { Tokenizer::from_gguf(gguf::File::open(missing_bos)); },
                          "tokenizer.ggml.bos_token_id");

  gguf::Writer none;
  none.set("general.architecture", gguf::Value::string("llama"));
  const auto no_vocab = write_vocab("no-vocab", none);
  expect_error_mentioning([&] { Tokenizer::from_gguf(gguf::File::open(no_vocab)); },
                          "tokenizer.ggml.model");
}

TEST(TokenizerSpecial, TinyBpeVocabMergesByRank) {
  // Merges apply lowest rank first: with "b c" ranked before "a b", "abc" is a + bc.
  gguf::Writer w;
  w.set("tokenizer.ggml.model", gguf::Value::string("gpt2"));
  w.set("tokenizer.ggml.pre", gguf::Value::string("gpt-2"));
  w.set("tokenizer.ggml.tokens", strings({"a", "b", "c", "ab", "bc", "abc"}));
  w.set("tokenizer.ggml.merges", strings({"b c", "a b", "ab c"}));
  const auto tok = Tokenizer::from_gguf(gguf::File::open(write_vocab("tiny-bpe", w)));
  EXPECT_EQ(tok->encode("abc", false, false),
            (std::vector<TokenId>{tok->find("a"), tok->find("bc")}));
  EXPECT_EQ(tok->encode("ab", false, false), (std::vector<TokenId>{tok->find("ab")}));
  EXPECT_EQ(tok->decode(tok->encode("abcab", false, false), false), "abcab");
}

}  // namespace
}  // namespace bantam
