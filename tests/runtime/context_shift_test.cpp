// Context shift (GenerateOptions::context_shift, SchedulerOptions::context_shift): generation goes
// on past several shifts of a full context, the kept start stays, positions stay valid.
//
// Valid positions are checked end to end on a sliding-window model (synth-llama3 with Mistral's
// sliding window of 32 on every layer set in its metadata; Llama 3 rope scaling): once the
// dropped tokens lie beyond what its two layers can see (twice the window), a shifted cache holds
// the same keys at the same *relative* positions as an unshifted one, and RoPE attention depends
// on relative positions only, so greedy output with shifts equals greedy output in a context that
// never fills, token for token (F32 cache; a wrong rotation or ring slot changes the logits).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "bantam/bantam.hpp"
#include "format/gguf.hpp"
#include "format/gguf_writer.hpp"
#include "runtime/generation.hpp"
#include "runtime/scheduler.hpp"
#include "runtime/runtime_test_support.hpp"

namespace bantam {
namespace {

GenerateOptions greedy(int max_tokens, bool shift) {
  GenerateOptions options;
  options.max_tokens = max_tokens;
  options.sampling.temperature = 0.0f;
  options.context_shift = shift;
  return options;
}

constexpr int64_t kContext = 64;

TEST(ContextShift, GenerationGoesOnPastSeveralShifts) {
  const auto model = test::load_shared_model("weights/stories260K.gguf");
  const std::vector<TokenId> prompt = model->tokenize("Once upon a time");
  Session session(model, {.context_length = kContext, .threads = 1});
  int calls = 0;
  const GenerateResult result = session.generate(prompt, greedy(300, true), [&](const TokenEvent& e) {
    if (e.id >= 0) ++calls;
    // Every token is evaluated at a position inside the context.
    EXPECT_LE(static_cast<int64_t>(session.tokens().size()), kContext);
    return true;
  });
  EXPECT_EQ(stop_reason_name(result.stop_reason), "max_tokens");
  EXPECT_EQ(result.tokens.size(), 300u);
  EXPECT_EQ(calls, 300);
  EXPECT_GE(result.context_shifts, 5);
  // The BOS stays first; the newest tokens are the sequence's end, in order.
  const std::vector<TokenId>& held = session.tokens();
  ASSERT_FALSE(held.empty());
  EXPECT_EQ(held.front(), prompt.front());
  const size_t tail = held.size() - 1;
  EXPECT_TRUE(std::equal(held.end() - static_cast<std::ptrdiff_t>(tail), held.end(),
                         result.tokens.end() - static_cast<std::ptrdiff_t>(tail) - 1));
}

TEST(ContextShift, WithoutItAFullContextEndsGeneration) {
  const auto model = test::load_shared_model("weights/stories260K.gguf");
  Session session(model, {.context_length = kContext, .threads = 1});
  const GenerateResult result = session.generate(model->tokenize("Once upon a time"), greedy(300, false));
  EXPECT_EQ(stop_reason_name(result.stop_reason), "context_full");
  EXPECT_EQ(result.context_shifts, 0);
}

TEST(ContextShift, KeepHoldsTheWholePrompt) {
  const auto model = test::load_shared_model("weights/stories260K.gguf");
  const std::vector<TokenId> prompt = model->tokenize("Once upon a time there was a little dog named Max");
  Session session(model, {.context_length = kContext, .threads = 1});
  GenerateOptions options = greedy(150, true);
  options.keep = -1;
  const GenerateResult result = session.generate(prompt, options);
  EXPECT_EQ(result.tokens.size(), 150u);
  EXPECT_GE(result.context_shifts, 3);
  ASSERT_GE(session.tokens().size(), prompt.size());
  EXPECT_TRUE(std::equal(prompt.begin(), prompt.end(), session.tokens().begin()));
}

TEST(ContextShift, AKeptStartFillingTheContextEndsGeneration) {
  const auto model = test::load_shared_model("weights/stories260K.gguf");
  std::vector<TokenId> prompt = model->tokenize("Once upon a time");
  // One free position: a shift would drop half of one token, nothing.
  while (static_cast<int64_t>(prompt.size()) < kContext - 1) prompt.push_back(prompt[1]);
  Session session(model, {.context_length = kContext, .threads = 1});
  GenerateOptions options = greedy(50, true);
  options.keep = -1;
  const GenerateResult result = session.generate(prompt, options);
  EXPECT_EQ(stop_reason_name(result.stop_reason), "context_full");
}

TEST(ContextShift, SlidingWindowOutputEqualsAnUnfilledContext) {
  const auto source = gguf::File::open(test::shared("models/synthetic/synth-llama3-f16.gguf").string());
  gguf::Writer windowed;
  windowed.copy_metadata(source);
  windowed.set("llama.attention.sliding_window", gguf::Value::u32(32));
  for (const gguf::TensorInfo& info : source.tensors()) {
    windowed.add_tensor_view(info.name, info.type, info.shape, source.tensor_data(info));
  }
  const auto path = test::temp_dir() / "synth-llama3-window32.gguf";
  windowed.write(path.string());
  const auto model = Model::load(path.string());
  std::vector<TokenId> prompt{1};
  for (int i = 1; i < 12; ++i) prompt.push_back(3 + (i * 37) % 500);
  const int n = 400;
  Session shifted(model, {.context_length = 128, .threads = 1, .kv_type = KvCacheType::F32, .batch_size = 8});
  const GenerateResult with_shifts = shifted.generate(prompt, greedy(n, true));
  Session roomy(model, {.context_length = 512, .threads = 1, .kv_type = KvCacheType::F32, .batch_size = 8});
  const GenerateResult without = roomy.generate(prompt, greedy(n, false));
  ASSERT_GE(without.tokens.size(), 250u);  // the model ends its text after about 300
  EXPECT_GE(with_shifts.context_shifts, 3);
  EXPECT_EQ(with_shifts.tokens, without.tokens);
}

struct IgnoreReports : SchedulerObserver {
  void prompt_tokens_evaluated(int64_t) override {}
  void token_sampled(bool, double) override {}
  void embedding_tokens_evaluated(int64_t) override {}
};

TEST(ContextShift, TheSchedulerShiftsAsTheSessionDoes) {
  const auto model = test::load_shared_model("weights/stories260K.gguf");
  const std::vector<TokenId> prompt = model->tokenize("Once upon a time");
  Session session(model, {.context_length = kContext, .threads = 1});
  const GenerateResult expected = session.generate(prompt, greedy(200, true));
  ASSERT_GE(expected.context_shifts, 3);

  IgnoreReports reports;
  // The server's flag turns shifting on for every request.
  Scheduler scheduler(model, {.slots = 2, .context = kContext, .threads = 1, .context_shift = true}, reports);
  const auto job = scheduler.submit({prompt, GenerationSpec::from(greedy(200, false)), nullptr, ""});
  std::vector<GeneratedToken> events;
  while (!job->wait(events, std::chrono::milliseconds(100))) {
  }
  std::vector<TokenId> tokens;
  for (const GeneratedToken& e : events) {
    if (e.id >= 0) tokens.push_back(e.id);
  }
  EXPECT_EQ(stop_reason_name(job->finish_reason()), "max_tokens");
  EXPECT_EQ(tokens, expected.tokens);
}

}  // namespace
}  // namespace bantam
