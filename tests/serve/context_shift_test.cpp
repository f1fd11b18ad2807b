// `serve --context-shift`: a chat asking for more tokens than a slot's context holds is taken
// and answered in full (the slot shifts, keeping the system prompt); without the flag it is a 400.
#include "serve/chat_format.hpp"
#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

using nlohmann::json;

json long_chat() {
  return {{"messages", json::array({{{"role", "system"}, {"content", "Be kind."}}, {{"role", "user"}, {"content", "Hi"}}})},
          {"max_tokens", 150},
          {"temperature", 0}};
}

TEST(ServeContextShift, AChatLongerThanTheContextIsAnsweredInFull) {
  ServerProcess server({"-c", "64", "--context-shift"});
  const HttpResult r = post(server.port(), "/v1/chat/completions", long_chat());
  ASSERT_EQ(r.status, 200) << r.body;
  const json answer = r.json();
  EXPECT_EQ(answer["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(answer["usage"]["completion_tokens"], 150);
}

TEST(ServeContextShift, WithoutTheFlagTheRequestIsRefused) {
  ServerProcess server({"-c", "64"});
  const HttpResult r = post(server.port(), "/v1/chat/completions", long_chat());
  EXPECT_EQ(r.status, 400) << r.body;
}

}  // namespace
}  // namespace bantam::test

namespace bantam::serve {
namespace {

using nlohmann::ordered_json;

// What a shift keeps of a chat: the tokens its system part renders to, a prefix of the prompt.
TEST(ChatFormatterSystemTokens, AreThePromptsSystemPart) {
  const auto model = Model::load(test::stories_model());
  const ChatFormatter formatter(*model, jinja::Limits{});
  ChatRequest request;
  request.messages = ordered_json::array({{{"role", "system"}, {"content", "Be kind to every cat."}},
                                          {{"role", "user"}, {"content", "Hi"}}});
  const std::vector<TokenId> prompt = formatter.prompt_tokens(request);
  const int kept = formatter.system_tokens(request, prompt);
  ASSERT_GT(kept, 0);
  ASSERT_LT(kept, static_cast<int>(prompt.size()));
  const std::string system_text = model->detokenize(std::span(prompt).first(static_cast<size_t>(kept)));
  EXPECT_NE(system_text.find("Be kind to every cat."), std::string::npos) << system_text;
  EXPECT_EQ(system_text.find("Hi"), std::string::npos) << system_text;

  request.messages.erase(0);  // no system part: nothing is kept by it
  EXPECT_EQ(formatter.system_tokens(request, formatter.prompt_tokens(request)), 0);
}

}  // namespace
}  // namespace bantam::serve
