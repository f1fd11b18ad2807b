// Chat prompts: the model's tokenizer.chat_template (a Jinja2 subset, rendered as HF does with
// trim_blocks and lstrip_blocks) or a known per-family format when the model has none.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "format/gguf.hpp"
#include "text/jinja/template.hpp"

namespace bantam {

// JSON is ordered_json so objects keep their key order: templates print tool schemas with
// tojson, and Hugging Face keeps the order they were written in.
struct ChatRenderOptions {
  bool add_generation_prompt = true;
  nlohmann::ordered_json tools = nullptr;  // OpenAI-style tool list, or null
  std::optional<std::string> bos_token;    // unset: the model's (from_gguf), else ""
  std::optional<std::string> eos_token;
  nlohmann::ordered_json extra_context = nlohmann::ordered_json::object();  // more variables
  // The moment strftime_now() formats, as local "YYYY-MM-DD[ HH:MM[:SS]]"; empty: the
  // BANTAM_TEMPLATE_NOW environment variable if set, else the clock.
  std::string now;
  jinja::Limits limits;  // memory, step and nesting budgets for hostile templates
};

class ChatTemplate {
 public:
  // Parses `source`; Error "NAME:LINE:COLUMN: ..." on unsupported or broken syntax, where `name`
  // (a file name, say) also prefixes errors raised while rendering.
  explicit ChatTemplate(std::string source, std::string name = "template");
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // The model's template, or the family's known format when the file has none (`fallback` set
  // true then, so callers can say so). bos/eos strings come from the vocab.
  static ChatTemplate from_gguf(const gguf::File& file, bool* fallback = nullptr);
  // `source` in place of the file's template, with the file's bos/eos strings.
  static ChatTemplate for_gguf(std::string source, const gguf::File& file);

  // messages: [{"role": ..., "content": ..., optional "tool_calls", "name", ...}, ...]
  // Error when the template calls raise_exception or fails.
  std::string render(const nlohmann::ordered_json& messages,
                     const ChatRenderOptions& options) const;
  const std::string& source() const;
  // The vocab's BOS/EOS text (from_gguf), used when the options do not set them; else "".
  const std::string& bos_token() const;
  const std::string& eos_token() const;
  // The built-in format from_gguf fell back to ("Llama 3", "ChatML", ...), else "".
  const std::string& fallback_format() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Renders `chat` once on a sample conversation (one user message) within `limits`, so a template
// that fails or runs past its budgets is refused before it is used: `serve` at start-up and on a
// store swap, and `template` on the file it is given. Error naming the template and the problem.
void check_chat_template(const ChatTemplate& chat, const jinja::Limits& limits = {});

}  // namespace bantam
