// Every case of shared/templates/renders.json (official templates rendered by Python jinja2
// with Hugging Face's settings) must render byte for byte, or fail where jinja2 raised.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "bantam/error.hpp"
#include "test_support.hpp"
#include "text/chat_template.hpp"

namespace bantam {
namespace {

std::string case_name(size_t index, const nlohmann::ordered_json& c) {
  return fmt::format("#{} {} / {} / add_generation_prompt={} / tools={}", index,
                     c["template"].get<std::string>(), c["conversation"].get<std::string>(),
                     c["add_generation_prompt"].get<bool>(), !c["tools"].is_null());
}

TEST(ChatTemplateRenders, AllReferenceCasesMatchJinja2) {
  const auto cases =
      nlohmann::ordered_json::parse(test::read_file(test::shared("templates/renders.json")));
  ASSERT_EQ(cases.size(), 60u);
  size_t passed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    SCOPED_TRACE(case_name(i, c));
    const ChatTemplate chat(
        test::read_file(test::shared("templates/" + c["template"].get<std::string>())));
    ChatRenderOptions options;
    options.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    options.tools = c["tools"];
    options.bos_token = c["bos_token"].get<std::string>();
    options.eos_token = c["eos_token"].get<std::string>();
    options.now = "2026-07-26";  // the date the references were rendered with
    if (!c["expected_error"].is_null()) {
      // jinja2's message reads "TemplateError: <what raise_exception was given>".
      const std::string error = c["expected_error"].get<std::string>();
      const std::string message = error.substr(error.find(": ") + 2);
      try {
        chat.render(c["messages"], options);
        ADD_FAILURE() << "rendered, but jinja2 raised " << error;
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
        ++passed;
      }
      continue;
    }
    try {
      const std::string rendered = chat.render(c["messages"], options);
      EXPECT_EQ(rendered, c["expected"].get<std::string>());
      if (rendered == c["expected"].get<std::string>()) ++passed;
    } catch (const Error& e) {
      ADD_FAILURE() << "raised: " << e.what();
    }
  }
  EXPECT_EQ(passed, cases.size());
}

}  // namespace
}  // namespace bantam
