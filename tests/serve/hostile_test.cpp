// Malformed and hostile requests: each gets the right 4xx in OpenAI's error shape, and the server
// keeps serving.
#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

using nlohmann::json;

struct Case {
  std::string name;
  std::string method;
  std::string path;
  std::string body;
  long status;
  std::string param;  // expected error.param, when one applies
};

json chat(const json& extra = json::object()) {
  json body = {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 4}};
  body.update(extra);
  return body;
}

std::vector<Case> cases() {
  const std::string long_prompt = [] {
    std::string text;
    for (int i = 0; i < 400; ++i) text += "the cat sat on the mat and ";
    return text;
  }();
  return {
      {"bad json", "POST", "/v1/chat/completions", "{\"messages\": [", 400, ""},
      {"not an object", "POST", "/v1/chat/completions", "[1, 2]", 400, ""},
      {"messages missing", "POST", "/v1/chat/completions", json{{"max_tokens", 3}}.dump(), 400, "messages"},
      {"messages wrong type", "POST", "/v1/chat/completions", json{{"messages", "hello"}}.dump(), 400, "messages"},
      {"empty messages", "POST", "/v1/chat/completions", json{{"messages", json::array()}}.dump(), 400, "messages"},
      {"unknown role", "POST", "/v1/chat/completions",
       json{{"messages", {{{"role", "wizard"}, {"content", "x"}}}}}.dump(), 400, "messages[0].role"},
      {"content wrong type", "POST", "/v1/chat/completions",
       json{{"messages", {{{"role", "user"}, {"content", 42}}}}}.dump(), 400, "messages[0].content"},
      {"temperature string", "POST", "/v1/chat/completions", chat({{"temperature", "hot"}}).dump(), 400, "temperature"},
      {"temperature negative", "POST", "/v1/chat/completions", chat({{"temperature", -1}}).dump(), 400, "temperature"},
      {"top_p huge", "POST", "/v1/chat/completions", chat({{"top_p", 1e300}}).dump(), 400, "top_p"},
      {"max_tokens negative", "POST", "/v1/chat/completions", chat({{"max_tokens", -5}}).dump(), 400, "max_tokens"},
      {"max_tokens huge", "POST", "/v1/chat/completions", chat({{"max_tokens", 18446744073709551615ull}}).dump(), 400,
       "max_tokens"},
      {"max_tokens beyond context", "POST", "/v1/chat/completions", chat({{"max_tokens", 100000}}).dump(), 400,
       "max_tokens"},
      {"n beyond 128", "POST", "/v1/chat/completions", chat({{"n", 500}}).dump(), 400, "n"},
      {"penalty out of range", "POST", "/v1/chat/completions", chat({{"presence_penalty", 7}}).dump(), 400,
       "presence_penalty"},
      {"seed negative", "POST", "/v1/chat/completions", chat({{"seed", -1}}).dump(), 400, "seed"},
      {"top_logprobs without logprobs", "POST", "/v1/chat/completions", chat({{"top_logprobs", 2}}).dump(), 400,
       "top_logprobs"},
      {"stop wrong type", "POST", "/v1/chat/completions", chat({{"stop", 5}}).dump(), 400, "stop"},
      {"logit_bias bad token", "POST", "/v1/chat/completions", chat({{"logit_bias", {{"999999", 5}}}}).dump(), 400,
       "logit_bias"},
      {"over-long prompt", "POST", "/v1/chat/completions",
       json{{"messages", {{{"role", "user"}, {"content", long_prompt}}}}}.dump(), 400, "messages"},
      {"unsupported schema keyword", "POST", "/v1/chat/completions",
       chat({{"response_format",
              {{"type", "json_schema"},
               {"json_schema", {{"name", "x"}, {"schema", {{"type", "string"}, {"pattern", "^a+$"}}}}}}}})
           .dump(),
       400, "response_format.json_schema.schema"},
      {"unknown response_format", "POST", "/v1/chat/completions", chat({{"response_format", {{"type", "xml"}}}}).dump(),
       400, "response_format.type"},
      {"tool_choice unknown function", "POST", "/v1/chat/completions",
       chat({{"tools", {{{"type", "function"}, {"function", {{"name", "f"}}}}}},
             {"tool_choice", {{"type", "function"}, {"function", {{"name", "g"}}}}}})
           .dump(),
       400, "tool_choice.function.name"},
      {"image content part", "POST", "/v1/chat/completions",
       json{{"messages", {{{"role", "user"}, {"content", {{{"type", "image_url"}, {"image_url", "x"}}}}}}}}.dump(), 400,
       "messages[0].content[0]"},
      {"completion prompt wrong type", "POST", "/v1/completions", json{{"prompt", {{"a", 1}}}}.dump(), 400, "prompt"},
      {"embedding input missing", "POST", "/v1/embeddings", json{{"model", "x"}}.dump(), 400, "input"},
      {"embedding bad token id", "POST", "/v1/embeddings", json{{"input", {-3, 2}}}.dump(), 400, "input"},
      {"unknown route", "GET", "/v1/nothing", "", 404, ""},
      {"wrong method", "GET", "/v1/chat/completions", "", 404, ""},
      {"oversized body", "POST", "/v1/chat/completions", std::string(2u << 20, 'x'), 413, ""},
  };
}

