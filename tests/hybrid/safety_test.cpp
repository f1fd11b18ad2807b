#include "hybrid/safety.hpp"

#include <gtest/gtest.h>

#include "bantam/error.hpp"
#include "hybrid/hybrid_router.hpp"
#include "hybrid/loopback_server.hpp"

namespace bantam::hybrid {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::LoopbackServer;
using test::ScriptedResponse;

json user(const std::string& text) { return json::array({json{{"role", "user"}, {"content", text}}}); }

TEST(Safety, ParsesRules) {
  const SafetyRule rule = parse_safety_rule("refuse:weapons=build (a|the) bomb");
  EXPECT_EQ(rule.action, SafetyAction::Refuse);
  EXPECT_EQ(rule.name, "weapons");
  EXPECT_EQ(rule.regex, "build (a|the) bomb");
  EXPECT_EQ(parse_safety_rule("local:med=diagnos").action, SafetyAction::Local);
  EXPECT_EQ(parse_safety_rule("moderate:x=a=b").regex, "a=b");
  for (const char* bad : {"refuse", "refuse:=x", "refuse:name=", "ban:name=x", "refuse:bad name=x", "nameonly=x"})
    EXPECT_THROW(parse_safety_rule(bad), Error) << bad;
  EXPECT_THROW(SafetyFilter({parse_safety_rule("refuse:broken=(")}), Error);
}

TEST(Safety, ChecksEveryTextAndTheStrongestActionWins) {
  const SafetyFilter filter({parse_safety_rule("local:health=diagnos"), parse_safety_rule("moderate:risky=weapon"),
                             parse_safety_rule("refuse:bomb=build a bomb")});
  EXPECT_FALSE(filter.check(user("tell me a story")).action);
  EXPECT_EQ(filter.check(user("Can you DIAGNOSE this?")).action, SafetyAction::Local);  // case-insensitive
  EXPECT_EQ(filter.check(user("Can you DIAGNOSE this?")).rule, "health");
  const json parts = json::array({json{{"role", "user"},
                                       {"content", json::array({json{{"type", "text"}, {"text", "a weapon"}}})}}});
  EXPECT_EQ(filter.check(parts).action, SafetyAction::Moderate);
  const json tool = json::array({json{{"role", "assistant"},
                                      {"tool_calls", json::array({json{{"function", {{"name", "f"}, {"arguments", "build a bomb"}}}}})}}});
  EXPECT_EQ(filter.check(tool).action, SafetyAction::Refuse);
  json mixed = user("diagnose my weapon");
  mixed.push_back(json{{"role", "user"}, {"content", "and build a bomb"}});
  const SafetyVerdict verdict = filter.check(mixed);
  EXPECT_EQ(verdict.action, SafetyAction::Refuse);
  EXPECT_EQ(verdict.rule, "bomb");
  EXPECT_FALSE(SafetyFilter().check(user("build a bomb")).action);
  EXPECT_FALSE(filter.check(json("not messages")).action);
}

// A router with safety rules whose cloud and moderation endpoint are loopback stand-ins.
struct Fixture {
  LoopbackServer cloud{{ScriptedResponse{200, "application/json",
                                         {json{{"object", "chat.completion"},
                                               {"choices", json::array({json{{"index", 0},
                                                                             {"message", {{"role", "assistant"}, {"content", "from the cloud"}}},
                                                                             {"finish_reason", "stop"}}})}}
                                              .dump()},
                                         0ms, 0ms}}};
  std::unique_ptr<LoopbackServer> moderation;
  std::unique_ptr<HybridRouter> router;
  int local_calls = 0;

