// A cloud that answers JSON nested 100,000 deep: the answer or event is refused as not usable
// (a CloudError the router handles like any bad answer), never handed on as a document.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hybrid/cloud_client.hpp"
#include "hybrid/loopback_server.hpp"

namespace bantam::hybrid {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using test::LoopbackServer;
using test::ScriptedResponse;

constexpr size_t kLevels = 100000;

std::string deep_content() { return std::string(kLevels, '[') + std::string(kLevels, ']'); }

CloudOptions one_attempt(const LoopbackServer& server) {
  CloudOptions o;
  o.url = server.url();
  o.connect_timeout = 2000ms;
  o.total_timeout = 5000ms;
  o.max_attempts = 1;
  return o;
}

nlohmann::json request() { return {{"messages", {{{"role", "user"}, {"content", "hi"}}}}}; }

std::string refusal(const std::function<void()>& call) {
  try {
    call();
  } catch (const CloudError& e) {
    return e.what();
  }
  return "accepted";
}

TEST(HostileCloud, DeepCompletionIsNotAChatCompletion) {
  const std::string body = R"({"choices":[{"index":0,"message":{"role":"assistant","content":)" + deep_content() +
                           "}}]}";
  LoopbackServer server({ScriptedResponse{200, "application/json", {body}, 0ms, 0ms}});
  EXPECT_THAT(refusal([&] { CloudClient(one_attempt(server)).complete(request()); }),
              HasSubstr("the answer is not a chat completion"));
}

TEST(HostileCloud, DeepStreamEventIsNotJson) {
  const std::string event = R"(data: {"choices":[{"index":0,"delta":{"content":)" + deep_content() + "}}]}\n\n";
  LoopbackServer server({ScriptedResponse{200, "text/event-stream", {event, "data: [DONE]\n\n"}, 0ms, 0ms}});
  int events = 0;
  EXPECT_THAT(refusal([&] {
                CloudClient(one_attempt(server)).stream(request(), [&](const std::string&) { return ++events, true; });
              }),
              HasSubstr("an event is not JSON"));
  EXPECT_EQ(events, 0);
}

}  // namespace
}  // namespace bantam::hybrid
