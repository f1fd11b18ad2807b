// Strict HTTP/1.1 request parsing (RFC 9112) on raw sockets: each malformed framing gets its
// status in OpenAI's error shape and the server keeps serving; half-closing clients are answered,
// clients that leave are noticed.
#include <regex>

#include <fmt/format.h>

#include "raw_client.hpp"

namespace bantam::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string kChat = short_chat().dump();

std::string chunk(std::string_view data) { return fmt::format("{:x}\r\n{}\r\n", data.size(), data); }

std::string post_head(const std::string& framing) {
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: bantam\r\nContent-Type: application/json\r\n" + framing + "\r\n";
}

struct Case {
  std::string name;
  std::string bytes;
  int status;
};

std::vector<Case> cases() {
  const std::string chunked = "Transfer-Encoding: chunked\r\n";
  std::string over_limit_chunks;
  for (int i = 0; i < 12; ++i) over_limit_chunks += chunk(std::string(100000, 'x'));
  return {
      {"differing Content-Length", post_head("Content-Length: 5\r\nContent-Length: 6\r\n") + "hello!", 400},
      {"Content-Length and chunked", post_head("Content-Length: 5\r\n" + chunked) + chunk("hello") + "0\r\n\r\n", 400},
      {"chunk size not hex", post_head(chunked) + "zz\r\nhello\r\n0\r\n\r\n", 400},
      {"chunk size with 0x", post_head(chunked) + "0x5\r\nhello\r\n0\r\n\r\n", 400},
      {"chunk size negative", post_head(chunked) + "-5\r\nhello\r\n0\r\n\r\n", 400},
      {"chunk-size line without end", post_head(chunked) + "1;" + std::string(100000, 'a'), 400},
      {"chunk data without CRLF", post_head(chunked) + "5\r\nhelloXX0\r\n\r\n", 400},
      {"transfer coding not ending in chunked", post_head("Transfer-Encoding: gzip\r\n"), 400},
      {"unknown transfer coding", post_head("Transfer-Encoding: gzip, chunked\r\n") + "0\r\n\r\n", 501},
      {"header block too large", post_head("X-Padding: " + std::string(70000, 'a') + "\r\n"), 431},
      {"Content-Length over the limit", post_head("Content-Length: 2000000\r\n"), 413},
      {"chunked body over the limit", post_head(chunked) + over_limit_chunks, 413},
      {"not HTTP", "GARBAGE\r\n\r\n", 400},
  };
}

TEST(HttpParsing, MalformedFramingGetsItsStatusAndTheServerKeepsServing) {
  ServerProcess server({"--max-body-mb", "1"});
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    RawClient client(server.port());
    client.send(c.bytes);
    const std::string answer = client.read_until_close(10s);
    EXPECT_TRUE(client.closed());
    EXPECT_EQ(status_of(answer), c.status) << answer;
    json error;
    ASSERT_NO_THROW(error = json::parse(body_of(answer))["error"]) << answer;
    EXPECT_TRUE(error["message"].is_string());
    expect_chat_answered(server.port());
  }
}

TEST(HttpParsing, BodyCutShortGets400AtOnce) {
  // The client half-closes after 3 of 100 announced bytes: the request can never complete, so
  // it is answered now rather than when the body deadline (30 s by default) passes.
  ServerProcess server;
  RawClient client(server.port());
  client.send(post_head("Content-Length: 100\r\n") + "{\"m");
  client.half_close();
  const std::string answer = client.read_until_close(10s);
  EXPECT_EQ(status_of(answer), 400) << answer;
  EXPECT_NE(body_of(answer).find("ended before the whole request"), std::string::npos) << answer;
  expect_chat_answered(server.port());
}

