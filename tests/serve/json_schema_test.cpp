// JSON-schema constrained generation: the grammar alone, then through the server with sampling,
// and tool calls forced through a function's parameter schema.
#include "bantam/error.hpp"
#include "runtime/json_grammar.hpp"
#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

using nlohmann::json;

// Checks `value` against the schema subset the server supports; empty string when valid.
std::string violation(const json& value, const json& schema, const json& root) {
  if (schema.contains("$ref")) {
    const std::string ref = schema["$ref"];
    return violation(value, root["$defs"][ref.substr(std::string("#/$defs/").size())], root);
  }
  if (schema.contains("const")) return value == schema["const"] ? "" : "const mismatch";
  if (schema.contains("enum")) {
    for (const json& v : schema["enum"]) {
      if (v == value) return "";
    }
    return "not in enum: " + value.dump();
  }
  if (schema.contains("anyOf")) {
    for (const json& option : schema["anyOf"]) {
      if (violation(value, option, root).empty()) return "";
    }
    return "no anyOf option matches " + value.dump();
  }
  const std::string type = schema.value("type", "");
  if (type == "object") {
    if (!value.is_object()) return "not an object: " + value.dump();
    for (const json& name : schema.value("required", json::array())) {
      if (!value.contains(name.get<std::string>())) return "missing " + name.get<std::string>();
    }
    for (const auto& [key, v] : value.items()) {
      if (!schema["properties"].contains(key)) return "unexpected property " + key;
      if (auto why = violation(v, schema["properties"][key], root); !why.empty()) return key + ": " + why;
    }
    return "";
  }
  if (type == "array") {
    if (!value.is_array()) return "not an array";
    if (value.size() < schema.value("minItems", 0u) || value.size() > schema.value("maxItems", 1000000u)) return "item count";
    for (const json& item : value) {
      if (auto why = violation(item, schema["items"], root); !why.empty()) return why;
    }
    return "";
  }
  if (type == "string") {
    if (!value.is_string()) return "not a string";
    // Characters, not bytes.
    size_t chars = 0;
    for (unsigned char c : value.get<std::string>()) chars += (c & 0xC0) != 0x80;
    if (chars < schema.value("minLength", 0u) || chars > schema.value("maxLength", 1000000u)) return "length";
    return "";
  }
  if (type == "integer") return value.is_number_integer() ? "" : "not an integer";
  if (type == "number") return value.is_number() ? "" : "not a number";
  if (type == "boolean") return value.is_boolean() ? "" : "not a boolean";
  if (type == "null") return value.is_null() ? "" : "not null";
  return "";
}

bool matches(const std::shared_ptr<const JsonGrammar>& grammar, const std::string& text) {
  JsonMatcher m(grammar);
  return m.feed(text) && m.complete();
}

TEST(JsonGrammar, AcceptsValidAndRejectsInvalidDocuments) {
  const auto g = JsonGrammar::from_schema(json::parse(R"({
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 4}, "n": {"type": "integer"},
                   "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
                   "x": {"type": ["number", "null"]}},
    "required": ["name", "n"]})"));
  // Properties come in the schema's key order (nlohmann sorts them: n, name, tags, x).
  EXPECT_TRUE(matches(g, R"({"n":-12,"name":"ab\"c"})"));
  EXPECT_TRUE(matches(g, R"({"n":0,"name":"","tags":["a","b"],"x":null})"));
  EXPECT_TRUE(matches(g, R"({"n":5,"name":"x","x":1.5e-3})"));
  EXPECT_FALSE(matches(g, R"({"n":5})"));                           // missing required
  EXPECT_FALSE(matches(g, R"({"n":5,"name":"abcde"})"));            // too long
  EXPECT_FALSE(matches(g, R"({"n":1.5,"name":"a"})"));              // not an integer
  EXPECT_FALSE(matches(g, R"({"n":01,"name":"a"})"));               // leading zero
  EXPECT_FALSE(matches(g, R"({"n":1,"name":"a","tags":["c"]})"));   // not in enum
  EXPECT_FALSE(matches(g, R"({"n":1,"name":"a","tags":["a","a","a"]})"));
  EXPECT_FALSE(matches(g, R"({"n":1,"name":"a","other":1})"));
  JsonMatcher partial(g);
  EXPECT_TRUE(partial.feed(R"({"n":1)"));
  EXPECT_FALSE(partial.complete());
}

