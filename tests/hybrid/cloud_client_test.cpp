#include "hybrid/cloud_client.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

#include "hybrid/loopback_server.hpp"

namespace bantam::hybrid {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::LoopbackServer;
using test::ScriptedResponse;

json completion(const std::string& text) {
  return json{{"id", "c1"},
              {"object", "chat.completion"},
              {"choices", json::array({json{{"index", 0},
                                            {"message", {{"role", "assistant"}, {"content", text}}},
                                            {"finish_reason", "stop"}}})},
              {"usage", {{"prompt_tokens", 3}, {"completion_tokens", 2}}}};
}

ScriptedResponse ok(const json& body) { return ScriptedResponse{200, "application/json", {body.dump()}, 0ms, 0ms}; }
ScriptedResponse status(int code) { return ScriptedResponse{code, "application/json", {R"({"error":{}})"}, 0ms, 0ms}; }

std::string event(const std::string& content) {
  json chunk{{"object", "chat.completion.chunk"},
             {"choices", json::array({json{{"index", 0}, {"delta", {{"content", content}}}}})}};
  return "data: " + chunk.dump() + "\n\n";
}

CloudOptions options(const LoopbackServer& server) {
  CloudOptions o;
  o.url = server.url();
  o.model = "cloud-model";
  o.connect_timeout = 2000ms;
  o.total_timeout = 5000ms;
  o.max_attempts = 3;
  o.backoff = 5ms;
  return o;
}

json request() {
  return json{{"model", "local"}, {"messages", json::array({json{{"role", "user"}, {"content", "hi"}}})}};
}

TEST(CloudClient, CompletesAndSendsModelAndKey) {
  LoopbackServer server({ok(completion("hello"))});
  setenv("BANTAM_HYBRID_TEST_KEY", "sk-test-123", 1);
  CloudOptions o = options(server);
  o.api_key_env = "BANTAM_HYBRID_TEST_KEY";
  CloudClient client(o);
  EXPECT_EQ(client.endpoint(), server.url() + "/v1/chat/completions");
  CloudStats stats;
  json answer = client.complete(request(), &stats);
  EXPECT_EQ(answer, completion("hello"));
  EXPECT_EQ(stats.attempts, 1);
  ASSERT_EQ(server.requests().size(), 1u);
  std::string sent = server.requests()[0];
  EXPECT_EQ(sent.rfind("POST /v1/chat/completions HTTP/1.1", 0), 0u) << sent;
  EXPECT_NE(sent.find("Authorization: Bearer sk-test-123"), std::string::npos);
  json body = json::parse(sent.substr(sent.find("\r\n\r\n") + 4));
  EXPECT_EQ(body.at("model"), "cloud-model");
  EXPECT_EQ(body.at("stream"), false);
  EXPECT_EQ(stats.bytes_sent, static_cast<int64_t>(sent.size() - sent.find("\r\n\r\n") - 4));
}

TEST(CloudClient, RetriesRateLimitsAndServerErrors) {
  LoopbackServer server({status(503), status(429), ok(completion("third time"))});
  CloudStats stats;
  json answer = CloudClient(options(server)).complete(request(), &stats);
  EXPECT_EQ(answer, completion("third time"));
  EXPECT_EQ(stats.attempts, 3);
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(CloudClient, GivesUpAfterMaxAttempts) {
  LoopbackServer server({status(500)});
  CloudOptions o = options(server);
  o.max_attempts = 2;
  CloudStats stats;
  try {
    CloudClient(o).complete(request(), &stats);
    FAIL() << "no error";
  } catch (const CloudError& error) {
    EXPECT_EQ(error.status(), 500);
    EXPECT_FALSE(error.streamed());
  }
  EXPECT_EQ(stats.attempts, 2);
}

TEST(CloudClient, ClientErrorsAreNotRetried) {
  LoopbackServer server({status(400), ok(completion("never"))});
  CloudStats stats;
  EXPECT_THROW(CloudClient(options(server)).complete(request(), &stats), CloudError);
  EXPECT_EQ(stats.attempts, 1);
}

TEST(CloudClient, GarbageIsAnError) {
  LoopbackServer server({ScriptedResponse{200, "application/json", {"this is not json"}, 0ms, 0ms},
                         ok(json{{"no", "choices"}})});
  CloudOptions o = options(server);
  o.max_attempts = 2;
  CloudStats stats;
  EXPECT_THROW(CloudClient(o).complete(request(), &stats), CloudError);
  EXPECT_EQ(stats.attempts, 2);
}

TEST(CloudClient, TimesOut) {
  LoopbackServer server({ScriptedResponse{200, "application/json", {completion("late").dump()}, 3000ms, 0ms}});
  CloudOptions o = options(server);
  o.total_timeout = 200ms;
  o.max_attempts = 1;
  auto start = std::chrono::steady_clock::now();
  try {
    CloudClient(o).complete(request());
    FAIL() << "no error";
  } catch (const CloudError& error) {
    EXPECT_EQ(error.status(), 0);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2000ms);
}

TEST(CloudClient, ConnectionRefusedIsAnError) {
  CloudOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(test::closed_port()) + "/v1";
  o.max_attempts = 2;
  o.backoff = 1ms;
  CloudStats stats;
  EXPECT_THROW(CloudClient(o).complete(request(), &stats), CloudError);
  EXPECT_EQ(stats.attempts, 2);
}

TEST(CloudClient, StreamsEventsSplitAcrossReads) {
  std::string a = event("Hel"), b = event("lo");
  std::string whole = a + b + "data: [DONE]\n\n";
  std::vector<std::string> pieces;
  for (size_t at = 0; at < whole.size(); at += 7) pieces.push_back(whole.substr(at, 7));
  LoopbackServer server({ScriptedResponse{200, "text/event-stream", pieces, 0ms, 1ms}});
  std::vector<std::string> events;
  CloudStats stats;
  CloudClient(options(server)).stream(request(), [&](const std::string& data) {
    events.push_back(data);
    return true;
  }, &stats);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ("data: " + events[0] + "\n\n", a);
  EXPECT_EQ("data: " + events[1] + "\n\n", b);
  std::string sent = server.requests().at(0);
  EXPECT_EQ(json::parse(sent.substr(sent.find("\r\n\r\n") + 4)).at("stream"), true);
}

TEST(CloudClient, NoRetryOnceTokensWereStreamed) {
  LoopbackServer server({ScriptedResponse{200, "text/event-stream", {event("partial")}, 0ms, 0ms},
                         ScriptedResponse{200, "text/event-stream", {event("x"), "data: [DONE]\n\n"}, 0ms, 0ms}});
  int events = 0;
  CloudStats stats;
  try {
    CloudClient(options(server)).stream(request(), [&](const std::string&) { return ++events, true; }, &stats);
    FAIL() << "no error";
  } catch (const CloudError& error) {
    EXPECT_TRUE(error.streamed());
  }
  EXPECT_EQ(events, 1);
  EXPECT_EQ(stats.attempts, 1);
}

TEST(CloudClient, RetriesAStreamThatFailedBeforeAnyToken) {
  LoopbackServer server({ScriptedResponse{200, "text/event-stream", {"data: garbage{\n\n"}, 0ms, 0ms},
                         ScriptedResponse{200, "text/event-stream", {event("ok"), "data: [DONE]\n\n"}, 0ms, 0ms}});
  int events = 0;
  CloudStats stats;
  CloudClient(options(server)).stream(request(), [&](const std::string&) { return ++events, true; }, &stats);
  EXPECT_EQ(events, 1);
  EXPECT_EQ(stats.attempts, 2);
}

TEST(CloudClient, CallerCanStopAStream) {
  LoopbackServer server({ScriptedResponse{200, "text/event-stream",
                                          {event("a"), event("b"), event("c"), "data: [DONE]\n\n"}, 0ms, 5ms}});
  int events = 0;
  CloudClient(options(server)).stream(request(), [&](const std::string&) { return ++events < 2; });
  EXPECT_EQ(events, 2);
}

TEST(CloudClient, RejectsBadConfiguration) {
  CloudOptions o;
  o.url = "ftp://example.com";
  EXPECT_THROW(CloudClient{o}, Error);
  o.url = "https://example.com/v1/";
  EXPECT_EQ(CloudClient(o).endpoint(), "https://example.com/v1/chat/completions");
  o.url = "https://example.com/api/chat/completions";
  EXPECT_EQ(CloudClient(o).endpoint(), "https://example.com/api/chat/completions");
  unsetenv("BANTAM_HYBRID_UNSET_KEY");
  o.api_key_env = "BANTAM_HYBRID_UNSET_KEY";
  EXPECT_THROW(CloudClient{o}, Error);
}

}  // namespace
}  // namespace bantam::hybrid
