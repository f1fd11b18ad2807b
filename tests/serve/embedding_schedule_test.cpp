// Embeddings beside chat: a huge embeddings request runs in pieces between decode steps (chat is
// answered while it runs), stops when its client leaves, and is refused with 413 above the cap.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gmock/gmock.h>

#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// The hostile request of the report: 2,048 inputs of 500 tokens each.
constexpr int kInputs = 2048;
constexpr int kTokensPerInput = 500;
constexpr int64_t kTotalTokens = int64_t{kInputs} * kTokensPerInput;

std::string huge_embedding_body() {
  json inputs = json::array();
  for (int i = 0; i < kInputs; ++i) {
    json ids = json::array();
    for (int k = 0; k < kTokensPerInput; ++k) ids.push_back(3 + (i * 7 + k * 13) % 500);  // inside the 512-token vocab
    inputs.push_back(std::move(ids));
  }
  return json{{"input", inputs}}.dump();
}

json chat() { return {{"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}}, {"max_tokens", 16}}; }

void expect_chat_answered(int port) {
  const auto r = post(port, "/v1/chat/completions", chat());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r.json()["choices"][0]["message"]["content"].get<std::string>().empty());
}

// The value of an unlabelled counter, or of a bantam_requests_total series; 0 when absent.
int64_t metric(int port, const std::string& series) {
  const std::string text = http(port, "GET", "/metrics").body;
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return 0;
  return std::stoll(text.substr(at + series.size() + 2));
}

const std::string kEmbeddingTokens = "bantam_embedding_tokens_total";
const std::string kEmbeddingsAbandoned = "bantam_requests_total{route=\"/v1/embeddings\",status=\"499\"}";

// Waits up to 30 s for `done`; false when it never came.
bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// A request written on a raw socket whose answer is left unread, so the test decides when the
// client leaves.
class PendingRequest {
 public:
  PendingRequest(int port, const std::string& path, const std::string& body) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("cannot connect to the server");
    }
    const std::string request = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                                "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    for (size_t sent = 0; sent < request.size();) {
      const ssize_t n = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("cannot send the request");
      sent += static_cast<size_t>(n);
    }
  }
  PendingRequest(const PendingRequest&) = delete;
  ~PendingRequest() { leave(); }

  // Some of the answer has arrived.
  bool answered() const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }
  void leave() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

class EmbeddingSchedule : public ::testing::Test {
 protected:
  // A cap above the huge request, so it is accepted and runs.
  ServerProcess server{{"--max-embedding-tokens", "2000000"}};
  int port() const { return server.port(); }

  // Starts the huge request and waits until its first pieces ran.
  std::unique_ptr<PendingRequest> start_huge_request() {
    auto request = std::make_unique<PendingRequest>(port(), "/v1/embeddings", huge_embedding_body());
    EXPECT_TRUE(eventually([&] { return metric(port(), kEmbeddingTokens) > 0; })) << server.log();
    return request;
  }
};

TEST_F(EmbeddingSchedule, ChatIsAnsweredWhileAHugeEmbeddingRequestRuns) {
  const auto embeddings = start_huge_request();
  expect_chat_answered(port());
  // The chat finished first: the embeddings have not been answered and are still being computed.
  EXPECT_FALSE(embeddings->answered());
  const int64_t done = metric(port(), kEmbeddingTokens);
  EXPECT_GT(done, 0);
  EXPECT_LT(done, kTotalTokens);
}

TEST_F(EmbeddingSchedule, AClientThatLeavesStopsItsEmbeddings) {
  auto embeddings = start_huge_request();
  embeddings->leave();
  // The server answers 499 only once the scheduler has dropped the work.
  ASSERT_TRUE(eventually([&] { return metric(port(), kEmbeddingsAbandoned) == 1; })) << server.log();
  const int64_t done = metric(port(), kEmbeddingTokens);
  EXPECT_GT(done, 0);
  EXPECT_LT(done, kTotalTokens);
  expect_chat_answered(port());
  EXPECT_EQ(metric(port(), kEmbeddingTokens), done) << "embedding work went on after the client left";
}

TEST(EmbeddingCap, AHugeRequestIsRefusedWith413NamingTheDefaultCap) {
  ServerProcess server;
  const auto r = http(server.port(), "POST", "/v1/embeddings", huge_embedding_body());
  ASSERT_EQ(r.status, 413) << r.body;
  const json error = r.json()["error"];
  EXPECT_THAT(error["message"].get<std::string>(), HasSubstr("cap of 65536 tokens"));
  EXPECT_THAT(error["message"].get<std::string>(), HasSubstr("--max-embedding-tokens"));
  EXPECT_EQ(error["param"], "input");
  EXPECT_EQ(metric(server.port(), kEmbeddingTokens), 0);
  expect_chat_answered(server.port());
}

TEST(EmbeddingCap, TheFlagSetsTheCap) {
  ServerProcess server({"--max-embedding-tokens", "10"});
  const json small = {{"input", {{5, 6, 7, 8}, {9, 10, 11, 12}}}};
  EXPECT_EQ(post(server.port(), "/v1/embeddings", small).status, 200);
  const json over = {{"input", {{5, 6, 7, 8}, {9, 10, 11, 12}, {13, 14, 15}}}};
  const auto r = post(server.port(), "/v1/embeddings", over);
  ASSERT_EQ(r.status, 413) << r.body;
  EXPECT_THAT(r.json()["error"]["message"].get<std::string>(), HasSubstr("11 tokens by input 2, over this server's cap of 10"));
  expect_chat_answered(server.port());
}

}  // namespace
}  // namespace bantam::test