TEST(JsonGrammar, RecursiveDefinitionsAndAnyJson) {
  const auto tree = JsonGrammar::from_schema(json::parse(R"({
    "$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"},
              "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "required": ["v"]}},
    "$ref": "#/$defs/node"})"));
  EXPECT_TRUE(matches(tree, R"({"kids":[{"v":2},{"kids":[],"v":3}],"v":1})"));
  EXPECT_FALSE(matches(tree, R"({"kids":[{}],"v":1})"));
  const auto any = JsonGrammar::any_object();
  EXPECT_TRUE(matches(any, R"({"a":[1,true,null,{"b":"\u00e9"}],"c":-0.5})"));
  EXPECT_FALSE(matches(any, R"([1])"));
  EXPECT_FALSE(matches(any, "{\"a\":\"\x01\"}"));
}

TEST(JsonGrammar, UnsupportedKeywordsAreNamed) {
  for (const char* keyword : {"pattern", "format", "minimum", "oneOf", "allOf", "not", "uniqueItems", "prefixItems"}) {
    json schema = {{"type", "object"}, {"properties", {{"a", {{"type", "string"}, {keyword, 1}}}}}};
    try {
      JsonGrammar::from_schema(schema);
      ADD_FAILURE() << keyword << " accepted";
    } catch (const bantam::Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("'") + keyword + "'"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("/properties/a"), std::string::npos) << e.what();
    }
  }
}

class ServeJson : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new ServerProcess({"--parallel", "2", "-c", "1024"}); }
  static void TearDownTestSuite() {
    delete server_;
  }
  static ServerProcess* server_;
};
ServerProcess* ServeJson::server_ = nullptr;

const char* kPersonSchema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 12},
    "age": {"type": "integer"},
    "mood": {"enum": ["happy", "sad", "sleepy"]},
    "pets": {"type": "array", "items": {"type": "string", "maxLength": 6}, "maxItems": 3},
    "height": {"anyOf": [{"type": "number"}, {"type": "null"}]},
    "alive": {"type": "boolean"}
  },
  "required": ["name", "age", "mood", "alive"],
  "additionalProperties": false
})";

TEST_F(ServeJson, SchemaModeAlwaysYieldsValidJson) {
  const json schema = json::parse(kPersonSchema);
  for (int seed = 1; seed <= 12; ++seed) {
    SCOPED_TRACE(seed);
    const json body = {{"messages", {{{"role", "user"}, {"content", "Describe a person."}}}},
                       {"temperature", 1.2},
                       {"seed", seed},
                       {"max_tokens", 400},
                       {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "person"}, {"schema", schema}}}}}};
    const auto r = post(server_->port(), "/v1/chat/completions", body);
    ASSERT_EQ(r.status, 200) << r.body;
    const json choice = r.json()["choices"][0];
    EXPECT_EQ(choice["finish_reason"], "stop");
    json value;
    ASSERT_NO_THROW(value = json::parse(choice["message"]["content"].get<std::string>()))
        << choice["message"]["content"];
    EXPECT_EQ(violation(value, schema, schema), "") << value.dump();
  }
}

TEST_F(ServeJson, JsonObjectModeStreamsAnObject) {
  const json body = {{"messages", {{{"role", "user"}, {"content", "Give JSON."}}}},
                     {"temperature", 0},
                     {"max_tokens", 200},
                     {"stream", true},
                     {"response_format", {{"type", "json_object"}}}};
  const auto r = post(server_->port(), "/v1/chat/completions", body);
  std::string text;
  std::string finish;
  for (const json& e : sse_events(r.body)) {
    const json& choice = e["choices"][0];
    if (choice["delta"].contains("content")) text += choice["delta"]["content"].get<std::string>();
    if (!choice["finish_reason"].is_null()) finish = choice["finish_reason"];
  }
  // Either a complete object, or cut off by max_tokens as a prefix of one.
  if (finish == "stop") {
    EXPECT_TRUE(json::parse(text).is_object()) << text;
  } else {
    EXPECT_EQ(finish, "length");
    JsonMatcher m(JsonGrammar::any_object());
    EXPECT_TRUE(m.feed(text)) << text;
  }
}