  Fixture(Policy policy, const std::string& moderation_answer, int moderation_status = 200) {
    moderation = std::make_unique<LoopbackServer>(
        std::vector<ScriptedResponse>{ScriptedResponse{moderation_status, "application/json", {moderation_answer}, 0ms, 0ms}});
    HybridOptions o;
    o.router.policy = policy;
    o.router.consent = Consent::Always;
    o.cloud.url = cloud.url();
    o.cloud.max_attempts = 1;
    o.moderation.url = moderation->url();
    o.moderation.max_attempts = 1;
    o.safety_rules = {parse_safety_rule("refuse:bomb=build a bomb"), parse_safety_rule("local:health=diagnos"),
                      parse_safety_rule("moderate:risky=weapon")};
    router = std::make_unique<HybridRouter>(o);
  }
  json ask(const std::string& text) {
    HybridRequest r;
    r.body = json{{"messages", user(text)}};
    r.prompt_tokens = 5;
    return router->complete(r, [this](const json&) {
      ++local_calls;
      return LocalAnswer{json{{"choices", json::array({json{{"message", {{"role", "assistant"}, {"content", "local"}}}}})}},
                         LocalOutcome{false, {-0.1f}, {0.5f}}, 5, 1};
    });
  }
  int refused_status(const std::string& text, std::string* code = nullptr) {
    try {
      ask(text);
    } catch (const RouteRefused& refused) {
      if (code) *code = refused.code();
      return refused.status();
    }
    return 0;
  }
};

const std::string kNotFlagged = R"({"results": [{"flagged": false}]})";
const std::string kFlagged = R"({"results": [{"flagged": true}]})";

TEST(Safety, RefuseAndLocalRulesActBeforeRouting) {
  Fixture f(Policy::CloudPreferred, kNotFlagged);
  std::string code;
  EXPECT_EQ(f.refused_status("please build a bomb", &code), 400);
  EXPECT_EQ(code, "content_filter");
  EXPECT_EQ(f.local_calls, 0);
  EXPECT_EQ(f.router->audit().recent(1).at(0).rule, "safety:bomb");
  const json kept = f.ask("diagnose me");
  EXPECT_EQ(kept["bantam"]["route"], "local");
  EXPECT_EQ(kept["bantam"]["reason"], "safety:health");
  EXPECT_TRUE(f.cloud.requests().empty());  // cloud-preferred, yet nothing left
  EXPECT_EQ(f.ask("a story")["bantam"]["route"], "cloud");
  EXPECT_TRUE(f.moderation->requests().empty());
}

TEST(Safety, ModerationDecidesAndSeesOnlyRedactedText) {
  Fixture passes(Policy::CloudPreferred, kNotFlagged);
  const json answer = passes.ask("a weapon for ann@example.com");
  EXPECT_EQ(answer["bantam"]["route"], "cloud");
  ASSERT_EQ(passes.moderation->requests().size(), 1u);
  const std::string sent = passes.moderation->requests()[0];
  EXPECT_NE(sent.find("POST /v1/moderations"), std::string::npos) << sent;
  EXPECT_NE(sent.find("[EMAIL_1]"), std::string::npos) << sent;
  EXPECT_EQ(sent.find("ann@example.com"), std::string::npos) << sent;

  Fixture flags(Policy::CloudPreferred, kFlagged);
  EXPECT_EQ(flags.refused_status("a weapon"), 400);
  EXPECT_TRUE(flags.cloud.requests().empty());
  EXPECT_EQ(flags.local_calls, 0);

  // An endpoint that fails or answers nonsense fails closed.
  Fixture broken(Policy::CloudPreferred, "{}", 500);
  EXPECT_EQ(broken.refused_status("a weapon"), 503);
  Fixture garbage(Policy::CloudPreferred, R"({"results": []})");
  EXPECT_EQ(garbage.refused_status("a weapon"), 503);
}

TEST(Safety, LocalOnlyNeverAsksTheModerationEndpoint) {
  Fixture f(Policy::LocalOnly, kNotFlagged);
  EXPECT_EQ(f.refused_status("a weapon"), 400);  // needs moderation, which may not be asked here
  EXPECT_TRUE(f.moderation->requests().empty());
  EXPECT_EQ(f.ask("a story")["bantam"]["route"], "local");
}

}  // namespace
}  // namespace bantam::hybrid
