// Built-in chat formats for models whose GGUF has no tokenizer.chat_template, written as small
// Jinja templates so they go through the same renderer as official ones.
#pragma once

#include <string_view>

#include "format/gguf.hpp"

namespace bantam {

struct FallbackChatFormat {
  std::string_view name;    // "Llama 3", "ChatML", ...
  std::string_view source;  // Jinja
};

// The format for the file's general.architecture, refined by its vocab's special tokens (a llama
// with <|start_header_id|> is Llama 3, with [INST] Mistral, otherwise Llama 2). Error when
// neither says.
const FallbackChatFormat& fallback_chat_format(const gguf::File& file);

}  // namespace bantam
