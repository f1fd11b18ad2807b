#include "hybrid/hybrid_router.hpp"

#include <gtest/gtest.h>

#include "hybrid/loopback_server.hpp"

namespace bantam::hybrid {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::LoopbackServer;
using test::ScriptedResponse;

json chat(const std::string& text, const char* object = "chat.completion") {
  return json{{"object", object},
              {"choices", json::array({json{{"index", 0},
                                            {"message", {{"role", "assistant"}, {"content", text}}},
                                            {"finish_reason", "stop"}}})},
              {"usage", {{"prompt_tokens", 7}, {"completion_tokens", 5}}}};
}

ScriptedResponse cloud_says(const std::string& text) {
  return ScriptedResponse{200, "application/json", {chat(text).dump()}, 0ms, 0ms};
}
ScriptedResponse cloud_fails() { return ScriptedResponse{500, "application/json", {"{}"}, 0ms, 0ms}; }

HybridOptions options(Policy policy, const std::string& url, Consent consent = Consent::Always,
                      SensitiveHandling sensitive = SensitiveHandling::Redact) {
  HybridOptions o;
  o.router.policy = policy;
  o.router.consent = consent;
  o.router.sensitive = sensitive;
  o.router.local_context = 100;
  o.cloud.url = url;
  o.cloud.max_attempts = 1;
  o.cloud.total_timeout = 5000ms;
  o.breaker_threshold = 2;
  return o;
}

HybridRequest request(const std::string& content, json bantam = nullptr) {
  HybridRequest r;
  r.body = json{{"model", "local"}, {"messages", json::array({json{{"role", "user"}, {"content", content}}})}};
  if (!bantam.is_null()) r.body["bantam"] = bantam;
  r.prompt_tokens = 10;
  return r;
}

// A local model with fixed confidence; counts its calls.
struct FakeLocal {
  float logprob = -0.1f;
  bool fail = false;
  int calls = 0;
  LocalRunner runner() {
    return [this](const json& body) {
      ++calls;
      EXPECT_FALSE(body.contains("bantam"));
      if (fail) throw Error("local model failed");
      return LocalAnswer{chat("local answer"), LocalOutcome{false, {logprob, logprob}, {}}, 10, 2};
    };
  }
};

std::string sent_body(const LoopbackServer& server, size_t index) {
  std::string raw = server.requests().at(index);
  return raw.substr(raw.find("\r\n\r\n") + 4);
}

TEST(HybridRouter, LocalOnlyNeverBuildsACloudClient) {
  LoopbackServer server({cloud_says("cloud")});
  HybridRouter router(options(Policy::LocalOnly, server.url()));
  EXPECT_FALSE(router.has_cloud());
  EXPECT_EQ(router.policy(), json({{"policy", "local-only"}, {"consent", "always"}, {"sensitive", "redact"},
                                   {"cloud_configured", false}, {"endpoints", json::array()}}));
  FakeLocal local{-9.0f};
  json answer = router.complete(request("hi a@b.io", json{{"route", "auto"}}), local.runner());
  EXPECT_EQ(answer["bantam"]["route"], "local");
  EXPECT_THROW(router.complete(request("hi", json{{"route", "cloud"}}), local.runner()), RouteRefused);
  EXPECT_TRUE(server.requests().empty());
  EXPECT_EQ(router.audit().recent(10).size(), 2u);
  EXPECT_EQ(router.audit().recent(1)[0].route, "refused");
}

TEST(HybridRouter, LowConfidenceEscalatesWithRedactionAndRestore) {
  LoopbackServer server({cloud_says("I will mail [EMAIL_1] about [IBAN_1].")});
  HybridRouter router(options(Policy::Auto, server.url()));
  FakeLocal local{-5.0f};
  json answer = router.complete(request("mail ann@example.com about DE89370400440532013000"), local.runner());
  EXPECT_EQ(local.calls, 1);
  EXPECT_EQ(answer["choices"][0]["message"]["content"],
            "I will mail ann@example.com about DE89370400440532013000.");
  EXPECT_EQ(answer["bantam"]["route"], "cloud");
  EXPECT_EQ(answer["bantam"]["reason"], "low-confidence");
  EXPECT_EQ(answer["bantam"]["escalated_from"], "local");
  // What left the device: the endpoint, and how many values of each class were replaced.
  EXPECT_EQ(answer["bantam"]["endpoint"], router.policy()["endpoints"][0]);
  EXPECT_TRUE(answer["bantam"]["endpoint"].get<std::string>().starts_with(server.url())) << answer["bantam"];
  EXPECT_EQ(answer["bantam"]["redacted"], json({{"EMAIL", 1}, {"IBAN", 1}}));
  // The local attempt's statistics travel along, so a client sees why it escalated.
  EXPECT_EQ(answer["bantam"]["confidence"]["tokens"], 2);
  EXPECT_FLOAT_EQ(answer["bantam"]["confidence"]["mean_logprob"].get<float>(), -5.0f);
  std::string sent = sent_body(server, 0);
  EXPECT_EQ(sent.find("ann@example.com"), std::string::npos) << sent;
  EXPECT_EQ(sent.find("DE8937"), std::string::npos) << sent;
  EXPECT_NE(sent.find("[EMAIL_1]"), std::string::npos) << sent;
  AuditEntry row = router.audit().recent(1).at(0);
  EXPECT_EQ(row.route, "cloud");
  EXPECT_EQ(row.rule, "low-confidence");
  EXPECT_EQ(row.sensitive, "EMAIL,IBAN");
  EXPECT_EQ(row.bytes_sent, static_cast<int64_t>(sent.size()));
  EXPECT_EQ(row.tokens_out, 5);
  EXPECT_EQ(router.stats()["escalations"], 1);
}

TEST(HybridRouter, ConfidentLocalAnswerStays) {
  LoopbackServer server({cloud_says("cloud")});
  HybridRouter router(options(Policy::Auto, server.url()));
  FakeLocal local;
  json answer = router.complete(request("hi"), local.runner());
  EXPECT_EQ(answer["bantam"]["route"], "local");
  EXPECT_EQ(answer["bantam"]["reason"], "local-first");
  EXPECT_TRUE(answer["bantam"]["escalated_from"].is_null());
  EXPECT_TRUE(server.requests().empty());
}

TEST(HybridRouter, ConsentAskNeedsOptIn) {
  LoopbackServer server({cloud_says("cloud")});
  HybridRouter router(options(Policy::Auto, server.url(), Consent::Ask));
  FakeLocal local{-5.0f};
  EXPECT_EQ(router.complete(request("hi"), local.runner())["bantam"]["route"], "local");
  EXPECT_TRUE(server.requests().empty());
  json answer = router.complete(request("hi", json{{"cloud_consent", true}}), local.runner());
  EXPECT_EQ(answer["bantam"]["route"], "cloud");
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(HybridRouter, SensitiveKeepLocalAndBlock) {
  LoopbackServer server({cloud_says("cloud")});
  FakeLocal local;
  HybridRouter keep(options(Policy::CloudPreferred, server.url(), Consent::Always, SensitiveHandling::KeepLocal));
  json answer = keep.complete(request("card 4111 1111 1111 1111"), local.runner());
  EXPECT_EQ(answer["bantam"]["route"], "local");
  HybridRouter block(options(Policy::CloudPreferred, server.url(), Consent::Always, SensitiveHandling::Block));
  try {
    block.complete(request("card 4111 1111 1111 1111"), local.runner());
    FAIL() << "not refused";
  } catch (const RouteRefused& refused) {
    EXPECT_EQ(refused.status(), 403);
  }
  EXPECT_EQ(block.complete(request("nothing personal"), local.runner())["bantam"]["route"], "cloud");
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(HybridRouter, CloudFailureFallsBackLocallyAndOpensTheBreaker) {
  LoopbackServer server({cloud_fails()});
  HybridRouter router(options(Policy::CloudPreferred, server.url()));
  FakeLocal local;
  for (int i = 0; i < 2; ++i) {
    json answer = router.complete(request("hi"), local.runner());
    EXPECT_EQ(answer["bantam"]["route"], "local");
    EXPECT_EQ(answer["bantam"]["reason"], "cloud-failure");
    EXPECT_EQ(answer["bantam"]["fallback_from"], "cloud");
    EXPECT_NE(answer["bantam"]["cloud_error"].get<std::string>().find("HTTP 500"), std::string::npos);
    EXPECT_FALSE(answer["bantam"].contains("endpoint"));
  }
  EXPECT_EQ(router.stats()["breaker"], "open");
  json answer = router.complete(request("hi"), local.runner());  // the breaker keeps it local
  EXPECT_EQ(answer["bantam"]["route"], "local");
  EXPECT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(router.stats()["fallbacks"], 2);
  EXPECT_EQ(router.stats()["local"], 3);
}

TEST(HybridRouter, LocalFailureEscalatesOrIsRefused) {
  LoopbackServer server({cloud_says("rescued")});
  FakeLocal local;
  local.fail = true;
  HybridRouter router(options(Policy::Auto, server.url()));
  json answer = router.complete(request("hi"), local.runner());
  EXPECT_EQ(answer["bantam"]["reason"], "local-failure");
  EXPECT_EQ(answer["choices"][0]["message"]["content"], "rescued");
  // With no cloud to take over, the caller hears the local error itself; the audit log has it.
  HybridRouter local_only(options(Policy::LocalOnly, server.url()));
  try {
    local_only.complete(request("hi"), local.runner());
    FAIL() << "no error";
  } catch (const RouteRefused&) {
    FAIL() << "the local error was replaced";
  } catch (const Error& error) {
    EXPECT_STREQ(error.what(), "local model failed");
  }
  EXPECT_EQ(local_only.audit().recent(1).at(0).rule, "local-failure");
  EXPECT_EQ(local_only.stats()["refused"], 1);
}

TEST(HybridRouter, ClientGoneIsNeitherEscalatedNorCounted) {
  LoopbackServer server({cloud_says("should not be asked")});
  HybridRouter router(options(Policy::Auto, server.url()));
  LocalRunner leaving = [](const json&) -> LocalAnswer { throw ClientGone("gone"); };
  EXPECT_THROW(router.complete(request("hi"), leaving), ClientGone);
  EXPECT_TRUE(server.requests().empty());
  EXPECT_EQ(router.stats()["cloud"], 0);
}

TEST(HybridRouter, LongPromptGoesToTheCloudAndBadOverridesAreErrors) {
  LoopbackServer server({cloud_says("long")});
  HybridRouter router(options(Policy::Auto, server.url()));
  FakeLocal local;
  HybridRequest long_prompt = request("a long one");
  long_prompt.prompt_tokens = 1000;
  json answer = router.complete(long_prompt, local.runner());
  EXPECT_EQ(answer["bantam"]["reason"], "prompt-too-long");
  EXPECT_EQ(local.calls, 0);
  HybridRequest bad = request("hi");
  bad.route_header = "sideways";
  EXPECT_THROW(router.complete(bad, local.runner()), Error);
  EXPECT_EQ(router.stats()["policy"], "auto");
  EXPECT_EQ(router.stats()["by_reason"]["prompt-too-long"], 1);
}

std::string sse(const std::string& content, bool last = false) {
  json chunk{{"object", "chat.completion.chunk"},
             {"choices", json::array({json{{"index", 0}, {"delta", {{"content", content}}},
                                           {"finish_reason", last ? json("stop") : json()}}})}};
  return "data: " + chunk.dump() + "\n\n";
}

// Everything one stream() call did, in order.
struct StreamLog {
  std::vector<json> metas;
  std::string text;  // the relayed delta contents
  int events = 0;
  int local_streams = 0;
  bool meta_before_events = true;

  void run(HybridRouter& router, const HybridRequest& request) {
    router.stream(
        request, [&](const json& meta) { metas.push_back(meta); },
        [&](const std::string& data) {
          if (metas.empty()) meta_before_events = false;
          ++events;
          json chunk = json::parse(data);
          for (const json& choice : chunk["choices"])
            if (choice["delta"].contains("content")) text += choice["delta"]["content"].get<std::string>();
          return true;
        },
        [&] { ++local_streams; });
  }
};

TEST(HybridRouter, StreamsTheCloudRestoringSplitPlaceholders) {
  LoopbackServer server({ScriptedResponse{
      200, "text/event-stream", {sse("Mail [EMA"), sse("IL_1] now [PHO"), sse("NE_1]", true), "data: [DONE]\n\n"}, 0ms, 2ms}});
  HybridRouter router(options(Policy::CloudPreferred, server.url()));
  StreamLog log;
  log.run(router, request("reach ann@example.com or +1 555 123 4567"));
  ASSERT_EQ(log.metas.size(), 1u);
  EXPECT_EQ(log.metas[0]["route"], "cloud");
  EXPECT_EQ(log.metas[0]["redacted"], json({{"EMAIL", 1}, {"PHONE", 1}}));
  EXPECT_EQ(log.metas[0]["endpoint"], router.policy()["endpoints"][0]);
  EXPECT_TRUE(log.meta_before_events);
  EXPECT_EQ(log.text, "Mail ann@example.com now +1 555 123 4567");
  EXPECT_EQ(log.local_streams, 0);
  std::string sent = sent_body(server, 0);
  EXPECT_EQ(sent.find("ann@example.com"), std::string::npos);
  EXPECT_EQ(json::parse(sent)["stream"], true);
  EXPECT_EQ(router.audit().recent(1).at(0).route, "cloud");
}

TEST(HybridRouter, StreamFallsBackLocallyOnlyBeforeTheFirstEvent) {
  LoopbackServer failing({cloud_fails()});
  HybridRouter router(options(Policy::CloudPreferred, failing.url()));
  StreamLog fallback;
  fallback.run(router, request("hi"));
  EXPECT_EQ(fallback.local_streams, 1);
  ASSERT_EQ(fallback.metas.size(), 1u);
  EXPECT_EQ(fallback.metas[0]["reason"], "cloud-failure");
  EXPECT_EQ(fallback.metas[0]["fallback_from"], "cloud");
  EXPECT_FALSE(fallback.metas[0]["cloud_error"].get<std::string>().empty());

  LoopbackServer cut_off({ScriptedResponse{200, "text/event-stream", {sse("half")}, 0ms, 0ms}});
  HybridRouter cut_router(options(Policy::CloudPreferred, cut_off.url()));
  StreamLog cut;
  EXPECT_THROW(cut.run(cut_router, request("hi")), CloudError);
  EXPECT_EQ(cut.local_streams, 0);
  EXPECT_EQ(cut.text, "half");
}

TEST(HybridRouter, LocalOnlyStreamsLocally) {
  LoopbackServer server({cloud_says("cloud")});
  HybridRouter router(options(Policy::LocalOnly, server.url()));
  StreamLog log;
  log.run(router, request("hi", json{{"route", "auto"}}));
  EXPECT_EQ(log.local_streams, 1);
  EXPECT_EQ(log.metas.at(0)["route"], "local");
  EXPECT_THROW(log.run(router, request("hi", json{{"route", "cloud"}})), RouteRefused);
  EXPECT_TRUE(server.requests().empty());
}

}  // namespace
}  // namespace bantam::hybrid

namespace bantam::hybrid {
namespace {

TEST(HybridRouter, SeveralCloudsAreTriedInOrder) {
  LoopbackServer broken({cloud_fails()});
  const ScriptedResponse whole = cloud_says("second");
  LoopbackServer healthy(
      {ScriptedResponse{200, "text/event-stream", {sse("streamed", true), "data: [DONE]\n\n"}, 0ms, 0ms}, whole});
  HybridOptions o = options(Policy::CloudPreferred, broken.url());
  o.more_clouds.push_back(o.cloud);
  o.more_clouds.back().url = healthy.url();
  HybridRouter router(o);
  // A stream fails over before its first event.
  StreamLog log;
  log.run(router, request("hi"));
  EXPECT_EQ(log.text, "streamed");
  EXPECT_EQ(log.local_streams, 0);
  FakeLocal local;
  for (int i = 0; i < 3; ++i) {
    json answer = router.complete(request("hi"), local.runner());
    EXPECT_EQ(answer["bantam"]["route"], "cloud");
    EXPECT_EQ(answer["choices"][0]["message"]["content"], "second");
  }
  EXPECT_EQ(local.calls, 0);
  // The first endpoint's breaker opened after its second failure, so later requests skipped it.
  EXPECT_EQ(broken.requests().size(), 2u);
  EXPECT_EQ(healthy.requests().size(), 4u);
  json stats = router.stats();
  ASSERT_EQ(stats["clouds"].size(), 2u);
  EXPECT_EQ(stats["clouds"][0]["breaker"], "open");
  EXPECT_EQ(stats["clouds"][1]["breaker"], "closed");
}

}  // namespace
}  // namespace bantam::hybrid
