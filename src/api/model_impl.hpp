// What a loaded model holds: the mapped file, its config and weight views, and its text side.
#pragma once

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>

#include "bantam/bantam.hpp"
#include "format/gguf.hpp"
#include "model/config.hpp"
#include "model/lora.hpp"
#include "model/weights.hpp"
#include "text/chat_template.hpp"
#include "text/tokenizer.hpp"

namespace bantam {

// Hidden although Model is exported: its members are core's business, not the shared library's API.
struct __attribute__((visibility("hidden"))) Model::Impl {
  ModelInfo info;
  gguf::File file;
  ModelConfig config;
  Weights weights;
  // Built at load; a model whose vocabulary cannot be read still runs on token ids, and the
  // text calls report why they cannot work.
  std::unique_ptr<Tokenizer> tokenizer;
  std::string tokenizer_error;

  // Parsed on first use, so a model that is never chatted with never fails on its template.
  mutable std::once_flag chat_template_once;
  mutable std::unique_ptr<ChatTemplate> chat_template;
  mutable std::string chat_template_error;
  // EOS, EOT, ... from the tokenizer, or the metadata's eos id when there is no tokenizer.
  std::vector<TokenId> end_of_generation;

  explicit Impl(gguf::File f) : file(std::move(f)) {}
  bool is_end_of_generation(TokenId id) const {
    return std::find(end_of_generation.begin(), end_of_generation.end(), id) != end_of_generation.end();
  }
  const Tokenizer& text() const;  // Error with tokenizer_error when there is none
};

struct __attribute__((visibility("hidden"))) Adapter::Impl {
  LoraAdapterFile lora;
};

// Fills the text side of a freshly loaded model (tokenizer, end-of-generation ids).
void load_text(Model::Impl& impl);

}  // namespace bantam