TEST(HttpParsing, TrailersAreConsumedAndTheNextRequestIsRead) {
  ServerProcess server;
  RawClient client(server.port());
  client.send(post_head("Transfer-Encoding: chunked\r\n") + chunk(kChat.substr(0, 10)) + chunk(kChat.substr(10)) +
              "0\r\nX-Checksum: 1234\r\nX-Other: a\r\n\r\n" +
              "GET /health HTTP/1.1\r\nHost: bantam\r\nConnection: close\r\n\r\n");
  const std::string answers = client.read_until_close(30s);
  const std::regex status_line("HTTP/1\\.1 (\\d{3}) ");
  std::vector<std::string> statuses;
  for (std::sregex_iterator it(answers.begin(), answers.end(), status_line), end; it != end; ++it) {
    statuses.push_back((*it)[1]);
  }
  EXPECT_EQ(statuses, (std::vector<std::string>{"200", "200"})) << answers;
  EXPECT_NE(answers.find("\"chat.completion\""), std::string::npos) << answers;
  EXPECT_NE(answers.find("{\"status\":\"ready\"}"), std::string::npos) << answers;
  expect_chat_answered(server.port());
}

TEST(HttpParsing, ExpectContinueGetsAnInterimAnswerBeforeTheBody) {
  ServerProcess server;
  RawClient client(server.port());
  client.send(post_head("Content-Length: " + std::to_string(kChat.size()) + "\r\nExpect: 100-continue\r\n"));
  const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  std::string answer;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (answer.size() < interim.size() && !client.closed() && std::chrono::steady_clock::now() < deadline) {
    answer += client.read_until_close(20ms);
  }
  EXPECT_EQ(answer, interim);
  client.send(kChat + "GET /health HTTP/1.1\r\nHost: bantam\r\nConnection: close\r\n\r\n");
  answer = client.read_until_close(30s);
  EXPECT_EQ(status_of(answer), 200) << answer;
  EXPECT_NE(answer.find("\"chat.completion\""), std::string::npos) << answer;
  expect_chat_answered(server.port());
}

TEST(HttpParsing, HalfClosedClientStillGetsItsAnswer) {
  ServerProcess server;
  RawClient client(server.port());
  const std::string body = json{{"prompt", "Once upon a time"}, {"max_tokens", 40}, {"temperature", 0}}.dump();
  client.send("POST /v1/completions HTTP/1.1\r\nHost: bantam\r\nContent-Length: " + std::to_string(body.size()) +
              "\r\n\r\n" + body);
  client.half_close();
  const std::string answer = client.read_until_close(30s);
  EXPECT_TRUE(client.closed());
  // The answer may follow an interim 100 (Continue), which HTTP/1.1 clients skip.
  const size_t final_answer = answer.find("HTTP/1.1 200 ");
  ASSERT_NE(final_answer, std::string::npos) << answer;
  const json completion = json::parse(body_of(answer.substr(final_answer)));
  EXPECT_EQ(completion["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(completion["usage"]["completion_tokens"], 40);
  expect_chat_answered(server.port());
}

TEST(HttpParsing, ClientThatLeavesDuringAnAnswerCancelsIt) {
  ServerProcess server({"-c", "2048"});
  {
    RawClient client(server.port());
    const std::string body = json{{"prompt", "Once"}, {"max_tokens", 2000}, {"temperature", 0}}.dump();
    client.send("POST /v1/completions HTTP/1.1\r\nHost: bantam\r\nContent-Length: " + std::to_string(body.size()) +
                "\r\n\r\n" + body);
    std::this_thread::sleep_for(50ms);
  }
  // The abandoned request ends as 499 (client gone) instead of running its 2000 tokens.
  const std::string cancelled = "bantam_requests_total{route=\"/v1/completions\",status=\"499\"} 1";
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  std::string metrics;
  while (metrics.find(cancelled) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    metrics = http(server.port(), "GET", "/metrics").body;
  }
  EXPECT_NE(metrics.find(cancelled), std::string::npos) << metrics;
  expect_chat_answered(server.port());
}

}  // namespace
}  // namespace bantam::test
