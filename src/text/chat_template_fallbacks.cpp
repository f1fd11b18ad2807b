#include "text/chat_template_fallbacks.hpp"

#include <fmt/format.h>

#include <string>

#include "bantam/error.hpp"

namespace bantam {
namespace {

constexpr FallbackChatFormat kLlama3{"Llama 3", R"({{- bos_token }}
{%- for message in messages %}
    {{- '<|start_header_id|>' ~ message['role'] ~ '<|end_header_id|>\n\n'
        ~ message['content'] | trim ~ '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
)"};

constexpr FallbackChatFormat kChatML{"ChatML", R"({%- for message in messages %}
    {{- '<|im_start|>' ~ message['role'] ~ '\n' ~ message['content'] ~ '<|im_end|>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
)"};

// A system message goes in front of the first user turn.
constexpr FallbackChatFormat kMistral{"Mistral [INST]", R"(
{%- set system = messages[0]['content'] if messages and messages[0]['role'] == 'system' else none %}
{%- set turns = messages[1:] if system is not none else messages %}
{{- bos_token }}
{%- for message in turns %}
    {%- if message['role'] == 'user' %}
        {{- '[INST] ' ~ (system ~ '\n\n' if loop.first and system is not none else '')
            ~ message['content'] ~ '[/INST]' }}
    {%- elif message['role'] == 'assistant' %}
        {{- ' ' ~ message['content'] ~ eos_token }}
    {%- else %}
        {{- raise_exception('the Mistral format has no ' ~ message['role'] ~ ' role') }}
    {%- endif %}
{%- endfor %}
)"};

constexpr FallbackChatFormat kLlama2{"Llama 2 [INST]", R"(
{%- set system = messages[0]['content'] if messages and messages[0]['role'] == 'system' else none %}
{%- set turns = messages[1:] if system is not none else messages %}
{%- for message in turns %}
    {%- if message['role'] == 'user' %}
        {{- bos_token ~ '[INST] ' }}
        {%- if loop.first and system is not none %}
            {{- '<<SYS>>\n' ~ system ~ '\n<</SYS>>\n\n' }}
        {%- endif %}
        {{- message['content'] | trim ~ ' [/INST]' }}
    {%- elif message['role'] == 'assistant' %}
        {{- ' ' ~ message['content'] | trim ~ ' ' ~ eos_token }}
    {%- else %}
        {{- raise_exception('the Llama 2 format has no ' ~ message['role'] ~ ' role') }}
    {%- endif %}
{%- endfor %}
)"};

constexpr FallbackChatFormat kPhi3{"Phi-3", R"({%- for message in messages %}
    {{- '<|' ~ message['role'] ~ '|>\n' ~ message['content'] ~ '<|end|>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|assistant|>\n' }}
{%- else %}
    {{- eos_token }}
{%- endif %}
)"};

// Gemma has no system role: system text opens the next user turn.
constexpr FallbackChatFormat kGemma{"Gemma", R"({{- bos_token }}
{%- set ns = namespace(system='') %}
{%- for message in messages %}
    {%- if message['role'] == 'system' %}
        {%- set ns.system = ns.system ~ message['content'] ~ '\n\n' %}
    {%- else %}
        {%- set role = 'model' if message['role'] == 'assistant' else message['role'] %}
        {{- '<start_of_turn>' ~ role ~ '\n' ~ (ns.system if role == 'user' else '')
            ~ message['content'] | trim ~ '<end_of_turn>\n' }}
        {%- if role == 'user' %}
            {%- set ns.system = '' %}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<start_of_turn>model\n' }}
{%- endif %}
)"};

struct SpecialTokens {
  bool llama3 = false;  // <|start_header_id|>
  bool chatml = false;  // <|im_start|>
  bool gemma = false;   // <start_of_turn>
  bool phi3 = false;    // <|user|> with <|end|>
  bool phi3_end = false;
  bool inst = false;  // [INST]
};

SpecialTokens scan_vocab(const gguf::File& file) {
  SpecialTokens found;
  const auto* tokens = file.get_array("tokenizer.ggml.tokens");
  if (!tokens) return found;
  for (const auto& token : *tokens) {
    if (token.type() != gguf::ValueType::STRING) continue;
    const std::string& text = token.as_string();
    if (text == "<|start_header_id|>")
      found.llama3 = true;
    else if (text == "<|im_start|>")
      found.chatml = true;
    else if (text == "<start_of_turn>")
      found.gemma = true;
    else if (text == "<|user|>")
      found.phi3 = true;
    else if (text == "<|end|>")
      found.phi3_end = true;
    else if (text == "[INST]")
      found.inst = true;
  }
  found.phi3 = found.phi3 && found.phi3_end;
  return found;
}

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

const FallbackChatFormat& fallback_chat_format(const gguf::File& file) {
  const std::string arch = file.architecture();
  const SpecialTokens vocab = scan_vocab(file);
  if (arch == "llama") {
    if (vocab.llama3) return kLlama3;
    if (vocab.inst) return kMistral;
    return kLlama2;
  }
  if (starts_with(arch, "qwen")) return kChatML;
  if (starts_with(arch, "phi3")) return kPhi3;
  if (starts_with(arch, "gemma")) return kGemma;
  // Other architectures: trust a distinctive control token.
  if (vocab.llama3) return kLlama3;
  if (vocab.chatml) return kChatML;
  if (vocab.gemma) return kGemma;
  if (vocab.phi3) return kPhi3;
  if (vocab.inst) return kMistral;
  throw Error(
      fmt::format("{}: no tokenizer.chat_template, and architecture '{}' has no known chat "
                  "format; give a template file",
                  file.path(), arch));
}

}  // namespace bantam
