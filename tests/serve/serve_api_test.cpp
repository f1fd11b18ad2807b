// Chat, completions, streaming, embeddings, models, metrics against a real `bantam serve`.
#include <cmath>

#include "bantam/bantam.hpp"
#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

using nlohmann::json;

class ServeApi : public SharedServerSuite {
 protected:
  static void SetUpTestSuite() { start_server({"--parallel", "2", "-c", "512"}); }
  static void TearDownTestSuite() { stop_server(); }
};

json chat_body(bool stream, int max_tokens = 24) {
  return {{"model", "stories260K"},
          {"messages", {{{"role", "system"}, {"content", "You tell stories."}},
                        {{"role", "user"}, {"content", "Once upon a time there was a cat."}}}},
          {"max_tokens", max_tokens},
          {"temperature", 0},
          {"stream", stream}};
}

TEST_F(ServeApi, HealthAndModels) {
  const auto health = http(port(), "GET", "/health");
  ASSERT_EQ(health.status, 200);
  EXPECT_EQ(health.json()["status"], "ready");
  const auto models = http(port(), "GET", "/v1/models");
  ASSERT_EQ(models.status, 200);
  EXPECT_EQ(models.json()["object"], "list");
  ASSERT_EQ(models.json()["data"].size(), 1u);
  EXPECT_EQ(models.json()["data"][0]["id"], "stories260K");
  EXPECT_EQ(http(port(), "GET", "/v1/models/stories260K").status, 200);
  EXPECT_EQ(http(port(), "GET", "/v1/models/other").status, 404);
}

