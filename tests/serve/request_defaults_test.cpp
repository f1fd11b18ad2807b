// A request that leaves the sampling fields out samples as the CLI does without its flags, and
// llama.cpp's extra fields (top_k, min_p, repeat_penalty, repeat_last_n) are read.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "serve/api_error.hpp"
#include "serve/openai_request.hpp"

namespace bantam::serve {
namespace {

const char* const kMessages = R"("messages": [{"role": "user", "content": "hi"}])";

TEST(RequestDefaults, AbsentSamplingFieldsTakeTheLibrarysDefaults) {
  const ChatRequest r = parse_chat_request(parse_request_body(fmt::format("{{{}}}", kMessages)), 512);
  const SamplingOptions expected;
  const SamplingOptions& s = r.generation.sampling;
  EXPECT_EQ(s.temperature, expected.temperature);
  EXPECT_EQ(s.top_k, expected.top_k);
  EXPECT_EQ(s.top_p, expected.top_p);
  EXPECT_EQ(s.min_p, expected.min_p);
  EXPECT_EQ(s.repeat_penalty, expected.repeat_penalty);
  EXPECT_EQ(s.penalty_last_n, expected.penalty_last_n);
  EXPECT_EQ(s.seed, expected.seed);
  EXPECT_EQ(r.generation.max_tokens, GenerateOptions{}.max_tokens);
}

TEST(RequestDefaults, LlamaCppSamplingFieldsAreRead) {
  const ChatRequest r = parse_chat_request(
      parse_request_body(fmt::format(R"({{{}, "top_k": 5, "min_p": 0, "repeat_penalty": 1.2, "repeat_last_n": 16}})",
                                     kMessages)),
      512);
  EXPECT_EQ(r.generation.sampling.top_k, 5);
  EXPECT_EQ(r.generation.sampling.min_p, 0.0f);
  EXPECT_FLOAT_EQ(r.generation.sampling.repeat_penalty, 1.2f);
  EXPECT_EQ(r.generation.sampling.penalty_last_n, 16);
  EXPECT_THROW(parse_chat_request(parse_request_body(fmt::format(R"({{{}, "top_k": -1}})", kMessages)), 512),
               ApiError);
}

TEST(RequestDefaults, AMalformedBodyIsRefusedOnce) {
  EXPECT_THROW(parse_request_body("{"), ApiError);
  EXPECT_THROW(parse_request_body("[1]"), ApiError);
}

// Found by fuzz_request: a non-string "type" in a tool or "id" in a tool call threw the JSON
// library's type_error (a 500 at best) instead of a 400 naming the field.
TEST(RequestDefaults, WrongTypesInToolsAreRefusedNamingTheField) {
  const auto refusal = [](const std::string& body) {
    try {
      parse_chat_request(parse_request_body(body), 512);
    } catch (const ApiError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(refusal(R"({"messages":[{"role":"user","content":"hi"}],"tools":[{"type":1,"function":{"name":"f"}}]})")
                .find("tools[0]"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"messages":[{"role":"assistant","content":"","tool_calls":[{"id":7,"function":{"name":"f"}}]}]})")
                .find("messages[0].tool_calls[0].id"),
            std::string::npos);
}

}  // namespace
}  // namespace bantam::serve