TEST(ServeHostile, EachRequestGetsTheRightErrorAndTheServerKeepsServing) {
  ServerProcess server({"-c", "256", "--max-body-mb", "1"});
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const auto r = http(server.port(), c.method, c.path, c.body);
    ASSERT_EQ(r.error, CURLE_OK) << curl_easy_strerror(r.error);
    EXPECT_EQ(r.status, c.status) << r.body;
    json error;
    ASSERT_NO_THROW(error = r.json()["error"]) << r.body;
    EXPECT_TRUE(error["message"].is_string());
    EXPECT_TRUE(error["type"].is_string());
    EXPECT_TRUE(error.contains("param"));
    EXPECT_TRUE(error.contains("code"));
    if (!c.param.empty()) {
      EXPECT_EQ(error["param"], c.param) << r.body;
    }
    const auto ok = post(server.port(), "/v1/chat/completions", chat());
    EXPECT_EQ(ok.status, 200) << ok.body;
  }
  // Context overflow names the numbers.
  const auto overflow = http(server.port(), "POST", "/v1/chat/completions", cases()[19].body);
  EXPECT_NE(overflow.json()["error"]["message"].get<std::string>().find("256"), std::string::npos);
  // The unsupported keyword is named.
  const auto schema = http(server.port(), "POST", "/v1/chat/completions", cases()[20].body);
  EXPECT_NE(schema.json()["error"]["message"].get<std::string>().find("'pattern'"), std::string::npos);
  EXPECT_EQ(server.stop(), 0);
}

TEST(ServeHostile, ApiKeyIsRequiredWhenConfigured) {
  ServerProcess server({"--api-key-env", "BANTAM_TEST_KEY"}, {"BANTAM_TEST_KEY=s3cret"});
  const json body = chat();
  EXPECT_EQ(post(server.port(), "/v1/chat/completions", body).status, 401);
  const auto wrong = post(server.port(), "/v1/chat/completions", body, {"Authorization: Bearer nope"});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.json()["error"]["code"], "invalid_api_key");
  EXPECT_EQ(post(server.port(), "/v1/chat/completions", body, {"Authorization: Bearer s3cret"}).status, 200);
  EXPECT_EQ(http(server.port(), "GET", "/v1/models").status, 401);
  EXPECT_EQ(http(server.port(), "GET", "/health").status, 200);
}

TEST(ServeHostile, FullQueueAnswers503) {
  ServerProcess server({"--parallel", "1", "--max-queue", "0", "-c", "1024"});
  // One long generation holds the only slot; with no queue the next request is refused.
  std::thread holder([&] {
    post(server.port(), "/v1/completions", {{"prompt", "Once"}, {"max_tokens", 800}, {"temperature", 0}});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto r = post(server.port(), "/v1/completions", {{"prompt", "Once"}, {"max_tokens", 2}});
  EXPECT_EQ(r.status, 503) << r.body;
  holder.join();
  EXPECT_EQ(post(server.port(), "/v1/completions", {{"prompt", "Once"}, {"max_tokens", 2}}).status, 200);
}

}  // namespace
}  // namespace bantam::test
