// OpenAI's routes without the /v1 prefix, as llama.cpp's server accepts them: the same answers,
// counted in the metrics as the /v1 routes.
#include <gtest/gtest.h>

#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

// The count of `route` answered with `status` in the server's /metrics (0 when absent).
int requests_of(int port, const std::string& route, int status) {
  const std::string metrics = http(port, "GET", "/metrics").body;
  const std::string key = "bantam_requests_total{route=\"" + route + "\",status=\"" + std::to_string(status) + "\"} ";
  const size_t at = metrics.find(key);
  return at == std::string::npos ? 0 : std::stoi(metrics.substr(at + key.size()));
}

TEST(RouteAliases, OpenAiRoutesAnswerWithoutV1) {
  ServerProcess server;
  const int port = server.port();
  const auto chat = post(port, "/chat/completions", {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 3}});
  ASSERT_EQ(chat.status, 200) << chat.body;
  EXPECT_EQ(chat.json()["object"], "chat.completion");
  EXPECT_TRUE(chat.json()["choices"][0]["message"]["content"].is_string());

  bool done = false;
  const auto stream = post(port, "/chat/completions",
                           {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 3}, {"stream", true}});
  ASSERT_EQ(stream.status, 200) << stream.body;
  EXPECT_FALSE(sse_events(stream.body, &done).empty());
  EXPECT_TRUE(done);

  const auto completion = post(port, "/completions", {{"prompt", "Once upon"}, {"max_tokens", 3}});
  ASSERT_EQ(completion.status, 200) << completion.body;
  EXPECT_EQ(completion.json()["object"], "text_completion");

  const auto embedding = post(port, "/embeddings", {{"input", "a cat"}});
  ASSERT_EQ(embedding.status, 200) << embedding.body;
  EXPECT_FALSE(embedding.json()["data"][0]["embedding"].empty());

  const auto models = http(port, "GET", "/models");
  ASSERT_EQ(models.status, 200) << models.body;
  EXPECT_EQ(models.json()["data"][0]["id"], "stories260K");
  const auto model = http(port, "GET", "/models/stories260K");
  ASSERT_EQ(model.status, 200) << model.body;
  EXPECT_EQ(model.json()["id"], "stories260K");
  EXPECT_EQ(http(port, "GET", "/models/none").status, 404);

  // Counted as the /v1 routes; the spellings without it are no labels of their own.
  EXPECT_EQ(requests_of(port, "/v1/chat/completions", 200), 2);
  EXPECT_EQ(requests_of(port, "/v1/completions", 200), 1);
  EXPECT_EQ(requests_of(port, "/v1/embeddings", 200), 1);
  EXPECT_EQ(requests_of(port, "/v1/models", 200), 1);
  EXPECT_EQ(requests_of(port, "/v1/models/{id}", 200), 1);
  EXPECT_EQ(http(port, "GET", "/metrics").body.find("route=\"/chat/completions\""), std::string::npos);
}

TEST(RouteAliases, MethodsAreCheckedAsOnTheV1Routes) {
  ServerProcess server;
  EXPECT_EQ(http(server.port(), "GET", "/chat/completions").status, 404);
  EXPECT_EQ(http(server.port(), "POST", "/models", "{}").status, 404);
}

}  // namespace
}  // namespace bantam::test
