// Session behaviour on real models: stop conditions, cancel, prefix reuse, batching over the
// sliding-window ring buffer, LongRoPE factor choice, KV cache types, streaming text.
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>

#include "bantam/bantam.hpp"
#include "runtime/runtime_test_support.hpp"

namespace bantam {
namespace {

std::vector<TokenId> ramp_prompt(int n) {
  std::vector<TokenId> ids{1};
  for (int i = 1; i < n; ++i) ids.push_back(3 + (i * 37) % 500);
  return ids;
}

TEST(Session, StoriesWritesTextAndStreamsIt) {
  const auto model = test::load_shared_model("weights/stories260K.gguf");
  Session session(model, {.context_length = 256, .threads = 1});
  std::string streamed;
  const auto result = session.generate(model->tokenize("Once upon a time"), test::greedy(40),
                                       [&](const TokenEvent& e) {
                                         streamed += e.text;
                                         return true;
                                       });
  EXPECT_EQ(streamed, result.text);
  EXPECT_EQ(result.text, model->detokenize(result.tokens));
  EXPECT_NE(result.text.find("Lily"), std::string::npos) << result.text;
}

TEST(Session, StopStringEndsGenerationAndIsNotShown) {
  const auto model = test::load_shared_model("weights/stories260K.gguf");
  Session session(model, {.context_length = 256, .threads = 1});
  auto options = test::greedy(100);
  options.stop = {"Lily"};
  const auto result = session.generate(model->tokenize("Once upon a time"), options);
  EXPECT_EQ(result.stop_reason, StopReason::StopString);
  EXPECT_EQ(result.text, ", there was a little girl named ");
}

TEST(Session, ContextFullStopsCleanly) {
  const auto model = test::load_shared_model("weights/stories260K.gguf");
  Session session(model, {.context_length = 12, .threads = 1});
  const auto result = session.generate(ramp_prompt(8), test::greedy(-1));
  EXPECT_EQ(result.stop_reason, StopReason::ContextFull);
  EXPECT_EQ(result.tokens.size(), 5u);  // 4 fill the context, the 5th is sampled from the last
  EXPECT_THROW(session.generate(ramp_prompt(13), test::greedy(1)), Error);
}

TEST(Session, CallbackCanStop) {
  const auto model = test::load_shared_model("weights/stories260K.gguf");
  Session session(model, {.context_length = 64, .threads = 1});
  int seen = 0;
  const auto result = session.generate(ramp_prompt(4), test::greedy(50), [&](const TokenEvent&) { return ++seen < 3; });
  EXPECT_EQ(result.stop_reason, StopReason::Cancelled);
  EXPECT_EQ(result.tokens.size(), 3u);
}

TEST(Session, ReusesTheCachedPrefix) {
  const auto model = test::load_shared_model("synthetic/synth-qwen2-f16.gguf");
  Session session(model, {.context_length = 256, .threads = 1});
  const auto prompt = ramp_prompt(40);
  const auto first = session.generate(prompt, test::greedy(8));
  const auto second = session.generate(prompt, test::greedy(8));
  EXPECT_EQ(second.reused_tokens, 39);
  EXPECT_EQ(first.tokens, second.tokens);
}

TEST(Session, SlidingWindowRingMatchesAcrossBatchSizes) {
  // Gemma 2's window is 32: with 16-token batches the ring (47 slots) wraps several times over
  // the 132-token prompt, and the continuation must not change.
  const auto model = test::load_shared_model("synthetic/synth-gemma2-f16.gguf");
  const auto prompt = ramp_prompt(132);
  Session whole(model, {.context_length = 512, .threads = 1, .batch_size = 512});
  Session small(model, {.context_length = 512, .threads = 1, .batch_size = 16});
  EXPECT_EQ(whole.generate(prompt, test::greedy(16)).tokens, small.generate(prompt, test::greedy(16)).tokens);
}

TEST(Session, EvaluateLastReturnsTheLastTokensLogits) {
  // Q8_0 output head: several tokens take the int8 GEMM, one token the gemv; both quantize the
  // activations alike and sum the same integers, so only the float order differs.
  const auto model = test::load_shared_model("synthetic/synth-qwen2-Q8_0.gguf");
  const auto prompt = ramp_prompt(17);
  Session all(model, {.context_length = 64, .threads = 2});
  Session last(model, {.context_length = 64, .threads = 2});
  const auto every = all.evaluate(prompt);
  const auto only_last = last.evaluate_last(prompt);
  ASSERT_EQ(every.size(), prompt.size() * only_last.size());
  const auto every_last = every.end() - static_cast<std::ptrdiff_t>(only_last.size());
  float largest = 0;
  for (float v : only_last) largest = std::max(largest, std::fabs(v));
  for (size_t i = 0; i < only_last.size(); ++i) {
    ASSERT_NEAR(only_last[i], every_last[static_cast<std::ptrdiff_t>(i)], 1e-5f * largest) << "logit " << i;
  }
  EXPECT_EQ(last.tokens(), all.tokens());
  // Continuing after it sees the same cache.
  const TokenId next = 5;
  EXPECT_EQ(last.evaluate_last({&next, 1}), all.evaluate({&next, 1}));
  EXPECT_TRUE(last.evaluate_last({}).empty());
}

TEST(Session, LongRopeFactorsFollowTheContextLength) {
  // Phi-3: the short factors up to the original 4096 positions, the long ones beyond.
  const auto model = test::load_shared_model("synthetic/synth-phi3-f16.gguf");
  const auto prompt = ramp_prompt(20);
  const auto logits = [&](int64_t context) {
    Session session(model, {.context_length = context, .threads = 1});
    return session.evaluate(prompt);
  };
  const auto short_a = logits(512);
  EXPECT_EQ(short_a, logits(4096));
  EXPECT_NE(short_a, logits(8192));
}

TEST(Session, KvCacheTypes) {
  const auto model = test::load_shared_model("synthetic/synth-llama3-f16.gguf");
  const auto prompt = ramp_prompt(30);
  Session f16(model, {.context_length = 128, .threads = 1});
  const auto reference = f16.evaluate(prompt);
  for (auto type : {KvCacheType::F32, KvCacheType::Q8_0}) {
    Session other(model, {.context_length = 128, .threads = 1, .kv_type = type});
    const auto logits = other.evaluate(prompt);
    ASSERT_EQ(logits.size(), reference.size());
    double worst = 0;
    for (size_t i = 0; i < logits.size(); ++i) worst = std::max<double>(worst, std::fabs(logits[i] - reference[i]));
    EXPECT_LT(worst, 0.05);
  }
}

}  // namespace
}  // namespace bantam
