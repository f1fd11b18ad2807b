// Fuzzes the Jinja interpreter through ChatTemplate: any input must parse and render, or throw
// bantam::Error, within the limits (no crash, hang, leak or unbounded memory).
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "bantam/error.hpp"
#include "text/chat_template.hpp"

namespace {

const nlohmann::ordered_json& messages() {
  static const auto value = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Weather in Tōkyō? <b>&'\""},
    {"role": "assistant", "content": "",
     "tool_calls": [{"id": "call12345", "type": "function",
                     "function": {"name": "get_weather", "arguments": {"city": "Tokyo", "days": 2}}}]},
    {"role": "tool", "tool_call_id": "call12345", "content": "{\"temp\": 21.5}"},
    {"role": "user", "content": "  thanks\n"}
  ])");
  return value;
}

const nlohmann::ordered_json& tools() {
  static const auto value = nlohmann::ordered_json::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                    "required": ["city"]}}}
  ])");
  return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const bantam::ChatTemplate chat(std::string(reinterpret_cast<const char*>(data), size));
    bantam::ChatRenderOptions options;
    options.tools = tools();
    options.bos_token = "<s>";
    options.eos_token = "</s>";
    options.now = "2026-07-26 12:00";
    options.limits.max_memory_bytes = 1 << 20;
    options.limits.max_steps = 200'000;
    (void)chat.render(messages(), options);
  } catch (const bantam::Error&) {
  }
  return 0;
}