TEST_F(ServeJson, StreamedForcedToolCallAssembles) {
  const json parameters = json::parse(R"({"type": "object", "properties": {
      "city": {"type": "string", "maxLength": 10}, "days": {"type": "integer"},
      "unit": {"enum": ["c", "f"]}}, "required": ["city", "days", "unit"]})");
  const json body = {
      {"messages", {{{"role", "user"}, {"content", "Weather in Paris?"}}}},
      {"tools", {{{"type", "function"}, {"function", {{"name", "get_weather"}, {"description", "Forecast"}, {"parameters", parameters}}}},
                 {{"type", "function"}, {"function", {{"name", "other"}}}}}},
      {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_weather"}}}}},
      {"stream", true},
      {"temperature", 0.9},
      {"seed", 7},
      {"max_tokens", 200}};
  const auto r = post(server_->port(), "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  // Assemble as the SDKs do: per index, id/name from the first delta, arguments appended.
  std::string id, name, arguments, finish;
  for (const json& e : sse_events(r.body)) {
    const json& choice = e["choices"][0];
    if (!choice["finish_reason"].is_null()) finish = choice["finish_reason"];
    if (!choice["delta"].contains("tool_calls")) continue;
    for (const json& call : choice["delta"]["tool_calls"]) {
      EXPECT_EQ(call["index"], 0);
      if (call.contains("id")) id = call["id"];
      if (call["function"].contains("name")) name = call["function"]["name"];
      if (call["function"].contains("arguments")) arguments += call["function"]["arguments"].get<std::string>();
    }
  }
  EXPECT_EQ(finish, "tool_calls");
  EXPECT_FALSE(id.empty());
  EXPECT_EQ(name, "get_weather");
  json args;
  ASSERT_NO_THROW(args = json::parse(arguments)) << arguments;
  EXPECT_EQ(violation(args, parameters, parameters), "") << arguments;

  // Not streamed: the same call in message.tool_calls.
  json whole = body;
  whole["stream"] = false;
  const auto w = post(server_->port(), "/v1/chat/completions", whole).json();
  const json& message = w["choices"][0]["message"];
  EXPECT_TRUE(message["content"].is_null());
  EXPECT_EQ(message["tool_calls"][0]["function"]["name"], "get_weather");
  // Sampled, and the second request reuses the cached prompt (evaluated in other batch shapes),
  // so its arguments may differ; they must be valid all the same.
  const std::string whole_arguments = message["tool_calls"][0]["function"]["arguments"];
  EXPECT_EQ(violation(json::parse(whole_arguments), parameters, parameters), "") << whole_arguments;
  EXPECT_EQ(w["choices"][0]["finish_reason"], "tool_calls");
}

TEST_F(ServeJson, RequiredToolChoicePicksAKnownTool) {
  const json body = {
      {"messages", {{{"role", "user"}, {"content", "Do something."}}}},
      {"tools", {{{"type", "function"}, {"function", {{"name", "a"}, {"parameters", {{"type", "object"}, {"properties", {{"x", {{"type", "boolean"}}}}}, {"required", {"x"}}}}}}},
                 {{"type", "function"}, {"function", {{"name", "b"}, {"parameters", {{"type", "object"}, {"properties", {{"y", {{"enum", {1, 2}}}}}}, {"required", {"y"}}}}}}}}},
      {"tool_choice", "required"},
      {"max_tokens", 100}};
  const auto r = post(server_->port(), "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  const json choice = r.json()["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  const json call = choice["message"]["tool_calls"][0]["function"];
  const json args = json::parse(call["arguments"].get<std::string>());
  if (call["name"] == "a") {
    EXPECT_TRUE(args["x"].is_boolean());
  } else {
    EXPECT_EQ(call["name"], "b");
    EXPECT_TRUE(args["y"] == 1 || args["y"] == 2);
  }
}

}  // namespace
}  // namespace bantam::test
