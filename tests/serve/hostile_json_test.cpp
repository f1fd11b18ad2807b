// Hostile JSON in requests: documents nested 100,000 deep (in an unknown field, a message, "bantam",
// a tool's parameters), numbers that overflow, schemas that loop or explode. Each gets a 400 naming
// where the problem is (or a quick answer), and the server answers a normal chat right after.
#include <gmock/gmock.h>

#include <chrono>

#include <fmt/format.h>

#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr size_t kLevels = 100000;

std::string deep_arrays(bool closed = true) {
  return std::string(kLevels, '[') + (closed ? "1" + std::string(kLevels, ']') : "");
}

// {"a":{"a":...{"a":1}...}}
std::string deep_objects() {
  std::string text;
  text.reserve(kLevels * 6);
  for (size_t i = 0; i < kLevels; ++i) text += "{\"a\":";
  return text + "1" + std::string(kLevels, '}');
}

const char* kHello = R"({"role":"user","content":"Hi"})";

std::string chat_with(const std::string& members) {
  return fmt::format(R"({{"messages":[{}],"max_tokens":4,{}}})", kHello, members);
}

json normal_chat() { return {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 4}}; }

struct Refused {
  std::string name;
  std::string body;
  std::string param_prefix;
  std::string message_part;
};

class ServeHostileJson : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new ServerProcess({"-c", "256"}); }
  static void TearDownTestSuite() { delete server_; }

  static void expect_refused(const Refused& c) {
    SCOPED_TRACE(c.name);
    const auto r = http(server_->port(), "POST", "/v1/chat/completions", c.body);
    ASSERT_EQ(r.error, CURLE_OK) << curl_easy_strerror(r.error);
    EXPECT_EQ(r.status, 400) << r.body.substr(0, 500);
    json error;
    ASSERT_NO_THROW(error = r.json()["error"]) << r.body.substr(0, 500);
    EXPECT_THAT(error["param"].get<std::string>(), StartsWith(c.param_prefix));
    EXPECT_THAT(error["message"].get<std::string>(), HasSubstr(c.message_part));
    expect_still_serving();
  }

  static void expect_still_serving() {
    const auto ok = post(server_->port(), "/v1/chat/completions", normal_chat());
    EXPECT_EQ(ok.status, 200) << ok.body;
  }

  static ServerProcess* server_;
};
ServerProcess* ServeHostileJson::server_ = nullptr;

TEST_F(ServeHostileJson, HundredThousandLevelsAreRefusedWherePut) {
  const std::string depth = "nested deeper than 128 levels";
  const Refused cases[] = {
      {"arrays in an unknown field", chat_with(R"("x":)" + deep_arrays()), "x[0][0]", depth},
      {"unclosed arrays in an unknown field", chat_with(R"("x":)" + deep_arrays(false)), "x[0][0]", depth},
      {"objects in an unknown field", chat_with(R"("x":)" + deep_objects()), "x.a.a", depth},
      {"arrays as a message's content",
       fmt::format(R"({{"messages":[{{"role":"user","content":{}}}]}})", deep_arrays()), "messages[0].content[0]",
       depth},
      {"objects in bantam", chat_with(R"("bantam":)" + deep_objects()), "bantam.a.a", depth},
      {"objects as a tool's parameters",
       chat_with(fmt::format(R"("tools":[{{"type":"function","function":{{"name":"f","parameters":{}}}}}])",
                             deep_objects())),
       "tools[0].function.parameters.a", depth},
  };
  for (const Refused& c : cases) expect_refused(c);
}

TEST_F(ServeHostileJson, NumbersThatOverflowAreRefusedNamingTheField) {
  expect_refused({"temperature 1e400", chat_with(R"("temperature":1e400)"), "temperature", "temperature"});
  expect_refused({"top_p -1e400", chat_with(R"("top_p":-1e400)"), "top_p", "number overflow"});
  expect_refused({"temperature out of range", chat_with(R"("temperature":2.5)"), "temperature",
                  "it must be a number from 0 to 2"});
}

TEST_F(ServeHostileJson, SchemaLoopsAreRefusedNamingTheLoop) {
  const auto response_format = [](const std::string& schema) {
    return chat_with(
        fmt::format(R"("response_format":{{"type":"json_schema","json_schema":{{"name":"s","schema":{}}}}})", schema));
  };
  expect_refused({"$ref to itself", response_format(R"({"$ref":"#"})"), "response_format.json_schema.schema",
                  "# → #"});
  const std::string a_b_a = R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"})";
  expect_refused({"a to b to a", response_format(a_b_a), "response_format.json_schema.schema",
                  "#/$defs/a → #/$defs/b → #/$defs/a"});
  expect_refused({"anyOf holding itself", response_format(R"({"anyOf":[{"$ref":"#"},{"type":"string"}]})"),
                  "response_format.json_schema.schema", "# → #/anyOf → #"});
  const std::string looping_parameters =
      R"({"type":"object","properties":{"p":{"$ref":"#/$defs/a"}},)"
      R"("$defs":{"a":{"anyOf":[{"type":"null"},{"$ref":"#/$defs/a"}]}}})";
  expect_refused({"tool parameters looping",
                  chat_with(fmt::format(R"("tools":[{{"type":"function","function":{{"name":"f","parameters":{}}}}}])",
                                        looping_parameters)),
                  "tools[0].function.parameters", "#/$defs/a → #/$defs/a/anyOf → #/$defs/a"});
}

// 2^20 ways to read the 20 "[" every valid answer starts with: the recognizer follows a bounded
// number of them, so sampling stays quick (unbounded, one token took minutes).
TEST_F(ServeHostileJson, ExplosivelyAmbiguousSchemaIsAnsweredQuickly) {
  json defs = json::object();
  for (int i = 0; i < 20; ++i) {
    const json inner = i < 19 ? json{{"$ref", fmt::format("#/$defs/a{}", i + 1)}} : json{{"type", "null"}};
    const json option = {{"type", "array"}, {"items", inner}, {"minItems", 1}};
    defs[fmt::format("a{}", i)] = {{"anyOf", {option, option}}};
  }
  json body = normal_chat();
  body["max_tokens"] = 24;
  body["response_format"] = {{"type", "json_schema"},
                             {"json_schema", {{"name", "s"}, {"schema", {{"$defs", defs}, {"$ref", "#/$defs/a0"}}}}}};
  const auto start = std::chrono::steady_clock::now();
  const auto r = post(server_->port(), "/v1/chat/completions", body);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.json()["choices"][0]["message"]["content"].get<std::string>(), StartsWith(std::string(20, '[')));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  expect_still_serving();
}

// The arguments of an earlier tool call are a string the client wrote; nested 100,000 deep they
// stay a string in the prompt (too long for this context) instead of being copied as a document.
TEST_F(ServeHostileJson, DeepToolCallArgumentsAreKeptAsText) {
  json body = normal_chat();
  const json call = {{"id", "c1"}, {"type", "function"}, {"function", {{"name", "f"}, {"arguments", deep_arrays()}}}};
  body["messages"] = {
      {{"role", "user"}, {"content", "Hi"}},
      {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", {call}}},
      {{"role", "tool"}, {"tool_call_id", "c1"}, {"content", "ok"}},
  };
  const auto r = post(server_->port(), "/v1/chat/completions", body);
  EXPECT_EQ(r.status, 400) << r.body.substr(0, 500);
  EXPECT_EQ(r.json()["error"]["param"], "messages") << r.body.substr(0, 500);
  expect_still_serving();
}

}  // namespace
}  // namespace bantam::test
