// Decoding: byte-fallback and byte-level pieces, SPM's leading space, invalid UTF-8, and the
// streaming detokenizer that never emits half a code point.
#include <gtest/gtest.h>

#include "bantam/error.hpp"
#include "text/unicode.hpp"
#include "tokenizer_test_support.hpp"

namespace bantam {
namespace {

const Tokenizer& llama2() { return test::shared_tokenizer("models/vocab/ggml-vocab-llama-spm.gguf"); }
const Tokenizer& gpt2() { return test::shared_tokenizer("models/vocab/ggml-vocab-gpt-2.gguf"); }
const Tokenizer& llama3() { return test::shared_tokenizer("models/vocab-derived/ggml-vocab-llama-bpe.gguf"); }

const std::vector<std::string>& vocabs() {
  static const std::vector<std::string> all = {
      "models/vocab/ggml-vocab-llama-spm.gguf",     "models/vocab/ggml-vocab-phi-3.gguf",
      "models/vocab/ggml-vocab-gpt-2.gguf",         "models/vocab/ggml-vocab-deepseek-llm.gguf",
      "models/vocab/ggml-vocab-deepseek-coder.gguf", "models/vocab/ggml-vocab-falcon.gguf",
      "models/vocab/ggml-vocab-mpt.gguf",           "models/vocab/ggml-vocab-refact.gguf",
      "models/vocab/ggml-vocab-starcoder.gguf",     "models/vocab-derived/ggml-vocab-llama-bpe.gguf",
      "models/vocab-derived/ggml-vocab-qwen2.gguf"};
  return all;
}

std::string stream(const Tokenizer& tok, const std::vector<TokenId>& ids, bool skip_special,
                   std::vector<std::string>* chunks = nullptr) {
  StreamingDetokenizer detok(tok, skip_special);
  std::string all;
  for (const TokenId id : ids) {
    const std::string chunk = detok.push(id);
    EXPECT_TRUE(unicode::is_valid_utf8(chunk)) << "half a code point emitted";
    if (chunks) chunks->push_back(chunk);
    all += chunk;
  }
  const std::string rest = detok.flush();
  EXPECT_TRUE(unicode::is_valid_utf8(rest));
  if (chunks) chunks->push_back(rest);
  return all + rest;
}

TEST(TokenizerDecode, ByteFallbackPiecesJoinIntoOneCodePoint) {
  const Tokenizer& tok = llama2();
  const std::string llama = "\xF0\x9F\xA6\x99";  // U+1F999, not in the vocab: four byte tokens
  const auto ids = tok.encode(llama, false, false);
  ASSERT_EQ(ids.size(), 5u);  // the prefix space, then <0xF0> <0x9F> <0xA6> <0x99>
  EXPECT_EQ(tok.token_type(ids[1]), Tokenizer::kByte);
  EXPECT_EQ(tok.token_bytes(ids[1]), "\xF0");
  std::vector<std::string> chunks;
  EXPECT_EQ(stream(tok, ids, false, &chunks), " " + llama);
  ASSERT_EQ(chunks.size(), 6u);
  EXPECT_EQ(chunks[0], " ");
  for (size_t i = 1; i < 4; ++i) EXPECT_EQ(chunks[i], "") << i;
  EXPECT_EQ(chunks[4], llama);
  EXPECT_EQ(tok.decode(ids, false), llama);
}

TEST(TokenizerDecode, ByteLevelPiecesJoinIntoOneCodePoint) {
  // GPT-2 splits U+1F999 into byte-level tokens of 1-3 bytes; the stream holds them back.
  const Tokenizer& tok = gpt2();
  const std::string text = "\xF0\x9F\xA6\x99 and \xE2\x9C\x85";
  const auto ids = tok.encode(text, false, false);
  std::vector<std::string> chunks;
  EXPECT_EQ(stream(tok, ids, false, &chunks), text);
  for (const auto& chunk : chunks) {
    EXPECT_TRUE(chunk.empty() || unicode::complete_prefix(chunk) == chunk.size());
  }
}

TEST(TokenizerDecode, StreamingEqualsDecodeForEveryVector) {
  for (const auto& path : vocabs()) {
    const Tokenizer& tok = test::shared_tokenizer(path);
    const std::string vectors = path.find("vocab-derived") != std::string::npos
                                    ? "models/vocab/" + path.substr(path.rfind('/') + 1)
                                    : path;
    for (const auto& v : test::read_vocab_vectors(vectors)) {
      std::string pieces;
      for (const TokenId id : v.ids) pieces += tok.token_bytes(id);
      EXPECT_EQ(stream(tok, v.ids, false), pieces) << path;
      // decode() differs only by the space SPM prepends.
      const std::string decoded = tok.decode(v.ids, false);
      EXPECT_EQ(tok.add_space_prefix() && pieces.starts_with(' ') ? " " + decoded : decoded, pieces);
    }
  }
}

TEST(TokenizerDecode, SkipSpecialDropsControlTokensOnly) {
  const Tokenizer& tok = llama3();
  const auto ids = tok.encode("<|start_header_id|>user<|end_header_id|>Hi<|eot_id|>", true, true);
  EXPECT_EQ(stream(tok, ids, true), "userHi");
  EXPECT_EQ(tok.decode(ids, true), "userHi");
  EXPECT_EQ(stream(tok, ids, false), "<|begin_of_text|><|start_header_id|>user<|end_header_id|>Hi<|eot_id|>");
}

TEST(TokenizerDecode, SpmLeadingSpaceLikeLlamaCpp) {
  const Tokenizer& tok = llama2();
  const auto hello = tok.encode("Hello", false, false);
  EXPECT_EQ(tok.token_bytes(hello.front()), " Hello");
  EXPECT_EQ(tok.decode(hello, false), "Hello");
  EXPECT_EQ(tok.decode(tok.encode(" Hello", false, false), false), " Hello");
  const auto with_bos = tok.encode("Hello", true, false);
  EXPECT_EQ(tok.decode(with_bos, false), "<s> Hello");
  // A BOS removed by skip_special keeps the next piece's space, as llama_detokenize does.
  EXPECT_EQ(tok.decode(with_bos, true), " Hello");
  // U+2581 in the input is SentencePiece's space: it comes back as a space.
  EXPECT_EQ(tok.decode(tok.encode("a\xE2\x96\x81" "b", false, false), false), "a b");
}

TEST(TokenizerDecode, InvalidUtf8) {
  // Byte-level BPE replaces invalid input by U+FFFD before splitting (as llama.cpp does).
  const std::string bad = "ab\xFF\xC3(\xE2\x82";
  const auto ids = gpt2().encode(bad, false, false);
  EXPECT_EQ(gpt2().decode(ids, false), unicode::sanitize_utf8(bad));
  EXPECT_EQ(unicode::sanitize_utf8(bad), "ab\xEF\xBF\xBD\xEF\xBF\xBD(\xEF\xBF\xBD");
  // SPM keeps the raw bytes as byte tokens; decoding replaces them.
  const auto spm = llama2().encode(bad, false, false);
  std::string raw;
  for (const TokenId id : spm) raw += llama2().token_bytes(id);
  EXPECT_EQ(raw, " " + bad);
  EXPECT_EQ(llama2().decode(spm, false), unicode::sanitize_utf8(bad));
  // A truncated sequence is held back, then replaced at flush.
  StreamingDetokenizer detok(llama2(), false);
  EXPECT_EQ(detok.push(llama2().find("<0xE2>")), "");
  EXPECT_EQ(detok.push(llama2().find("<0x82>")), "");
  EXPECT_EQ(detok.push(llama2().find("<0x41>")), "\xEF\xBF\xBD" "A");
  EXPECT_EQ(detok.push(llama2().find("<0xF0>")), "");
  EXPECT_EQ(detok.flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(detok.flush(), "");
}

TEST(TokenizerDecode, OutOfRangeIdsAreErrors) {
  const Tokenizer& tok = gpt2();
  const std::vector<TokenId> bad = {static_cast<TokenId>(tok.vocab_size())};
  EXPECT_THROW(tok.decode(bad, false), Error);
  EXPECT_THROW(tok.token_bytes(-1), Error);
  StreamingDetokenizer detok(tok, true);
  EXPECT_THROW(detok.push(-5), Error);
}

}  // namespace
}  // namespace bantam
