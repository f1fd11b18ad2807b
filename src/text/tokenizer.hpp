// Tokenization from GGUF metadata alone (tokenizer.ggml.*): SentencePiece-style BPE ("llama")
// and byte-level BPE ("gpt2") with the pre-tokenizer regex that tokenizer.ggml.pre names.
//
// Behaviour follows llama.cpp's llama_tokenize / llama_detokenize (and so HF `tokenizers`):
// - encode(): control tokens (type 3) are recognized inside the text only with parse_special;
//   user-defined tokens (type 4, e.g. MPT's runs of spaces, Qwen's <think>) always are, as HF
//   added tokens are. Longer special texts win over shorter ones.
// - decode(): skip_special drops control and unknown tokens (and a leading BOS / trailing EOS the
//   tokenizer adds itself); with add_space_prefix (SPM) the space that encode() prepends is
//   removed from the first piece. Invalid UTF-8 in the result is replaced by U+FFFD.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "format/gguf.hpp"
#include "text/tokenizer_index.hpp"

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
  // Control, unknown and user-defined tokens give their vocab text. Error when out of range.
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

  // Further properties of the vocab.
  int32_t token_type(TokenId id) const;  // tokenizer.ggml.token_type (1 when the file has none)
  TokenId eot() const { return eot_; }   // -1 when none
  TokenId unknown() const { return unk_; }
  TokenId padding() const { return pad_; }
  bool add_space_prefix() const { return add_space_prefix_; }
  const std::string& model_name() const { return model_; }  // tokenizer.ggml.model
  const std::string& pre_name() const { return pre_; }      // tokenizer.ggml.pre ("" for SPM)
  // Whether decode(..., skip_special=true) and StreamingDetokenizer drop this token.
  bool is_skipped_when_decoding(TokenId id) const;

  // Token types of tokenizer.ggml.token_type.
  static constexpr int32_t kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4,
                           kUnused = 5, kByte = 6;

 protected:
  // A piece of encode()'s input: either a special token found in it or raw text between them.
  struct Fragment {
    TokenId token = -1;
    std::string_view text;
  };

  Tokenizer() = default;
  void check_id(TokenId id) const;  // Error when out of range
  const std::string& bytes_of(TokenId id) const;  // token_bytes() without a copy
  // Reads texts, types, special ids and flags; `model` selects llama.cpp's defaults.
  void load_common(const gguf::File& file, const std::string& model, bool default_add_bos);
  // Splits `text` at special tokens (control/unknown only when parse_special; user-defined
  // always), as llama.cpp does: longer tokens first, leftmost first.
  std::vector<Fragment> split_special(std::string_view text, bool parse_special) const;

  std::vector<std::string> texts_;
  std::vector<int32_t> types_;  // tokenizer.ggml.token_type (1 normal, 2 unknown, 3 control,
                                // 4 user-defined, 5 unused, 6 byte)
  std::vector<TokenId> end_of_generation_;
  TokenId bos_ = -1, eos_ = -1;
  bool add_bos_ = false, add_eos_ = false;

  TokenId eot_ = -1, eom_ = -1, unk_ = -1, pad_ = -1, sep_ = -1;
  bool add_space_prefix_ = false;
  std::string model_, pre_;
  TokenIndex index_;  // texts_ -> id
  std::vector<std::string> pieces_;  // token_bytes() of every token, filled by the subclass

 private:
  struct SpecialTrie;
  std::shared_ptr<const SpecialTrie> specials_;       // all special tokens
  std::shared_ptr<const SpecialTrie> user_defined_;   // user-defined tokens only
  std::vector<bool> rstrip_;  // drop the whitespace after this special token (Phi-3, as llama.cpp)
  void build_special_tries(const std::string& general_name);
};

// Turns a stream of ids into text without ever emitting half a UTF-8 code point.
// Pieces are concatenated as they are (no space prefix is removed: a generated token's leading
// space is part of the text); invalid UTF-8 is replaced by U+FFFD once it is known to be invalid.
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
