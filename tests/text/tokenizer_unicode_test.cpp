// UTF-8 handling, NFC, the byte-level alphabet, and long inputs through every pre-tokenizer.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <random>
#include <set>

#include <utf8proc.h>

#include "text/pretokenize.hpp"
#include "text/unicode.hpp"
#include "tokenizer_test_support.hpp"

namespace bantam {
namespace {

std::string whole_nfc(const std::string& s) {
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> out(
      utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(s.c_str())), &std::free);
  return reinterpret_cast<const char*>(out.get());
}

TEST(TokenizerUnicode, NfcMatchesUtf8procOnWholeStrings) {
  // nfc() normalizes only the non-ASCII runs (with the base before them); it must agree with
  // normalizing the whole string, combining marks, Hangul jamo and reordering included.
  const std::vector<std::string> parts = {"a", "e", "E", " ", "x", "\xCC\x81" /* U+0301 */,
                                          "\xCC\x88" /* U+0308 */, "\xCC\xA3" /* U+0323 */,
                                          "\xE1\x84\x80" /* U+1100 */, "\xE1\x85\xA1" /* U+1161 */,
                                          "\xE1\x86\xA8" /* U+11A8 */, "\xC3\xA9", "\xE2\x84\xAB",
                                          "\xEF\xAC\x80", "."};
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    const int n = static_cast<int>(rng() % 12);
    for (int k = 0; k < n; ++k) s += parts[rng() % parts.size()];
    EXPECT_EQ(unicode::nfc(s), whole_nfc(s)) << s;
  }
  EXPECT_EQ(unicode::nfc("Cafe\xCC\x81 nai\xCC\x88ve"), "Caf\xC3\xA9 na\xC3\xAFve");
}

TEST(TokenizerUnicode, Qwen2NormalizesToNfc) {
  const Tokenizer& tok = test::shared_tokenizer("models/vocab-derived/ggml-vocab-qwen2.gguf");
  const std::string composed = "caf\xC3\xA9", decomposed = "cafe\xCC\x81";
  EXPECT_EQ(tok.encode(decomposed, false, false), tok.encode(composed, false, false));
  EXPECT_EQ(tok.decode(tok.encode(decomposed, false, false), false), composed);
  // Llama 3 has no normalizer: the combining accent stays.
  const Tokenizer& l3 = test::shared_tokenizer("models/vocab-derived/ggml-vocab-llama-bpe.gguf");
  EXPECT_EQ(l3.decode(l3.encode(decomposed, false, false), false), decomposed);
}

TEST(TokenizerUnicode, ByteLevelAlphabetIsABijection) {
  const auto& alphabet = unicode::byte_to_unicode();
  std::set<std::string> seen;
  for (int b = 0; b < 256; ++b) {
    const std::string& s = alphabet[static_cast<size_t>(b)];
    EXPECT_TRUE(seen.insert(s).second);
    size_t i = 0;
    EXPECT_EQ(unicode::unicode_to_byte(unicode::decode_utf8(s, i)), b);
  }
  EXPECT_EQ(alphabet[' '], "\xC4\xA0");  // GPT-2's "Ġ"
  EXPECT_EQ(alphabet['A'], "A");
}

TEST(TokenizerUnicode, Utf8Validation) {
  for (const std::string bad : {"\x80", "\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xF8",
                                "\xE2\x82", "a\xFF"}) {
    EXPECT_FALSE(unicode::is_valid_utf8(bad)) << bad;
    EXPECT_TRUE(unicode::is_valid_utf8(unicode::sanitize_utf8(bad)));
  }
  EXPECT_TRUE(unicode::is_valid_utf8("\xF4\x8F\xBF\xBF \xEF\xBB\xBF \xC2\x80"));
  EXPECT_EQ(unicode::complete_prefix("ab\xF0\x9F\xA6"), 2u);
  EXPECT_EQ(unicode::complete_prefix("ab\xFF\xF0"), 3u);  // the invalid byte is complete
}

// Long runs of one kind of character are where regexes and merge loops go quadratic; every
// pre-tokenizer and both tokenizer kinds must handle them and round-trip.
TEST(TokenizerUnicode, LongRunsRoundTrip) {
  const std::vector<std::string> vocabs = {
      "models/vocab/ggml-vocab-llama-spm.gguf",     "models/vocab/ggml-vocab-gpt-2.gguf",
      "models/vocab/ggml-vocab-deepseek-llm.gguf",  "models/vocab/ggml-vocab-deepseek-coder.gguf",
      "models/vocab/ggml-vocab-falcon.gguf",        "models/vocab/ggml-vocab-starcoder.gguf",
      "models/vocab-derived/ggml-vocab-llama-bpe.gguf", "models/vocab-derived/ggml-vocab-qwen2.gguf"};
  const size_t n = 50000;
  const std::vector<std::string> inputs = {
      std::string(n, ' ') + "x", std::string(n, 'a'), "x" + std::string(n, ' '),
      std::string(n, '7'), std::string(n, '!'), std::string(n, '\n'), std::string(n / 2, 'A') + "b",
      [&] {
        std::string s;
        while (s.size() < n) s += "\xE4\xB8\xAD \t";
        return s;
      }()};
  for (const auto& path : vocabs) {
    const Tokenizer& tok = test::shared_tokenizer(path);
    for (const auto& text : inputs) {
      EXPECT_EQ(tok.decode(tok.encode(text, false, false), false), text) << path;
    }
  }
}

TEST(TokenizerUnicode, EveryPreTokenizerCompilesAndCoversItsInput) {
  const std::string text = "Hello, y'all! 123456 caf\xC3\xA9  \t\n\n ok\xE4\xB8\xAD\xE6\x96\x87 ";
  for (const auto& name : pre_tokenizer_names()) {
    const PreTokenizerSpec* spec = find_pre_tokenizer(name);
    ASSERT_NE(spec, nullptr);
    RegexSplitter splitter(spec->regexes);
    std::vector<std::string_view> pieces;
    splitter.split(text, pieces);
    std::string joined;
    for (const auto p : pieces) {
      EXPECT_FALSE(p.empty()) << name;
      joined += p;
    }
    EXPECT_EQ(joined, text) << name;
  }
  EXPECT_EQ(find_pre_tokenizer("no-such-pre"), nullptr);
}

}  // namespace
}  // namespace bantam
