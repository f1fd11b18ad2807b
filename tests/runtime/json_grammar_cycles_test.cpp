// JSON schemas that refer to themselves: a loop through choices alone ($ref to itself, a→b→a,
// anyOf holding itself) is refused when compiled, naming the loop; recursion through an object or
// array compiles and matches, bounded by the recognizer's depth.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "format/json_input.hpp"
#include "runtime/json_grammar.hpp"

namespace bantam {
namespace {

using ::testing::HasSubstr;

std::string refusal(const std::string& schema) {
  try {
    JsonGrammar::from_schema(parse_json(schema, "schema"));
  } catch (const Error& e) {
    return e.what();
  }
  return "compiled";
}

TEST(JsonGrammarCycles, LoopsThroughChoicesAreRefusedNamingTheLoop) {
  EXPECT_THAT(refusal(R"({"$ref":"#"})"), HasSubstr("refers to itself without an object or array in between: # → #"));
  EXPECT_THAT(refusal(R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"})"),
              HasSubstr(": #/$defs/a → #/$defs/b → #/$defs/a"));
  EXPECT_THAT(refusal(R"({"anyOf":[{"type":"string"},{"$ref":"#"}]})"), HasSubstr("# → #/anyOf → #"));
  EXPECT_THAT(refusal(R"({"definitions":{"x":{"anyOf":[{"type":"null"},{"anyOf":[{"$ref":"#/definitions/x"}]}]}},
                          "type":"object","properties":{"p":{"$ref":"#/definitions/x"}}})"),
              HasSubstr("#/definitions/x → #/definitions/x/anyOf → #/definitions/x/anyOf/1/anyOf → "
                        "#/definitions/x"));
  // The loop is found even when the definition was first reached through an array.
  EXPECT_THAT(refusal(R"({"$defs":{"d":{"anyOf":[{"type":"array","items":{"$ref":"#/$defs/e"}},{"$ref":"#/$defs/e"}]},
                                   "e":{"anyOf":[{"type":"null"},{"$ref":"#/$defs/d"}]}},"$ref":"#/$defs/d"})"),
              HasSubstr("refers to itself"));
}

TEST(JsonGrammarCycles, RecursionThroughContainersCompilesAndStaysBounded) {
  const auto list = JsonGrammar::from_schema(parse_json(
      R"({"anyOf":[{"type":"null"},{"type":"array","items":{"$ref":"#"}}]})", "schema"));
  JsonMatcher matcher(list);
  EXPECT_TRUE(matcher.feed("[[null],[]]"));
  EXPECT_TRUE(matcher.complete());
  JsonMatcher deep(list);
  EXPECT_FALSE(deep.feed(std::string(100000, '[')));  // past the recognizer's depth: refused, no crash
}

// a0 .. a{levels-1}, each a choice of two equal options around the next: 2^levels parses.
nlohmann::json doubling_schema(int levels, bool in_arrays) {
  nlohmann::json defs = nlohmann::json::object();
  for (int i = 0; i < levels; ++i) {
    const nlohmann::json inner = i + 1 < levels ? nlohmann::json{{"$ref", fmt::format("#/$defs/a{}", i + 1)}}
                                                : nlohmann::json{{"type", "null"}};
    const nlohmann::json option =
        in_arrays ? nlohmann::json{{"type", "array"}, {"items", inner}, {"minItems", 1}} : inner;
    defs[fmt::format("a{}", i)] = {{"anyOf", {option, option}}};
  }
  return {{"$defs", defs}, {"$ref", "#/$defs/a0"}};
}

TEST(JsonGrammarCycles, AmbiguousSchemasStayCheapAndTheirOutputValid) {
  const auto start = std::chrono::steady_clock::now();
  JsonMatcher arrays(JsonGrammar::from_schema(doubling_schema(20, true)));
  EXPECT_TRUE(arrays.feed(std::string(20, '[') + "null" + std::string(20, ']')));
  EXPECT_TRUE(arrays.complete());
  EXPECT_FALSE(arrays.accepts("]"));
  EXPECT_FALSE(JsonMatcher(JsonGrammar::from_schema(doubling_schema(20, true))).accepts("[[]"));
  JsonMatcher choices(JsonGrammar::from_schema(doubling_schema(30, false)));
  EXPECT_TRUE(choices.feed("null"));
  EXPECT_TRUE(choices.complete());
  // Unbounded, these take minutes and gigabytes (2^20 and 2^30 parses).
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

// b_i is a choice of b_{i-1}, each compiled (in property order) right after the one it names, so
// no nesting limit applies; expanding the longest costs one frame per link. The recognizer's step
// budget bounds that recursion: a short chain matches, a 20,000-link one is cut off, not a crash.
TEST(JsonGrammarCycles, LongChainsOfChoicesAreCutOffNotFollowedToTheEnd) {
  const auto chain = [](int links) {
    nlohmann::json defs = {{"b0", {{"type", "null"}}}};
    nlohmann::json properties = nlohmann::json::object();
    for (int i = 1; i < links; ++i) {
      defs[fmt::format("b{}", i)] = {{"anyOf", {{{"$ref", fmt::format("#/$defs/b{}", i - 1)}}}}};
    }
    for (int i = 0; i < links; ++i) properties[fmt::format("p{:07}", i)] = {{"$ref", fmt::format("#/$defs/b{}", i)}};
    const nlohmann::json last = {fmt::format("p{:07}", links - 1)};
    return JsonGrammar::from_schema(
        {{"$defs", defs}, {"type", "object"}, {"properties", properties}, {"required", last}});
  };
  JsonMatcher short_chain(chain(100));
  EXPECT_TRUE(short_chain.feed(R"({"p0000099":null})"));
  EXPECT_TRUE(short_chain.complete());
  JsonMatcher long_chain(chain(20000));
  EXPECT_FALSE(long_chain.feed(R"({"p0019999":null})"));
}

}  // namespace
}  // namespace bantam
