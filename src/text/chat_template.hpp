// Chat prompts: the model's tokenizer.chat_template (a Jinja2 subset, rendered as HF does with
// trim_blocks and lstrip_blocks) or a known per-family format when the model has none.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "format/gguf.hpp"

namespace bantam {

struct ChatRenderOptions {
  bool add_generation_prompt = true;
  nlohmann::json tools = nullptr;  // OpenAI-style tool list, or null
  std::string bos_token;
  std::string eos_token;
  nlohmann::json extra_context = nlohmann::json::object();  // more template variables
};

class ChatTemplate {
 public:
  // Parses `source`; Error with line and column on unsupported or broken syntax.
  explicit ChatTemplate(std::string source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // The model's template, or the family's known format when the file has none (`fallback` set
  // true then, so callers can say so). bos/eos strings come from the vocab.
  static ChatTemplate from_gguf(const gguf::File& file, bool* fallback = nullptr);

  // messages: [{"role": ..., "content": ..., optional "tool_calls", "name", ...}, ...]
  // Error when the template calls raise_exception or fails.
  std::string render(const nlohmann::json& messages, const ChatRenderOptions& options) const;
  const std::string& source() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bantam
