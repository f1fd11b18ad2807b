// Pre-tokenizers of byte-level BPE vocabularies: the regex sequence that tokenizer.ggml.pre names,
// run with PCRE2 (UTF + Unicode properties, JIT when available).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bantam {

struct PreTokenizerSpec {
  // Applied in turn: each regex splits every piece left by the previous one into its matches and
  // the text between them (both kept), like a sequence of HF `Split(..., "isolated")` steps.
  std::vector<std::string> regexes;
  bool nfc = false;            // NFC-normalize text before splitting (Qwen2)
  bool ignore_merges = false;  // a piece that is a whole vocab token is emitted as is (Llama 3)
  bool add_bos = false;        // default of tokenizer.ggml.add_bos_token for this family
};

// The spec for a tokenizer.ggml.pre value, or nullptr when it is unknown.
const PreTokenizerSpec* find_pre_tokenizer(std::string_view name);
// Every known name (for error messages and tests).
std::vector<std::string> pre_tokenizer_names();

// Compiled regex sequence. Thread-safe: split() may run concurrently.
class RegexSplitter {
 public:
  explicit RegexSplitter(const std::vector<std::string>& patterns);  // Error on a bad pattern
  ~RegexSplitter();
  RegexSplitter(const RegexSplitter&) = delete;
  RegexSplitter& operator=(const RegexSplitter&) = delete;

  // Splits valid UTF-8 `text` into consecutive non-empty pieces that cover it exactly.
  void split(std::string_view text, std::vector<std::string_view>& pieces) const;

 private:
  struct Compiled;
  std::vector<std::unique_ptr<Compiled>> regexes_;
};

}  // namespace bantam
