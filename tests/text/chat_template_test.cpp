// ChatTemplate from GGUF files (embedded templates, per-family fallbacks), its context variables
// (strftime_now, raise_exception, bos/eos), and `bantam template` end to end.
#include "text/chat_template.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "bantam/error.hpp"
#include "format/gguf.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

nlohmann::ordered_json reference_cases() {
  return nlohmann::ordered_json::parse(test::read_file(test::shared("templates/renders.json")));
}

// The first reference case for `template_file` with tools given or not.
nlohmann::ordered_json reference_case(const std::string& template_file, bool with_tools) {
  for (const auto& c : reference_cases()) {
    if (c["template"] == template_file && c["tools"].is_null() != with_tools &&
        c["expected_error"].is_null()) {
      return c;
    }
  }
  throw Error("no such reference case: " + template_file);
}

const nlohmann::ordered_json kConversation = nlohmann::ordered_json::parse(R"([
  {"role": "system", "content": "Be brief."},
  {"role": "user", "content": "Hi"},
  {"role": "assistant", "content": "Hello."},
  {"role": "user", "content": "Bye"}])");

TEST(ChatTemplate, EmbeddedTemplateUsesTheVocabsBosToken) {
  const auto file =
      gguf::File::open(test::shared("models/vocab-derived/ggml-vocab-llama-bpe.gguf"));
  bool fallback = true;
  const ChatTemplate chat = ChatTemplate::from_gguf(file, &fallback);
  EXPECT_FALSE(fallback);
  EXPECT_EQ(chat.bos_token(), "<|begin_of_text|>");
  EXPECT_EQ(chat.fallback_format(), "");
  const auto c = reference_case("meta-llama-Llama-3.1-8B-Instruct.jinja", true);
  ChatRenderOptions options;  // bos/eos left to the vocab
  options.add_generation_prompt = c["add_generation_prompt"].get<bool>();
  options.tools = c["tools"];
  EXPECT_EQ(chat.render(c["messages"], options), c["expected"].get<std::string>());
}

TEST(ChatTemplate, QwenVocabCarriesTheQwenTemplate) {
  const auto file = gguf::File::open(test::shared("models/vocab-derived/ggml-vocab-qwen2.gguf"));
  const ChatTemplate chat = ChatTemplate::from_gguf(file);
  const auto c = reference_case("Qwen-Qwen2.5-7B-Instruct.jinja", true);
  ChatRenderOptions options;
  options.add_generation_prompt = c["add_generation_prompt"].get<bool>();
  options.tools = c["tools"];
  EXPECT_EQ(chat.render(c["messages"], options), c["expected"].get<std::string>());
}

TEST(ChatTemplate, FallbackFollowsArchitectureAndVocab) {
  const std::pair<const char*, const char*> expected[] = {
      {"models/weights/stories260K.gguf", "Llama 2 [INST]"},
      {"models/synthetic/synth-llama3-f16.gguf", "Llama 2 [INST]"},  // llama arch, no header tokens
      {"models/synthetic/synth-qwen2-f16.gguf", "ChatML"},
      {"models/synthetic/synth-phi3-f16.gguf", "Phi-3"},
      {"models/synthetic/synth-gemma-f16.gguf", "Gemma"},
      {"models/synthetic/synth-gemma2-f16.gguf", "Gemma"},
  };
  for (const auto& [path, format] : expected) {
    SCOPED_TRACE(path);
    bool fallback = false;
    const ChatTemplate chat =
        ChatTemplate::from_gguf(gguf::File::open(test::shared(path)), &fallback);
    EXPECT_TRUE(fallback);
    EXPECT_EQ(chat.fallback_format(), format);
    EXPECT_NO_THROW(chat.render(kConversation, {}));
  }
}

TEST(ChatTemplate, Llama2FallbackOnStories260K) {
  const ChatTemplate chat =
      ChatTemplate::from_gguf(gguf::File::open(test::shared("models/weights/stories260K.gguf")));
  EXPECT_EQ(chat.bos_token(), "<s>");
  EXPECT_EQ(chat.eos_token(), "</s>");
  EXPECT_EQ(
      chat.render(kConversation, {}),
      "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Bye [/INST]");
}

TEST(ChatTemplate, GemmaFallbackFoldsSystemIntoTheUserTurn) {
  const ChatTemplate chat = ChatTemplate::from_gguf(
      gguf::File::open(test::shared("models/synthetic/synth-gemma-f16.gguf")));
  ChatRenderOptions options;
  options.bos_token = "<bos>";
  EXPECT_EQ(chat.render(kConversation, options),
            "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello."
            "<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n");
}

