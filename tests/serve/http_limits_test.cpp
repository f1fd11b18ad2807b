// Denial of service through connections: slow-loris clients, clients that pipeline and never
// read, many connections from one address. Each case ends with a normal chat request answered.
#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

#include "raw_client.hpp"

namespace bantam::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string address(int i) { return "127.0.0." + std::to_string(i); }

// Keeps trickling one byte to each connection every 200 ms (which defeats per-read timeouts)
// until the server has dropped all of them or `limit` has passed; false in the second case.
bool trickle_until_dropped(std::vector<std::unique_ptr<RawClient>>& clients, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    bool all_dropped = true;
    for (auto& c : clients) {
      if (c->dropped()) continue;
      all_dropped = false;
      c->send_some("x");
    }
    if (all_dropped) return true;
    std::this_thread::sleep_for(200ms);
  }
  return false;
}

// /health from `source` until it answers 200 or 10 s have passed (the server notices a closed
// connection a moment after the client closes it); the last status.
int health_status_within_10s(int port, const std::string& source) {
  const auto retry_until = Clock::now() + 10s;
  int status = 0;
  while (status != 200 && Clock::now() < retry_until) {
    RawClient again(port, source);
    again.send("GET /health HTTP/1.1\r\nHost: bantam\r\nConnection: close\r\n\r\n");
    status = status_of(again.read_until_close(5s));
  }
  return status;
}

TEST(HttpLimits, SlowLorisClientsBeyondTheCapsLeaveRoomForANewClient) {
  // 16 connections, 4 per address; the last 2 are kept for addresses that hold none.
  ServerProcess server({"--max-connections", "16", "--max-connections-per-client", "4", "--header-timeout", "5"});
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int a = 2; a <= 5; ++a) {
    for (int i = 0; i < 5; ++i) {
      clients.push_back(std::make_unique<RawClient>(server.port(), address(a)));
      clients.back()->send("P");  // the first byte of a request line that never completes
    }
  }
  std::this_thread::sleep_for(500ms);  // refused connections get their answer at once
  std::vector<std::unique_ptr<RawClient>> held;
  std::vector<int> refused;
  for (auto& client : clients) {
    const std::string answer = client->read_until_close(50ms);
    if (client->closed()) {
      refused.push_back(status_of(answer));
      EXPECT_TRUE(nlohmann::json::parse(body_of(answer))["error"]["message"].is_string()) << answer;
    } else {
      held.push_back(std::move(client));
    }
  }
  // 127.0.0.2-4 hold 4 each, 127.0.0.5 only 2 as the reserve begins; the rest are refused: the
  // fifth of each address over its cap (429), the others by the reserve (503).
  EXPECT_EQ(held.size(), 14u);
  EXPECT_EQ(std::count(refused.begin(), refused.end(), 429), 3);
  EXPECT_EQ(std::count(refused.begin(), refused.end(), 503), 3);
  // A new client is served while the slow ones hold their connections.
  expect_chat_answered(server.port());
  EXPECT_EQ(std::count_if(held.begin(), held.end(), [](auto& c) { return c->dropped(); }), 0);
  // The header deadline is total: trickling does not keep a connection.
  EXPECT_TRUE(trickle_until_dropped(held, 20s));
  expect_chat_answered(server.port());
}

