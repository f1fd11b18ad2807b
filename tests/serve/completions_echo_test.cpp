// /v1/completions as lm-evaluation-harness's local-completions uses it: token-id prompts (one or
// many), echo with logprobs, max_tokens 0 or 1, temperature 0; and prompt arrays (one choice per
// prompt, in order), token-id prompts and their 400s.
#include <cmath>

#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

using nlohmann::json;

// "Once upon a time" in the stories260K vocab (BOS, " Once", " upon", " a", " time"), and the
// greedy continuation's first token (",").
const std::vector<int> kOnceUponATime = {1, 403, 407, 261, 378};
constexpr int kComma = 432;

class CompletionsEcho : public SharedServerSuite {
 protected:
  static void SetUpTestSuite() { start_server({"--parallel", "2"}); }
  static void TearDownTestSuite() { stop_server(false); }
  static json complete(const json& body) {
    const HttpResult r = post(port(), "/v1/completions", body);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  }
};

TEST_F(CompletionsEcho, LmEvalLoglikelihoodRequestShape) {
  // Token ids of the stories vocab: BOS then a few words; the second prompt is longer.
  const std::vector<std::vector<int>> prompts = {{1, 403, 407, 261}, {1, 403, 407, 261, 378, kComma}};
  const json out = complete({{"prompt", prompts}, {"max_tokens", 1}, {"echo", true}, {"logprobs", 1}, {"temperature", 0}});
  ASSERT_EQ(out["choices"].size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const json& choice = out["choices"][i];
    EXPECT_EQ(choice["index"], i);
    const json& lp = choice["logprobs"];
    const size_t n = prompts[i].size() + 1;  // the prompt, then the one generated token
    ASSERT_EQ(lp["tokens"].size(), n);
    ASSERT_EQ(lp["token_logprobs"].size(), n);
    ASSERT_EQ(lp["top_logprobs"].size(), n);
    ASSERT_EQ(lp["text_offset"].size(), n);
    EXPECT_TRUE(lp["token_logprobs"][0].is_null());
    EXPECT_TRUE(lp["top_logprobs"][0].is_null());
    for (size_t t = 1; t < n; ++t) {
      EXPECT_LE(lp["token_logprobs"][t].get<double>(), 0.0);
      ASSERT_EQ(lp["top_logprobs"][t].size(), 1u);
      // The top alternative is at least as likely as the token itself.
      EXPECT_GE(lp["top_logprobs"][t].begin().value().get<double>(), lp["token_logprobs"][t].get<double>() - 1e-5);
      EXPECT_GE(lp["text_offset"][t].get<size_t>(), lp["text_offset"][t - 1].get<size_t>());
    }
    EXPECT_EQ(choice["finish_reason"], "length");
    // The text is the echoed prompt and then the generated token.
    const std::string text = choice["text"];
    EXPECT_TRUE(text.ends_with(lp["tokens"][n - 1].get<std::string>())) << text;
  }
  EXPECT_EQ(out["usage"]["prompt_tokens"], 10);
  EXPECT_EQ(out["usage"]["completion_tokens"], 2);
}

TEST_F(CompletionsEcho, PromptLogprobsAgreeWithGeneration) {
  // The logprob generation gives the greedy next token is the one scoring gives it as part of
  // the prompt, and it is the most likely one there (lm-eval's is_greedy).
  const json generated = complete({{"prompt", kOnceUponATime}, {"max_tokens", 1}, {"temperature", 0}, {"logprobs", 1}});
  const json& next = generated["choices"][0]["logprobs"];
  ASSERT_EQ(next["tokens"][0], ",");
  std::vector<int> prompt = kOnceUponATime;
  prompt.push_back(kComma);
  const json scored = complete({{"prompt", prompt}, {"max_tokens", 0}, {"echo", true}, {"logprobs", 3}});
  const json& lp = scored["choices"][0]["logprobs"];
  const size_t last = prompt.size() - 1;
  ASSERT_EQ(lp["tokens"].size(), prompt.size());
  EXPECT_EQ(lp["tokens"][last], ",");
  EXPECT_NEAR(lp["token_logprobs"][last].get<double>(), next["token_logprobs"][0].get<double>(), 2e-3);
  ASSERT_EQ(lp["top_logprobs"][last].size(), 3u);
  double best = -1e9;
  for (const auto& [text, value] : lp["top_logprobs"][last].items()) best = std::max(best, value.get<double>());
  EXPECT_NEAR(lp["token_logprobs"][last].get<double>(), best, 1e-5);
}

