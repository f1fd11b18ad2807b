// Byte-level BPE ("gpt2" vocabs: GPT-2, Llama 3, Qwen2, Mistral Tekken, DeepSeek, Falcon, ...):
// the pre-tokenizer regexes cut the text into pieces, each piece's bytes become the GPT-2
// byte alphabet, and adjacent symbols merge by tokenizer.ggml.merges rank.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "text/pretokenize.hpp"
#include "text/tokenizer_cache.hpp"
#include "text/tokenizer.hpp"

namespace bantam {

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(const gguf::File& file);
  ~BpeTokenizer() override;

  std::vector<TokenId> encode(std::string_view text, bool add_special,
                              bool parse_special) const override;
  std::string token_bytes(TokenId id) const override;

 private:
  class MergeTable;
  struct Merge {
    int32_t rank = -1;
    int32_t result = -1;  // symbol id of the merged text
  };

  void encode_text(std::string_view text, std::vector<TokenId>& out) const;
  void encode_piece(std::string_view piece, std::vector<TokenId>& out) const;  // cached
  void merge_piece(std::string_view piece, std::vector<TokenId>& out) const;
  std::string piece_of(size_t id) const;

  const PreTokenizerSpec* spec_ = nullptr;
  std::unique_ptr<RegexSplitter> splitter_;
  // Symbols are interned texts: ids below vocab_size() are the vocab's tokens; merge
  // intermediates that are not tokens get ids above it.
  std::unique_ptr<MergeTable> merges_;
  std::array<int32_t, 256> byte_symbols_{};

  mutable PieceCache cache_;
};

}  // namespace bantam