TEST_F(ServeApi, ChatCompletionHasTextUsageAndFinishReason) {
  const auto r = post(port(), "/v1/chat/completions", chat_body(false));
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.json();
  EXPECT_EQ(j["object"], "chat.completion");
  const json& choice = j["choices"][0];
  EXPECT_EQ(choice["message"]["role"], "assistant");
  EXPECT_FALSE(choice["message"]["content"].get<std::string>().empty());
  EXPECT_EQ(choice["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 24);
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 10);
  EXPECT_EQ(j["usage"]["total_tokens"], j["usage"]["prompt_tokens"].get<int>() + 24);
}

TEST_F(ServeApi, StreamedChatConcatenatesToTheGreedyResult) {
  const auto whole = post(port(), "/v1/chat/completions", chat_body(false, 40));
  ASSERT_EQ(whole.status, 200);
  const auto streamed = post(port(), "/v1/chat/completions", chat_body(true, 40));
  ASSERT_EQ(streamed.status, 200);
  bool done = false;
  const auto events = sse_events(streamed.body, &done);
  EXPECT_TRUE(done);
  ASSERT_GE(events.size(), 3u);
  std::string text;
  std::string finish;
  for (const json& e : events) {
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    const json& choice = e["choices"][0];
    if (choice["delta"].contains("content") && choice["delta"]["content"].is_string()) {
      text += choice["delta"]["content"].get<std::string>();
    }
    if (!choice["finish_reason"].is_null()) finish = choice["finish_reason"];
  }
  EXPECT_EQ(events.front()["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(text, whole.json()["choices"][0]["message"]["content"].get<std::string>());
  EXPECT_EQ(finish, whole.json()["choices"][0]["finish_reason"].get<std::string>());
}

TEST_F(ServeApi, StreamUsageChunkWhenAsked) {
  json body = chat_body(true, 8);
  body["stream_options"] = {{"include_usage", true}};
  const auto r = post(port(), "/v1/chat/completions", body);
  const auto events = sse_events(r.body);
  ASSERT_FALSE(events.empty());
  EXPECT_TRUE(events.back()["choices"].empty());
  EXPECT_EQ(events.back()["usage"]["completion_tokens"], 8);
}

TEST_F(ServeApi, TextCompletionStreamMatchesWhole) {
  const json body = {{"prompt", "Once upon a time"}, {"max_tokens", 30}, {"temperature", 0}};
  const auto whole = post(port(), "/v1/completions", body);
  ASSERT_EQ(whole.status, 200) << whole.body;
  EXPECT_EQ(whole.json()["object"], "text_completion");
  json stream_body = body;
  stream_body["stream"] = true;
  const auto streamed = post(port(), "/v1/completions", stream_body);
  std::string text;
  for (const json& e : sse_events(streamed.body)) text += e["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(text, whole.json()["choices"][0]["text"].get<std::string>());
  EXPECT_FALSE(text.empty());
}

TEST_F(ServeApi, StopStringEndsTheTextBeforeIt) {
  const json body = {{"prompt", "Once upon a time"}, {"max_tokens", 60}, {"temperature", 0}};
  const std::string text = post(port(), "/v1/completions", body).json()["choices"][0]["text"];
  ASSERT_GT(text.size(), 12u);
  const std::string stop = text.substr(8, 3);
  json stopped = body;
  stopped["stop"] = {stop};
  const auto r = post(port(), "/v1/completions", stopped).json();
  EXPECT_EQ(r["choices"][0]["text"], text.substr(0, text.find(stop)));
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
}

TEST_F(ServeApi, SeededSamplingRepeats) {
  json body = chat_body(false, 20);
  body["temperature"] = 1.0;
  body["seed"] = 1234;
  const auto a = post(port(), "/v1/chat/completions", body).json();
  const auto b = post(port(), "/v1/chat/completions", body).json();
  EXPECT_EQ(a["choices"][0]["message"]["content"], b["choices"][0]["message"]["content"]);
}

TEST_F(ServeApi, LogprobsWithAlternatives) {
  json body = chat_body(false, 5);
  body["logprobs"] = true;
  body["top_logprobs"] = 3;
  const auto j = post(port(), "/v1/chat/completions", body).json();
  const json& content = j["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 5u);
  for (const json& entry : content) {
    EXPECT_LE(entry["logprob"].get<double>(), 0.0);
    ASSERT_EQ(entry["top_logprobs"].size(), 3u);
    // Greedy: the chosen token is the most likely one.
    EXPECT_NEAR(entry["top_logprobs"][0]["logprob"].get<double>(), entry["logprob"].get<double>(), 1e-4);
  }
}

TEST_F(ServeApi, ConversationContinuationReusesThePrefix) {
  json body = chat_body(false, 10);
  const auto first = post(port(), "/v1/chat/completions", body).json();
  body["messages"].push_back({{"role", "assistant"}, {"content", first["choices"][0]["message"]["content"]}});
  body["messages"].push_back({{"role", "user"}, {"content", "And then?"}});
  const auto second = post(port(), "/v1/chat/completions", body).json();
  EXPECT_GT(second["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>(), 10);
}

TEST_F(ServeApi, ConcurrentRequestsAllFinish) {
  std::vector<std::thread> threads;
  std::vector<HttpResult> results(6);
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      json body = chat_body(i % 2 == 0, 20);
      body["temperature"] = 0.8;
      body["seed"] = static_cast<int>(i);
      results[i] = post(port(), "/v1/chat/completions", body);
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(ServeApi, EmbeddingsAreNormalizedAndBatched) {
  const auto r = post(port(), "/v1/embeddings", {{"input", {"a cat", "a dog", "a cat"}}, {"model", "stories260K"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.json();
  ASSERT_EQ(j["data"].size(), 3u);
  std::vector<std::vector<double>> vectors;
  for (const json& item : j["data"]) {
    vectors.push_back(item["embedding"].get<std::vector<double>>());
    double norm = 0;
    for (double v : vectors.back()) norm += v * v;
    EXPECT_NEAR(norm, 1.0, 1e-4);
  }
  EXPECT_EQ(vectors[0].size(), static_cast<size_t>(Model::load(stories_model())->info().n_embd));
  for (size_t k = 0; k < vectors[0].size(); ++k) EXPECT_NEAR(vectors[0][k], vectors[2][k], 1e-5);
  EXPECT_NE(vectors[0], vectors[1]);
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 3);
  // The same text alone gives the same vector; base64 is the float32 bytes.
  const auto single = post(port(), "/v1/embeddings", {{"input", "a cat"}}).json();
  const auto alone = single["data"][0]["embedding"].get<std::vector<double>>();
  for (size_t k = 0; k < alone.size(); ++k) EXPECT_NEAR(alone[k], vectors[0][k], 1e-5);
  const auto b64 = post(port(), "/v1/embeddings", {{"input", "a cat"}, {"encoding_format", "base64"}}).json();
  EXPECT_EQ(b64["data"][0]["embedding"].get<std::string>().size(), (vectors[0].size() * 4 + 2) / 3 * 4);
}

TEST_F(ServeApi, MetricsCountRequestsAndTokens) {
  ASSERT_EQ(post(port(), "/v1/chat/completions", chat_body(false, 4)).status, 200);
  // The server counts a request once its response is written, so the client can ask a moment early.
  const std::string counted = "bantam_requests_total{route=\"/v1/chat/completions\",status=\"200\"}";
  auto m = http(port(), "GET", "/metrics");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (m.body.find(counted) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    m = http(port(), "GET", "/metrics");
  }
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find(counted), std::string::npos);
  EXPECT_NE(m.body.find("bantam_completion_tokens_total"), std::string::npos);
  EXPECT_NE(m.body.find("bantam_time_to_first_token_seconds_bucket"), std::string::npos);
  EXPECT_NE(m.body.find("bantam_time_per_output_token_seconds_count"), std::string::npos);
  EXPECT_NE(m.body.find("bantam_queue_depth 0"), std::string::npos);
  EXPECT_NE(m.body.find("bantam_slots 2"), std::string::npos);
  EXPECT_NE(m.body.find("bantam_kv_cache_used_tokens"), std::string::npos);
}

TEST_F(ServeApi, ClientDisconnectFreesTheSlot) {
  json body = chat_body(true, 400);
  int chunks = 0;
  const auto r = http(port(), "POST", "/v1/chat/completions", body.dump(), {},
                      [&](const std::string&) { return ++chunks < 3; });
  EXPECT_EQ(r.error, CURLE_WRITE_ERROR);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::string metrics;
  while (std::chrono::steady_clock::now() < deadline) {
    metrics = http(port(), "GET", "/metrics").body;
    if (metrics.find("bantam_active_slots 0") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_NE(metrics.find("bantam_active_slots 0"), std::string::npos);
}

}  // namespace
}  // namespace bantam::test
