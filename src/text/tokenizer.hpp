// Tokenization from GGUF metadata alone (tokenizer.ggml.*): SentencePiece-style BPE ("llama")
// and byte-level BPE ("gpt2") with the pre-tokenizer regex that tokenizer.ggml.pre names.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "format/gguf.hpp"

namespace bantam {

using TokenId = int32_t;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Builds the tokenizer the file describes; Error naming the key when something is missing or
  // unsupported (e.g. an unknown tokenizer.ggml.pre).
  static std::unique_ptr<Tokenizer> from_gguf(const gguf::File& file);

  // add_special: add BOS/EOS as tokenizer.ggml.add_bos_token/add_eos_token say.
  // parse_special: recognize control/special token texts inside `text`; otherwise plain text.
  virtual std::vector<TokenId> encode(std::string_view text, bool add_special,
                                      bool parse_special) const = 0;
  // The raw bytes a token stands for (byte-fallback and byte-level tokens decoded).
  virtual std::string token_bytes(TokenId id) const = 0;
  std::string decode(std::span<const TokenId> ids, bool skip_special) const;

  size_t vocab_size() const { return texts_.size(); }
  const std::string& token_text(TokenId id) const;  // the vocab string as stored
  bool is_special(TokenId id) const;                 // control / user-defined tokens
  bool is_end_of_generation(TokenId id) const;       // EOS, EOT, EOM ...
  TokenId bos() const { return bos_; }               // -1 when none
  TokenId eos() const { return eos_; }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  // Finds a token by its exact vocab text; -1 when absent.
  TokenId find(std::string_view text) const;

 protected:
  std::vector<std::string> texts_;
  std::vector<int32_t> types_;  // tokenizer.ggml.token_type (1 normal, 2 unknown, 3 control,
                                // 4 user-defined, 5 unused, 6 byte)
  std::vector<TokenId> end_of_generation_;
  TokenId bos_ = -1, eos_ = -1;
  bool add_bos_ = false, add_eos_ = false;
};

// Turns a stream of ids into text without ever emitting half a UTF-8 code point.
class StreamingDetokenizer {
 public:
  StreamingDetokenizer(const Tokenizer& tokenizer, bool skip_special)
      : tokenizer_(tokenizer), skip_special_(skip_special) {}
  std::string push(TokenId id);  // complete UTF-8 ready to print (maybe empty)
  std::string flush();           // whatever is left, invalid bytes replaced by U+FFFD

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace bantam