TEST(ChatTemplate, StrftimeNowUsesTheOverride) {
  const ChatTemplate chat("{{ strftime_now('%d %b %Y %H:%M %A') }}");
  ChatRenderOptions options;
  options.now = "2026-07-26 10:30";
  EXPECT_EQ(chat.render(nlohmann::ordered_json::array(), options), "26 Jul 2026 10:30 Sunday");
  options.now = "26/07/2026";
  EXPECT_THROW(chat.render(nlohmann::ordered_json::array(), options), Error);
  ::setenv("BANTAM_TEMPLATE_NOW", "2030-01-02", 1);
  const std::string from_env = chat.render(nlohmann::ordered_json::array(), {});
  ::unsetenv("BANTAM_TEMPLATE_NOW");
  EXPECT_EQ(from_env, "02 Jan 2030 00:00 Wednesday");
}

TEST(ChatTemplate, RaiseExceptionBecomesAnErrorWithItsMessage) {
  const ChatTemplate chat(
      "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% "
      "endif %}",
      "gemma.jinja");
  try {
    chat.render(kConversation, {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "gemma.jinja:1:41: System role not supported");
  }
}

TEST(ChatTemplate, ContextVariables) {
  const ChatTemplate chat(
      "{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}|{{ tools }}|{{ date_string }}");
  ChatRenderOptions options;
  options.bos_token = "B";
  options.eos_token = "E";
  options.add_generation_prompt = false;
  options.extra_context = {{"date_string", "1 Jan 2025"}};
  EXPECT_EQ(chat.render(kConversation, options), "B|E|False|None|1 Jan 2025");
  EXPECT_THROW(chat.render(nlohmann::ordered_json::object(), options), Error);
}

TEST(ChatTemplate, MalformedTemplateNamesLineAndColumn) {
  try {
    ChatTemplate("{% for m in messages %}\n  {{ m.role | }}\n{% endfor %}", "bad.jinja");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "bad.jinja:2:15: expected a filter name, found '}}'");
  }
}

class TemplateCli : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    test::write_file(path, text);
    return path.string();
  }
  std::filesystem::path dir_ = test::temp_dir();
};

TEST_F(TemplateCli, PrintsTheReferenceRenderExactly) {
  const auto c = reference_case("meta-llama-Llama-3.1-8B-Instruct.jinja", true);
  const auto messages = write("messages.json", c["messages"].dump());
  const auto tools = write("tools.json", c["tools"].dump());
  const auto result = test::run_cli(
      {"template", "--template",
       test::shared("templates/meta-llama-Llama-3.1-8B-Instruct.jinja").string(), "--messages",
       messages, "--tools", tools, "--add-generation-prompt", "--bos",
       c["bos_token"].get<std::string>(), "--eos", c["eos_token"].get<std::string>()});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, c["expected"].get<std::string>());
  EXPECT_EQ(result.err, "");
}

TEST_F(TemplateCli, DatedTemplateWithNowOption) {
  for (const auto& c : reference_cases()) {
    if (c["template"] != "meta-llama-Llama-3.2-3B-Instruct.jinja" || !c["add_generation_prompt"])
      continue;
    const auto messages = write("messages.json", c["messages"].dump());
    const auto result =
        test::run_cli({"template", "--template",
                       test::shared("templates/meta-llama-Llama-3.2-3B-Instruct.jinja").string(),
                       "--messages", messages, "--add-generation-prompt", "--bos",
                       c["bos_token"].get<std::string>(), "--now", "2026-07-26"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out, c["expected"].get<std::string>());
    return;
  }
  FAIL() << "no Llama 3.2 reference case";
}

TEST_F(TemplateCli, MalformedTemplateFails) {
  const auto bad = write("bad.jinja", "{% if messages %}\n{{ messages[0] | nosuch }}\n{% endif %}");
  const auto messages = write("messages.json", kConversation.dump());
  const auto result = test::run_cli({"template", "--template", bad, "--messages", messages});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_EQ(result.out, "");
  EXPECT_NE(result.err.find("bad.jinja:2:18: no filter named 'nosuch'"), std::string::npos)
      << result.err;
}

TEST_F(TemplateCli, ModelWithoutTemplateSaysItFellBack) {
  const auto messages =
      write("messages.json", R"([{"role": "user", "content": "Once upon a time"}])");
  const auto result =
      test::run_cli({"template", "-m", test::shared("models/weights/stories260K.gguf").string(),
                     "--messages", messages, "--add-generation-prompt"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "<s>[INST] Once upon a time [/INST]");
  EXPECT_NE(result.err.find("using the built-in Llama 2 [INST] format"), std::string::npos)
      << result.err;
}

TEST_F(TemplateCli, RaisedErrorsReachStderr) {
  const auto messages = write("messages.json", kConversation.dump());
  const auto result = test::run_cli({"template", "--template",
                                     test::shared("templates/google-gemma-2-2b-it.jinja").string(),
                                     "--messages", messages});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find("System role not supported"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace bantam
