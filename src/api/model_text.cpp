// The text side of a model: tokenizer, detokenization and end-of-generation tokens.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api/model_impl.hpp"
#include "format/json_input.hpp"

namespace bantam {

void load_text(Model::Impl& impl) {
  try {
    // Checked before the tokenizer is built: a token without an embedding row is of no use, and
    // each one costs memory far beyond its bytes in the file.
    const auto* tokens = impl.file.get_array("tokenizer.ggml.tokens");
    if (tokens && tokens->size() > static_cast<size_t>(impl.config.n_vocab)) {
      throw Error(fmt::format("{}: tokenizer.ggml.tokens has {} tokens but token_embd.weight has {} rows",
                              impl.file.path(), tokens->size(), impl.config.n_vocab));
    }
    impl.tokenizer = Tokenizer::from_gguf(impl.file);
  } catch (const Error& e) {
    impl.tokenizer_error = e.what();
  }
  if (impl.tokenizer) {
    for (size_t id = 0; id < impl.tokenizer->vocab_size(); ++id) {
      if (impl.tokenizer->is_end_of_generation(static_cast<TokenId>(id))) {
        impl.end_of_generation.push_back(static_cast<TokenId>(id));
      }
    }
  } else if (const auto eos = impl.file.get_uint("tokenizer.ggml.eos_token_id")) {
    impl.end_of_generation.push_back(static_cast<TokenId>(*eos));
  }
}

const Tokenizer& Model::Impl::text() const {
  if (!tokenizer) throw Error(fmt::format("{}: no usable tokenizer: {}", info.path, tokenizer_error));
  return *tokenizer;
}

std::vector<TokenId> Model::tokenize(std::string_view text, bool add_special, bool parse_special) const {
  return impl_->text().encode(text, add_special, parse_special);
}

std::string Model::detokenize(std::span<const TokenId> tokens, bool skip_special) const {
  return impl_->text().decode(tokens, skip_special);
}

bool Model::is_end_of_generation(TokenId token) const { return impl_->is_end_of_generation(token); }

std::string Model::chat_prompt(std::span<const ChatMessage> messages, bool add_generation_prompt) const {
  return chat_prompt(messages, ChatOptions{.add_generation_prompt = add_generation_prompt});
}

std::vector<TokenId> Model::chat_tokens(std::span<const ChatMessage> messages, bool add_generation_prompt) const {
  return chat_tokens(messages, ChatOptions{.add_generation_prompt = add_generation_prompt});
}

std::string Model::chat_prompt(std::span<const ChatMessage> messages, const ChatOptions& options) const {
  const Impl& m = *impl_;
  std::optional<ChatTemplate> given;
  if (!options.template_source.empty()) given.emplace(ChatTemplate::for_gguf(options.template_source, m.file));
  std::call_once(m.chat_template_once, [&m] {
    try {
      m.chat_template = std::make_unique<ChatTemplate>(ChatTemplate::from_gguf(m.file));
    } catch (const Error& e) {
      m.chat_template_error = e.what();
    }
  });
  if (!given && !m.chat_template) {
    throw Error(fmt::format("{}: no usable chat template: {}", m.info.path, m.chat_template_error));
  }
  const ChatTemplate& chat = given ? *given : *m.chat_template;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& message : messages) list.push_back({{"role", message.role}, {"content", message.content}});
  ChatRenderOptions render;
  render.add_generation_prompt = options.add_generation_prompt;
  if (!options.tools_json.empty()) {
    render.tools = parse_json<nlohmann::ordered_json>(options.tools_json, "tools");
    if (!render.tools.is_array()) throw Error("tools: expected a JSON array of tools");
    // A template that never reads `tools` would drop them without a word.
    if (chat.source().find("tools") == std::string::npos) {
      throw Error("tools: the chat template has no place for tools (give a template that renders them)");
    }
  }
  return chat.render(list, render);
}

std::vector<TokenId> Model::chat_tokens(std::span<const ChatMessage> messages, const ChatOptions& options) const {
  const Tokenizer& tokenizer = impl_->text();
  std::vector<TokenId> tokens = tokenizer.encode(chat_prompt(messages, options), false, true);
  // Templates usually write the BOS text themselves; add it only where the vocabulary wants one
  // and the template did not.
  if (tokenizer.add_bos() && tokenizer.bos() >= 0 && (tokens.empty() || tokens.front() != tokenizer.bos())) {
    tokens.insert(tokens.begin(), tokenizer.bos());
  }
  return tokens;
}

}  // namespace bantam
