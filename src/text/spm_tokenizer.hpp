// SentencePiece-style BPE ("llama" vocabs: Llama 2, Mistral 7B, Phi-3, Gemma, TinyLlama):
// spaces become U+2581, adjacent pieces merge by descending vocab score, and what no token
// covers falls back to <0xXX> byte tokens.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "text/tokenizer.hpp"
#include "text/tokenizer_cache.hpp"

namespace bantam {

class SpmTokenizer final : public Tokenizer {
 public:
  explicit SpmTokenizer(const gguf::File& file);

  std::vector<TokenId> encode(std::string_view text, bool add_special,
                              bool parse_special) const override;
  std::string token_bytes(TokenId id) const override;

 private:
  // Tokenizes text whose spaces are already escaped as U+2581.
  void encode_escaped(std::string_view text, std::vector<TokenId>& out) const;
  void encode_word(std::string_view word, std::vector<TokenId>& out) const;  // cached
  void merge(std::string_view text, std::vector<TokenId>& out) const;
  std::string piece_of(size_t id) const;

  std::vector<float> scores_;
  std::array<TokenId, 256> byte_tokens_;  // byte-fallback token per byte, -1 when none
  // True when no token has U+2581 after anything but U+2581: then no merge can cross the start
  // of a word (an escaped space after a non-space), so words are tokenized, and cached, alone.
  bool split_words_ = false;
  mutable PieceCache cache_;
};

}  // namespace bantam
