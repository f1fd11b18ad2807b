// The request, local answer and route line that `bantam run`/`bantam chat` hand to and take from
// the HybridRouter, and a round trip through the router with a local runner built from them.
#include <gtest/gtest.h>

#include "hybrid/cli_turn.hpp"

namespace bantam::hybrid {
namespace {

using nlohmann::json;

TEST(CliTurn, RequestCarriesTheConversationLimitsAndOverrides) {
  const std::vector<ChatMessage> messages{{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "More"}};
  GenerateOptions generate;
  generate.max_tokens = 12;
  generate.sampling.temperature = 0.0f;
  generate.stop = {"\n\n"};
  const json body = turn_request(messages, generate, {true, "cloud"});
  ASSERT_EQ(body["messages"].size(), 4u);
  for (size_t i = 0; i < messages.size(); ++i) {
    EXPECT_EQ(body["messages"][i]["role"], messages[i].role);
    EXPECT_EQ(body["messages"][i]["content"], messages[i].content);
  }
  EXPECT_EQ(body["max_tokens"], 12);
  EXPECT_EQ(body["temperature"], 0.0);
  EXPECT_EQ(body["stop"], json::array({"\n\n"}));
  const RequestOverrides overrides = parse_overrides(body, "");
  EXPECT_TRUE(overrides.cloud_consent);
  EXPECT_EQ(overrides.route, RequestedRoute::Cloud);

  // Unlimited generation sends no max_tokens; no overrides, no "bantam" field.
  const json plain = turn_request(messages, GenerateOptions{}, {});
  EXPECT_FALSE(plain.contains("max_tokens"));
  EXPECT_FALSE(plain.contains("stop"));
  EXPECT_FALSE(plain.contains("bantam"));
  EXPECT_FALSE(parse_overrides(plain, "").cloud_consent);
}

TEST(CliTurn, LocalAnswerIsAChatCompletionWithItsConfidence) {
  GenerateResult result;
  result.text = "Hello there";
  result.tokens = {5, 6, 7};
  result.prompt_tokens = 9;
  result.stop_reason = StopReason::EndOfGeneration;
  const LocalAnswer answer = turn_answer(result, {-0.5f, -1.0f, -1.5f}, "stories");
  EXPECT_EQ(answer_text(answer.response), "Hello there");
  EXPECT_EQ(answer.response["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(answer.response["usage"]["completion_tokens"], 3);
  EXPECT_EQ(answer.tokens_in, 9);
  EXPECT_EQ(answer.tokens_out, 3);
  const Confidence c = summarize(answer.outcome);
  EXPECT_DOUBLE_EQ(c.mean_logprob, -1.0);
  EXPECT_DOUBLE_EQ(c.min_logprob, -1.5);
  result.stop_reason = StopReason::MaxTokens;
  EXPECT_EQ(turn_answer(result, {}, "stories").response["choices"][0]["finish_reason"], "length");
  EXPECT_THROW(answer_text(json{{"choices", json::array()}}), Error);
  EXPECT_THROW(answer_text(json::parse(R"({"choices":[{"message":{"content":null}}]})")), Error);
}

TEST(CliTurn, RouteLineNamesRouteReasonAndWhatHappened) {
  EXPECT_EQ(route_line(json{{"route", "cloud"}, {"reason", "low-confidence"}, {"escalated_from", "local"}}),
            "route: cloud (reason: low-confidence, escalated_from: local)");
  EXPECT_EQ(route_line(json{{"route", "local"}, {"reason", "cloud-failure"}, {"escalated_from", nullptr},
                            {"fallback_from", "cloud"}}),
            "route: local (reason: cloud-failure, fallback_from: cloud)");
  EXPECT_EQ(route_line(json{{"route", "local"}, {"reason", "policy"}, {"cloud_denied", "consent-missing"}}),
            "route: local (reason: policy, cloud_denied: consent-missing)");
}

TEST(CliTurn, LocalOnlyRouterAnswersWithTheLocalTurn) {
  HybridOptions options;
  options.router.min_mean_logprob = 0;  // would escalate, but local-only has no cloud
  HybridRouter router(options);
  ASSERT_FALSE(router.has_cloud());
  GenerateResult result;
  result.text = "Mail me at ann@example.com";
  result.tokens = {1, 2};
  HybridRequest request;
  request.body = turn_request(std::vector<ChatMessage>{{"user", "Write to ann@example.com"}}, GenerateOptions{}, {});
  request.prompt_tokens = 10;
  json seen;
  const json out = router.complete(request, [&](const json& body) {
    seen = body;
    return turn_answer(result, {-3.0f, -4.0f}, "stories");
  });
  // The local model gets the unredacted conversation; the answer is untouched.
  EXPECT_EQ(seen["messages"][0]["content"], "Write to ann@example.com");
  EXPECT_EQ(answer_text(out), "Mail me at ann@example.com");
  EXPECT_EQ(route_line(out["bantam"]), "route: local (reason: low-confidence, cloud_denied: policy-local-only)");
  EXPECT_EQ(router.audit().recent(1).at(0).sensitive, "EMAIL");
}

}  // namespace
}  // namespace bantam::hybrid
