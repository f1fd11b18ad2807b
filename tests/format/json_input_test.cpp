// The bounded JSON reader: documents within the limits come back whole, deeper or larger ones are
// refused with an error naming the source, the limit and the place, never a crash.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include <fmt/format.h>

#include "format/json_input.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

using ::testing::HasSubstr;

std::string nested(size_t levels, char open, char close, const std::string& inner = "1") {
  std::string text(levels, open);
  text += inner;
  text.append(levels, close);
  return text;
}

// Objects {"a":{"a":...}} `levels` deep.
std::string nested_objects(size_t levels) {
  std::string text;
  for (size_t i = 0; i < levels; ++i) text += "{\"a\":";
  text += "1";
  text.append(levels, '}');
  return text;
}

std::string refusal(const std::string& text, const JsonLimits& limits = {}) {
  try {
    parse_json(text, "test input", limits);
  } catch (const JsonInputError& e) {
    return e.what();
  }
  return "accepted";
}

TEST(JsonInput, ParsesOrdinaryDocumentsLikeNlohmann) {
  const std::string text = R"({"b":[1,-2,3.5,true,null,"x\u00e9"],"a":{"c":{}},"n":18446744073709551615})";
  EXPECT_EQ(parse_json(text, "t"), nlohmann::json::parse(text));
  const auto ordered = parse_json<nlohmann::ordered_json>(text, "t");
  EXPECT_EQ(ordered, nlohmann::ordered_json::parse(text));
  EXPECT_EQ(ordered.begin().key(), "b");  // member order kept
  EXPECT_EQ(parse_json("  7 ", "t"), 7);
}

TEST(JsonInput, RepeatedKeysKeepTheFirstPlaceAndTheLastValue) {
  const std::string text = R"({"b":1,"a":2,"b":3})";
  EXPECT_EQ(parse_json<nlohmann::ordered_json>(text, "t").dump(), R"({"b":3,"a":2})");
  EXPECT_EQ(parse_json(text, "t").dump(), R"({"a":2,"b":3})");
}

// Unindexed, ordered_json spends minutes on an object of 200,000 members (each insert scans).
TEST(JsonInput, ManyMembersBuildInLinearTime) {
  std::string text = "{";
  for (int i = 0; i < 200000; ++i) text += fmt::format("{}\"k{}\":{}", i ? "," : "", i, i);
  text += "}";
  const auto start = std::chrono::steady_clock::now();
  const auto ordered = parse_json<nlohmann::ordered_json>(text, "t");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  ASSERT_EQ(ordered.size(), 200000u);
  EXPECT_EQ(ordered.begin().key(), "k0");
  EXPECT_EQ((--ordered.end()).key(), "k199999");
  EXPECT_EQ(ordered.dump(), text);  // every member, in order
}

TEST(JsonInput, AcceptsTheDepthLimitAndRefusesOneMore) {
  const JsonLimits limits{.max_depth = 128};
  EXPECT_EQ(parse_json(nested(128, '[', ']'), "t", limits).dump(), nested(128, '[', ']'));
  EXPECT_EQ(parse_json(nested_objects(128), "t", limits).dump(), nested_objects(128));
  EXPECT_THAT(refusal(nested(129, '[', ']'), limits), HasSubstr("test input: JSON nested deeper than 128 levels"));
  EXPECT_THAT(refusal(nested_objects(129), limits), HasSubstr("JSON nested deeper than 128 levels (at a.a.a.a"));
}

TEST(JsonInput, RefusesAHundredThousandLevelsWithoutCrashing) {
  EXPECT_THAT(refusal(nested(100000, '[', ']')), HasSubstr("nested deeper than 128"));
  EXPECT_THAT(refusal(nested_objects(100000)), HasSubstr("nested deeper than 128"));
  // Unclosed, as an attacker would not bother closing them.
  EXPECT_THAT(refusal(std::string(100000, '[')), HasSubstr("nested deeper than 128"));
  EXPECT_THAT(refusal("{\"x\":" + nested(100000, '[', ']')), HasSubstr("(at x[0][0]"));
}

TEST(JsonInput, RefusesTextOverTheSizeCap) {
  const std::string text = "[" + std::string(100, ' ') + "]";
  EXPECT_EQ(parse_json(text, "t", {.max_bytes = text.size()}), nlohmann::json::array());
  EXPECT_THAT(refusal(text, {.max_bytes = text.size() - 1}),
              HasSubstr(fmt::format("test input: {} bytes of JSON, more than the {} allowed", text.size(),
                                    text.size() - 1)));
}

TEST(JsonInput, NamesWhereAMalformedOrOverflowingValueIs) {
  try {
    parse_json(R"({"model":"m","temperature":1e400})", "request body");
    FAIL() << "accepted";
  } catch (const JsonInputError& e) {
    EXPECT_EQ(e.path(), "temperature");
    EXPECT_THAT(e.what(), HasSubstr("request body: not valid JSON at byte"));
    EXPECT_THAT(e.what(), HasSubstr("number overflow"));
  }
  try {
    parse_json(R"({"messages":[{"role":"user"},{"content":tru}]})", "body");
    FAIL() << "accepted";
  } catch (const JsonInputError& e) {
    EXPECT_EQ(e.path(), "messages[1].content");
  }
  try {
    parse_json(R"([1,2,]])", "body");
    FAIL() << "accepted";
  } catch (const JsonInputError& e) {
    EXPECT_EQ(e.path(), "[2]");
  }
  EXPECT_THAT(refusal("{} x"), HasSubstr("test input: not valid JSON at byte"));
  EXPECT_THAT(refusal(""), HasSubstr("not valid JSON"));
}

TEST(JsonInput, ReadsFilesWithinTheCapAndRefusesLargerOnes) {
  const auto dir = test::temp_dir();
  test::write_file(dir / "ok.json", R"({"hub":"http://x"})");
  EXPECT_EQ(read_json_file(dir / "ok.json").at("hub"), "http://x");
  test::write_file(dir / "big.json", "[" + std::string(200000, ' ') + "]");
  try {
    read_json_file(dir / "big.json", {.max_bytes = 100000});
    FAIL() << "accepted";
  } catch (const JsonInputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("big.json: larger than the 100000 bytes allowed"));
  }
  test::write_file(dir / "deep.json", nested(450000, '[', ']'));
  EXPECT_THROW(read_json_file(dir / "deep.json"), JsonInputError);
  EXPECT_THROW(read_json_file(dir / "missing.json"), Error);
}

}  // namespace
}  // namespace bantam
