// `serve --context-shift`: a chat asking for more tokens than a slot's context holds is taken
// and answered in full (the slot shifts, keeping the system prompt); without the flag it is a 400.
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
