// WordPiece ("bert" vocabs, e.g. BGE embedding models), as HF's BertTokenizer: lower-case, strip
// accents, split at whitespace, punctuation and CJK ideographs, then longest-match-first pieces.
// The GGUF marks word starts with U+2581 ("▁hello") where HF writes continuations as "##lo".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "text/tokenizer.hpp"

namespace bantam {

class WordPieceTokenizer final : public Tokenizer {
 public:
  explicit WordPieceTokenizer(const gguf::File& file);

  std::vector<TokenId> encode(std::string_view text, bool add_special,
                              bool parse_special) const override;
  std::string token_bytes(TokenId id) const override;

 private:
  std::vector<std::string> split_words(std::string_view text) const;
  void encode_word(const std::string& word, std::vector<TokenId>& out) const;

  bool lowercase_ = true;
  bool strip_accents_ = true;
  bool add_sep_ = true;
  size_t max_token_bytes_ = 0;
};

}  // namespace bantam
