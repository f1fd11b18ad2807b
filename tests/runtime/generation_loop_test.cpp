// The one generation loop: Session (the CLI's and the library's path) and the Scheduler (the
// server's, batched) step the same Generation, so the same request and seed give the same
// tokens, text and stop reason on both paths: greedy, sampled with penalties, a stop string,
// max tokens, a JSON schema. The server's request defaults are the CLI's.
#include <gtest/gtest.h>

#include "bantam/bantam.hpp"
#include "runtime/generation.hpp"
#include "runtime/generation_params.hpp"
#include "runtime/scheduler.hpp"
#include "runtime/runtime_test_support.hpp"

namespace bantam {
namespace {

struct IgnoreReports : SchedulerObserver {
  void prompt_tokens_evaluated(int64_t) override {}
  void token_sampled(bool, double) override {}
  void embedding_tokens_evaluated(int64_t) override {}
};

struct Outcome {
  std::vector<TokenId> tokens;
  std::string text;
  StopReason reason = StopReason::Error;
};

constexpr int64_t kContext = 256;

std::shared_ptr<const Model> stories() {
  static const auto model = Model::load(test::shared("models/weights/stories260K.gguf").string());
  return model;
}

std::vector<TokenId> prompt() { return stories()->tokenize("Once upon a time"); }

Outcome through_session(const GenerateOptions& options) {
  Session session(stories(), {.context_length = kContext, .threads = 1});
  const GenerateResult r = session.generate(prompt(), options);
  return {r.tokens, r.text, r.stop_reason};
}

Outcome through_scheduler(const GenerateOptions& options) {
  IgnoreReports reports;
  Scheduler scheduler(stories(), {.slots = 2, .context = kContext, .threads = 1}, reports);
  const auto job = scheduler.submit({prompt(), GenerationSpec::from(options), nullptr, ""});
  std::vector<GeneratedToken> events;
  while (!job->wait(events, std::chrono::milliseconds(100))) {
  }
  Outcome out;
  for (const GeneratedToken& e : events) {
    out.text += e.text;
    if (e.id >= 0) out.tokens.push_back(e.id);
  }
  out.reason = job->finish_reason();
  return out;
}

void expect_same_on_both_paths(const GenerateOptions& options, StopReason expected) {
  const Outcome session = through_session(options);
  const Outcome scheduler = through_scheduler(options);
  EXPECT_EQ(session.tokens, scheduler.tokens);
  EXPECT_EQ(session.text, scheduler.text);
  EXPECT_EQ(stop_reason_name(session.reason), stop_reason_name(expected));
  EXPECT_EQ(stop_reason_name(scheduler.reason), stop_reason_name(expected));
}

TEST(GenerationLoop, GreedyIsTheSameOnBothPaths) { expect_same_on_both_paths(test::greedy(40), StopReason::MaxTokens); }

TEST(GenerationLoop, SampledWithPenaltiesIsTheSameOnBothPaths) {
  GenerateOptions options;
  options.max_tokens = 48;
  options.sampling.seed = 1234;
  options.sampling.temperature = 1.2f;
  options.sampling.repeat_penalty = 1.3f;  // looks back over the prompt too, on both paths
  options.sampling.frequency_penalty = 0.5f;
  expect_same_on_both_paths(options, StopReason::MaxTokens);
  EXPECT_NE(through_session(options).tokens, through_session(test::greedy(48)).tokens);
}

TEST(GenerationLoop, StopStringIsTheSameOnBothPaths) {
  GenerateOptions options = test::greedy(100);
  options.stop = {"Lily"};
  expect_same_on_both_paths(options, StopReason::StopString);
  EXPECT_EQ(through_scheduler(options).text, ", there was a little girl named ");
}

TEST(GenerationLoop, MaxTokensIsTheSameOnBothPaths) {
  GenerateOptions options;
  options.max_tokens = 5;
  options.sampling.seed = 99;
  expect_same_on_both_paths(options, StopReason::MaxTokens);
  EXPECT_EQ(through_session(options).tokens.size(), 5u);
}

TEST(GenerationLoop, JsonSchemaIsTheSameOnBothPaths) {
  GenerateOptions options;
  options.max_tokens = 60;
  options.sampling.seed = 7;
  options.json_schema = R"({"type": "object", "properties": {"a": {"type": "boolean"}}, "required": ["a"]})";
  const Outcome session = through_session(options);
  EXPECT_TRUE(session.text == R"({"a":true})" || session.text == R"({"a":false})") << session.text;
  expect_same_on_both_paths(options, session.reason);
  EXPECT_TRUE(session.reason == StopReason::GrammarComplete || session.reason == StopReason::EndOfGeneration)
      << stop_reason_name(session.reason);
}

TEST(GenerationLoop, AnUnenforceableSchemaIsAnErrorNamingTheKeyword) {
  GenerateOptions options = test::greedy(4);
  options.json_schema = R"({"type": "string", "pattern": "a+"})";
  try {
    through_session(options);
    FAIL() << "the schema was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("pattern"), std::string::npos) << e.what();
  }
}

TEST(GenerationLoop, ZeroMaxTokensGeneratesNothing) { expect_same_on_both_paths(test::greedy(0), StopReason::MaxTokens); }

// The parameter table's defaults are the library's, which the CLI's flags start from.
TEST(GenerationLoop, ParameterDefaultsAreTheLibrarysDefaults) {
  const SamplingOptions s;
  EXPECT_EQ(generation_param("temperature").default_value, s.temperature);
  EXPECT_EQ(generation_param("top_k").default_value, s.top_k);
  EXPECT_EQ(generation_param("top_p").default_value, s.top_p);
  EXPECT_EQ(generation_param("min_p").default_value, s.min_p);
  EXPECT_EQ(generation_param("repeat_penalty").default_value, s.repeat_penalty);
  EXPECT_EQ(generation_param("repeat_last_n").default_value, s.penalty_last_n);
  EXPECT_EQ(generation_param("presence_penalty").default_value, s.presence_penalty);
  EXPECT_EQ(generation_param("frequency_penalty").default_value, s.frequency_penalty);
  EXPECT_EQ(generation_param("seed").default_value, static_cast<double>(s.seed));
  EXPECT_EQ(generation_param("max_tokens").default_value, GenerateOptions{}.max_tokens);
}

TEST(GenerationLoop, OpenAiFinishReasons) {
  EXPECT_EQ(openai_finish_reason(StopReason::EndOfGeneration), "stop");
  EXPECT_EQ(openai_finish_reason(StopReason::StopString), "stop");
  EXPECT_EQ(openai_finish_reason(StopReason::GrammarComplete), "stop");
  EXPECT_EQ(openai_finish_reason(StopReason::MaxTokens), "length");
  EXPECT_EQ(openai_finish_reason(StopReason::ContextFull), "length");
}

}  // namespace
}  // namespace bantam