TEST_F(CompletionsEcho, MaxTokensZeroScoresTextPromptsOnly) {
  // The older local-completions: text prompts, max_tokens 0, logprobs 10.
  const json out = complete({{"prompt", {"Once upon a time", "The cat sat"}}, {"max_tokens", 0}, {"echo", true},
                             {"logprobs", 10}, {"temperature", 0}});
  ASSERT_EQ(out["choices"].size(), 2u);
  EXPECT_EQ(out["choices"][0]["text"], "Once upon a time");
  EXPECT_EQ(out["choices"][1]["text"], "The cat sat");
  EXPECT_EQ(out["usage"]["completion_tokens"], 0);
  const json& lp = out["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"].size(), out["choices"][0]["logprobs"]["token_logprobs"].size());
  EXPECT_EQ(lp["top_logprobs"][1].size(), 10u);
  // Offsets point into the echoed text: each token's text (BOS aside) starts there, give or take
  // SentencePiece's leading space.
  const std::string text = out["choices"][0]["text"];
  for (size_t t = 1; t < lp["tokens"].size(); ++t) {
    std::string piece = lp["tokens"][t];
    if (piece.starts_with(" ") && lp["text_offset"][t] == 0) piece = piece.substr(1);
    EXPECT_EQ(text.compare(lp["text_offset"][t].get<size_t>(), piece.size(), piece), 0) << t << " " << piece;
  }
  EXPECT_EQ(out["choices"][0]["finish_reason"], "length");
}

TEST_F(CompletionsEcho, EchoWithoutLogprobsPrependsThePrompt) {
  const json out = complete({{"prompt", "Once upon a time"}, {"max_tokens", 4}, {"echo", true}, {"temperature", 0}});
  const json plain = complete({{"prompt", "Once upon a time"}, {"max_tokens", 4}, {"temperature", 0}});
  EXPECT_EQ(out["choices"][0]["text"], "Once upon a time" + plain["choices"][0]["text"].get<std::string>());
  EXPECT_TRUE(out["choices"][0]["logprobs"].is_null());
}

TEST_F(CompletionsEcho, PromptArraysAnswerInOrder) {
  const json out = complete({{"prompt", {"Once upon a time", "The dog", "Lily"}}, {"max_tokens", 3}, {"temperature", 0},
                             {"n", 2}, {"echo", true}});
  ASSERT_EQ(out["choices"].size(), 6u);
  const char* prompts[] = {"Once upon a time", "The dog", "Lily"};
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(out["choices"][i]["index"], i);
    EXPECT_TRUE(out["choices"][i]["text"].get<std::string>().starts_with(prompts[i / 2])) << out["choices"][i];
  }
  // Each prompt's greedy answer is the one it gets alone.
  for (size_t p = 0; p < 3; ++p) {
    const json alone = complete({{"prompt", prompts[p]}, {"max_tokens", 3}, {"temperature", 0}, {"echo", true}});
    EXPECT_EQ(out["choices"][2 * p]["text"], alone["choices"][0]["text"]);
  }
}

TEST_F(CompletionsEcho, TokenIdPromptsEqualTheirText) {
  const json by_text = complete({{"prompt", "Once upon a time"}, {"max_tokens", 6}, {"temperature", 0}});
  const json by_ids = complete({{"prompt", kOnceUponATime}, {"max_tokens", 6}, {"temperature", 0}});
  EXPECT_EQ(by_ids["choices"][0]["text"], by_text["choices"][0]["text"]);
  const json nested = complete({{"prompt", {kOnceUponATime, kOnceUponATime}}, {"max_tokens", 6}, {"temperature", 0}});
  ASSERT_EQ(nested["choices"].size(), 2u);
  EXPECT_EQ(nested["choices"][1]["text"], by_text["choices"][0]["text"]);
  // The echo of token ids is their text.
  const json echoed = complete({{"prompt", kOnceUponATime}, {"max_tokens", 0}, {"echo", true}});
  EXPECT_NE(echoed["choices"][0]["text"].get<std::string>().find("Once upon a time"), std::string::npos);
}

TEST_F(CompletionsEcho, StreamedEchoComesFirst) {
  const HttpResult r = post(port(), "/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 3}, {"echo", true},
                                                        {"stream", true}, {"temperature", 0}});
  const std::vector<json> events = sse_events(r.body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0]["choices"][0]["text"], "Once upon a time");
}

TEST_F(CompletionsEcho, BadPromptsAreRefusedByName) {
  HttpResult r = post(port(), "/v1/completions", {{"prompt", {"a", 5}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json()["error"]["param"], "prompt[1]");
  r = post(port(), "/v1/completions", {{"prompt", {1, 99999}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json()["error"]["param"], "prompt");
  r = post(port(), "/v1/completions", {{"prompt", {{1, 2}, json::array()}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json()["error"]["param"], "prompt[1]");
  r = post(port(), "/v1/completions", {{"prompt", json::array()}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json()["error"]["param"], "prompt");
  r = post(port(), "/v1/completions", {{"prompt", "a"}, {"max_tokens", -3}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json()["error"]["param"], "max_tokens");
}

}  // namespace
}  // namespace bantam::test
