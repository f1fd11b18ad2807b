// Mistral Nemo's Tekken vocab, written as the Nemo GGUF holds it (MANIFEST section 4): 1000
// control tokens, then one byte-level token per tiktoken rank (id = rank + 1000), merges implied
// by the ranks, pre "tekken". Checked against the vectors of llama.cpp's unmerged Tekken PR.
#include <gtest/gtest.h>

#include <algorithm>
#include <tuple>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "format/gguf_writer.hpp"
#include "text/unicode.hpp"
#include "tokenizer_test_support.hpp"

namespace bantam {
namespace {

constexpr int kSpecialTokens = 1000;

std::string base64_decode(std::string_view text) {
  std::string out;
  uint32_t value = 0;
  int bits = 0;
  for (const char c : text) {
    int digit;
    if (c >= 'A' && c <= 'Z') digit = c - 'A';
    else if (c >= 'a' && c <= 'z') digit = c - 'a' + 26;
    else if (c >= '0' && c <= '9') digit = c - '0' + 52;
    else if (c == '+') digit = 62;
    else if (c == '/') digit = 63;
    else continue;  // '=' padding
    value = (value << 6) | static_cast<uint32_t>(digit);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((value >> bits) & 0xFF));
    }
  }
  return out;
}

// The token bytes in rank order. The package stores "! 0" (a header) before the base64 ranks.
std::vector<std::string> read_ranks() {
  const auto json = nlohmann::json::parse(
      test::read_file(test::shared("models/tokenizers/tekken-240718/tekken-240718.json")));
  const std::string ranks = json.at("bpe_ranks").get<std::string>();
  std::vector<std::string> tokens;
  size_t pos = ranks.find(' ', ranks.find(' ') + 1) + 1;
  while (pos < ranks.size()) {
    size_t end = ranks.find(' ', pos);
    if (end == std::string::npos) end = ranks.size();
    tokens.push_back(base64_decode(std::string_view(ranks).substr(pos, end - pos)));
    pos = end + 1;
  }
  return tokens;
}

std::string byte_level(std::string_view bytes) {
  std::string out;
  for (const char c : bytes) out += unicode::byte_to_unicode()[static_cast<uint8_t>(c)];
  return out;
}

// Writes the vocab GGUF once per process and returns its path.
const std::string& tekken_gguf() {
  static const std::string path = [] {
    const auto ranks = read_ranks();
    EXPECT_EQ(ranks.size() + kSpecialTokens, 131072u);
    std::unordered_map<std::string, int> rank_of;
    for (size_t i = 0; i < ranks.size(); ++i) rank_of.emplace(ranks[i], static_cast<int>(i));

    gguf::Value::Array tokens, types, merges;
    // The JSON leaves the special tokens' names out; these are Tekken's first ones, the rest
    // get placeholders (no test depends on them).
    const std::vector<std::string> names = {"<unk>", "<s>", "</s>", "[INST]", "[/INST]",
                                            "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]",
                                            "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[TOOL_CALLS]"};
    for (int i = 0; i < kSpecialTokens; ++i) {
      tokens.push_back(gguf::Value::string(
          i < static_cast<int>(names.size()) ? names[static_cast<size_t>(i)]
                                             : "<SPECIAL_" + std::to_string(i) + ">"));
      types.push_back(gguf::Value::i32(Tokenizer::kControl));
    }
    for (const auto& t : ranks) {
      tokens.push_back(gguf::Value::string(byte_level(t)));
      types.push_back(gguf::Value::i32(Tokenizer::kNormal));
    }
    // Merges implied by ranks, ordered as HF's tiktoken conversion does: by the rank of the
    // merged token, then by the ranks of its two parts.
    for (const auto& t : ranks) {
      std::vector<std::tuple<int, int, size_t>> splits;
      for (size_t k = 1; k < t.size(); ++k) {
        const auto left = rank_of.find(t.substr(0, k)), right = rank_of.find(t.substr(k));
        if (left != rank_of.end() && right != rank_of.end()) {
          splits.emplace_back(left->second, right->second, k);
        }
      }
      std::sort(splits.begin(), splits.end());
      for (const auto& [l, r, k] : splits) {
        merges.push_back(gguf::Value::string(byte_level(t.substr(0, k)) + " " + byte_level(t.substr(k))));
      }
    }
    gguf::Writer w;
    w.set("general.architecture", gguf::Value::string("llama"));
    w.set("general.name", gguf::Value::string("Mistral-Nemo tekken vocab"));
    w.set("tokenizer.ggml.model", gguf::Value::string("gpt2"));
    w.set("tokenizer.ggml.pre", gguf::Value::string("tekken"));
    w.set("tokenizer.ggml.tokens", gguf::Value::array(gguf::ValueType::STRING, std::move(tokens)));
    w.set("tokenizer.ggml.token_type", gguf::Value::array(gguf::ValueType::INT32, std::move(types)));
    w.set("tokenizer.ggml.merges", gguf::Value::array(gguf::ValueType::STRING, std::move(merges)));
    w.set("tokenizer.ggml.bos_token_id", gguf::Value::u32(1));
    w.set("tokenizer.ggml.eos_token_id", gguf::Value::u32(2));
    w.set("tokenizer.ggml.unknown_token_id", gguf::Value::u32(0));
    w.set("tokenizer.ggml.add_bos_token", gguf::Value::boolean(true));
    w.set("tokenizer.ggml.add_eos_token", gguf::Value::boolean(false));
    const auto file = test::temp_dir() / "ggml-vocab-tekken.gguf";
    w.write(file.string());
    return file.string();
  }();
  return path;
}

const Tokenizer& tekken() {
  static const auto tok = Tokenizer::from_gguf(gguf::File::open(tekken_gguf()));
  return *tok;
}

TEST(TokenizerTekken, MatchesTheUpstreamVectors) {
  const auto vectors = test::read_vocab_vectors("models/vocab/unmerged-pr/ggml-vocab-tekken.gguf");
  ASSERT_EQ(vectors.size(), 46u);
  for (size_t i = 0; i < vectors.size(); ++i) {
    EXPECT_EQ(tekken().encode(vectors[i].text, false, false), vectors[i].ids)
        << "string #" << i << ": '" << vectors[i].text << "'";
    EXPECT_EQ(tekken().decode(vectors[i].ids, false), vectors[i].text);
  }
}

TEST(TokenizerTekken, AddsBosAndParsesControlTokensOnRequest) {
  const Tokenizer& tok = tekken();
  EXPECT_EQ(tok.vocab_size(), 131072u);
  EXPECT_TRUE(tok.add_bos());
  const TokenId inst = tok.find("[INST]"), end_inst = tok.find("[/INST]");
  ASSERT_GE(inst, 0);
  const auto plain = tok.encode("Hello", false, false);
  auto ids = tok.encode("[INST]Hello[/INST]", true, true);
  std::vector<TokenId> expected = {tok.bos(), inst};
  expected.insert(expected.end(), plain.begin(), plain.end());
  expected.push_back(end_inst);
  EXPECT_EQ(ids, expected);
  // Without parse_special the brackets are ordinary text.
  ids = tok.encode("[INST]Hello[/INST]", false, false);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), inst), 0);
  EXPECT_EQ(tok.decode(ids, false), "[INST]Hello[/INST]");
  EXPECT_EQ(tok.decode(expected, true), "Hello");
}

}  // namespace
}  // namespace bantam