TEST(HttpLimits, ClientsThatPipelineAndNeverReadAreDroppedBySendTimeout) {
  ServerProcess server({"--max-connections-per-client", "2", "--send-timeout", "1"});
  // Two clients from one address fill its cap, pipeline requests for the model list and never
  // read: the server's writes stall, and the send timeout drops them.
  std::vector<std::unique_ptr<RawClient>> readers;
  for (int i = 0; i < 2; ++i) readers.push_back(std::make_unique<RawClient>(server.port(), address(2), 4096));
  std::string requests;
  for (int i = 0; i < 100; ++i) requests += "GET /v1/models HTTP/1.1\r\nHost: bantam\r\n\r\n";
  std::vector<bool> dropped(readers.size(), false);
  const auto deadline = Clock::now() + 30s;
  while (Clock::now() < deadline && std::count(dropped.begin(), dropped.end(), false) > 0) {
    bool progress = false;
    for (size_t i = 0; i < readers.size(); ++i) {
      if (dropped[i]) continue;
      const ssize_t n = readers[i]->send_some(requests);
      dropped[i] = n < 0;
      progress = progress || n > 0;
    }
    if (!progress) std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(std::count(dropped.begin(), dropped.end(), true), 2);
  // Their slots are free again: the same address is served.
  EXPECT_EQ(health_status_within_10s(server.port(), address(2)), 200);
  expect_chat_answered(server.port());
}

TEST(HttpLimits, ConnectionsArePerClientAddress) {
  ServerProcess server({"--max-connections-per-client", "3", "--header-timeout", "60"});
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(std::make_unique<RawClient>(server.port(), address(2)));
  RawClient fourth(server.port(), address(2));
  const std::string refused = fourth.read_until_close(10s);
  EXPECT_EQ(status_of(refused), 429) << refused;
  EXPECT_NE(body_of(refused).find("127.0.0.2"), std::string::npos) << refused;
  // Another address is not affected.
  RawClient other(server.port(), address(3));
  other.send("GET /health HTTP/1.1\r\nHost: bantam\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_of(other.read_until_close(10s)), 200);
  // Once one of the three leaves, 127.0.0.2 is served again.
  idle.pop_back();
  EXPECT_EQ(health_status_within_10s(server.port(), address(2)), 200);
  expect_chat_answered(server.port());
}

TEST(HttpLimits, KeptAliveConnectionsCloseWhenIdle) {
  ServerProcess server({"--idle-timeout", "0.5"});
  RawClient client(server.port(), address(2));
  client.send("GET /health HTTP/1.1\r\nHost: bantam\r\n\r\n");
  const std::string answer = client.read_until_close(20s);
  EXPECT_TRUE(client.closed());
  EXPECT_EQ(status_of(answer), 200) << answer;
  EXPECT_NE(answer.find("Connection: keep-alive"), std::string::npos) << answer;
  expect_chat_answered(server.port());
}

TEST(HttpLimits, MetricsNeedTheApiKeyUnlessPublic) {
  {
    ServerProcess server({"--api-key-env", "BANTAM_TEST_KEY"}, {"BANTAM_TEST_KEY=s3cret"});
    const auto anonymous = http(server.port(), "GET", "/metrics");
    EXPECT_EQ(anonymous.status, 401) << anonymous.body;
    EXPECT_EQ(anonymous.json()["error"]["code"], "invalid_api_key");
    const auto keyed = http(server.port(), "GET", "/metrics", "", {"Authorization: Bearer s3cret"});
    EXPECT_EQ(keyed.status, 200);
    EXPECT_NE(keyed.body.find("bantam_requests_total"), std::string::npos);
    EXPECT_EQ(http(server.port(), "GET", "/health").status, 200);
    const auto chat = post(server.port(), "/v1/chat/completions", short_chat(), {"Authorization: Bearer s3cret"});
    EXPECT_EQ(chat.status, 200) << chat.body;
  }
  ServerProcess server({"--api-key-env", "BANTAM_TEST_KEY", "--metrics-public"}, {"BANTAM_TEST_KEY=s3cret"});
  EXPECT_EQ(http(server.port(), "GET", "/metrics").status, 200);
  EXPECT_EQ(http(server.port(), "GET", "/v1/models").status, 401);
  const auto chat = post(server.port(), "/v1/chat/completions", short_chat(), {"Authorization: Bearer s3cret"});
  EXPECT_EQ(chat.status, 200) << chat.body;
}

}  // namespace
}  // namespace bantam::test
