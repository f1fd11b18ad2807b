#include "text/chat_template.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <ctime>

#include "bantam/error.hpp"
#include "text/chat_template_fallbacks.hpp"
#include "text/jinja/renderer.hpp"
#include "text/jinja/template.hpp"

namespace bantam {

struct ChatTemplate::Impl {
  Impl(std::string text, const jinja::LexOptions& options)
      : source(std::move(text)), parsed(source, options) {}
  std::string source;
  jinja::Template parsed;
  std::string bos_token;
  std::string eos_token;
  std::string fallback_format;
};

namespace {

// Parses "YYYY-MM-DD[( |T)HH:MM[:SS]]" as local time.
std::tm parse_now(const std::string& text, std::string_view where) {
  std::tm tm{};
  int hour = 0, minute = 0, second = 0;
  char separator = ' ';
  int consumed = 0;
  const int fields = std::sscanf(text.c_str(), "%4d-%2d-%2d%n%c%2d:%2d%n:%2d%n", &tm.tm_year,
                                 &tm.tm_mon, &tm.tm_mday, &consumed, &separator, &hour, &minute,
                                 &consumed, &second, &consumed);
  const bool valid =
      (fields == 3 || fields == 6 || fields == 7) && static_cast<size_t>(consumed) == text.size() &&
      (fields == 3 || separator == ' ' || separator == 'T') && tm.tm_mon >= 1 && tm.tm_mon <= 12 &&
      tm.tm_mday >= 1 && tm.tm_mday <= 31 && hour < 24 && minute < 60 && second < 61;
  if (!valid) {
    throw Error(
        fmt::format("{}: expected a local time as YYYY-MM-DD[ HH:MM[:SS]], got '{}'", where, text));
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  tm.tm_isdst = -1;
  std::tm normalized = tm;
  if (std::mktime(&normalized) != static_cast<std::time_t>(-1)) tm = normalized;  // weekday
  return tm;
}

std::tm current_time(const std::string& override_now) {
  if (!override_now.empty()) return parse_now(override_now, "chat template 'now'");
  if (const char* env = std::getenv("BANTAM_TEMPLATE_NOW"); env && *env) {
    return parse_now(env, "BANTAM_TEMPLATE_NOW");
  }
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  return local;
}

// Hugging Face's strftime_now(format): datetime.now().strftime(format).
jinja::Value strftime_function(std::tm now) {
  return jinja::native_function("strftime_now", [now](jinja::CallArgs& args, jinja::Renderer&) {
    const auto a = jinja::bind_args("strftime_now", args, {"format"}, 1);
    if (!a[0].is_string()) throw Error("strftime_now: the format must be a string");
    const std::string& format = a[0].as_string();
    if (format.empty()) return jinja::Value::string("");
    for (size_t size = 256; size <= 65536; size *= 4) {
      std::string out(size, '\0');
      const size_t n = std::strftime(out.data(), out.size(), format.c_str(), &now);
      if (n > 0) {
        out.resize(n);
        return jinja::Value::string(std::move(out));
      }
    }
    // strftime gives 0 both for too long and for an empty result (e.g. "%p" in some locales).
    return jinja::Value::string("");
  });
}

jinja::Value raise_exception_function() {
  return jinja::native_function(
      "raise_exception", [](jinja::CallArgs& args, jinja::Renderer&) -> jinja::Value {
        const auto a = jinja::bind_args("raise_exception", args, {"message"});
        throw Error(jinja::to_str(a[0]));
      });
}

}  // namespace

namespace {

jinja::LexOptions hugging_face_options(std::string name) {
  jinja::LexOptions options;  // trim_blocks and lstrip_blocks, as Hugging Face renders
  options.name = std::move(name);
  return options;
}

}  // namespace

ChatTemplate::ChatTemplate(std::string source, std::string name)
    : impl_(std::make_unique<Impl>(std::move(source), hugging_face_options(std::move(name)))) {}
ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

const std::string& ChatTemplate::source() const { return impl_->source; }
const std::string& ChatTemplate::bos_token() const { return impl_->bos_token; }
const std::string& ChatTemplate::eos_token() const { return impl_->eos_token; }
const std::string& ChatTemplate::fallback_format() const { return impl_->fallback_format; }

namespace {

std::string token_text(const gguf::File& file, std::string_view id_key) {
  const auto id = file.get_uint(id_key);
  const auto* tokens = file.get_array("tokenizer.ggml.tokens");
  if (!id || !tokens || *id >= tokens->size()) return "";
  const auto& token = (*tokens)[*id];
  return token.type() == gguf::ValueType::STRING ? token.as_string() : "";
}

}  // namespace

ChatTemplate ChatTemplate::from_gguf(const gguf::File& file, bool* fallback) {
  std::optional<ChatTemplate> result;
  if (auto source = file.get_string("tokenizer.chat_template")) {
    result.emplace(std::move(*source), file.path() + ": tokenizer.chat_template");
    if (fallback) *fallback = false;
  } else {
    const FallbackChatFormat& format = fallback_chat_format(file);
    result.emplace(std::string(format.source), std::string(format.name) + " fallback template");
    result->impl_->fallback_format = std::string(format.name);
    if (fallback) *fallback = true;
  }
  result->impl_->bos_token = token_text(file, "tokenizer.ggml.bos_token_id");
  result->impl_->eos_token = token_text(file, "tokenizer.ggml.eos_token_id");
  return std::move(*result);
}

ChatTemplate ChatTemplate::for_gguf(std::string source, const gguf::File& file) {
  ChatTemplate result(std::move(source), "chat template");
  result.impl_->bos_token = token_text(file, "tokenizer.ggml.bos_token_id");
  result.impl_->eos_token = token_text(file, "tokenizer.ggml.eos_token_id");
  return result;
}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages,
                                 const ChatRenderOptions& options) const {
  if (!messages.is_array()) throw Error("chat template: messages must be a JSON array");
  if (!options.extra_context.is_object()) {
    throw Error("chat template: extra_context must be a JSON object");
  }
  jinja::Dict variables;
  const auto set = [&](const std::string& name, jinja::Value value) {
    variables.set(jinja::Value::string(name), std::move(value));
  };
  set("messages", jinja::Value::from_json(messages));
  // Hugging Face passes tools=None when there are none, so `tools is defined` holds either way.
  set("tools", jinja::Value::from_json(options.tools));
  set("add_generation_prompt", jinja::Value::boolean(options.add_generation_prompt));
  set("bos_token", jinja::Value::string(options.bos_token.value_or(impl_->bos_token)));
  set("eos_token", jinja::Value::string(options.eos_token.value_or(impl_->eos_token)));
  set("raise_exception", raise_exception_function());
  set("strftime_now", strftime_function(current_time(options.now)));
  for (const auto& [key, value] : options.extra_context.items()) {
    set(key, jinja::Value::from_json(value));
  }
  return impl_->parsed.render(variables, options.limits);
}

void check_chat_template(const ChatTemplate& chat, const jinja::Limits& limits) {
  const auto sample = nlohmann::ordered_json::parse(R"([{"role": "user", "content": "Hello!"}])");
  ChatRenderOptions options;
  options.limits = limits;
  try {
    (void)chat.render(sample, options);
  } catch (const Error& e) {
    throw Error(fmt::format(
        "the chat template fails on a sample conversation (one user message), so it cannot be "
        "used: {}",
        e.what()));
  }
}

}  // namespace bantam
