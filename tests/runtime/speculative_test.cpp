// Speculative decoding: prompt lookup, the draft controller, rejection sampling's distribution,
// and Session's output with drafts equal to its output without (greedy, token for token, over
// several model pairs with stop strings, a JSON schema, a LoRA adapter and a sliding window).
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "bantam/bantam.hpp"
#include "runtime/sampler.hpp"
#include "runtime/speculative.hpp"
#include "runtime/runtime_test_support.hpp"

namespace bantam {
namespace {

SessionOptions with_speculation(SpeculativeOptions speculative, std::vector<AdapterUse> adapters = {}) {
  return {.context_length = 512, .threads = 1, .adapters = std::move(adapters), .speculative = std::move(speculative)};
}

// Pearson's chi-square of observed counts against expected probabilities.
double chi_square(const std::map<TokenId, int>& counts, const std::map<TokenId, double>& expected, int n) {
  double chi2 = 0;
  for (const auto& [id, p] : expected) {
    const auto it = counts.find(id);
    const double observed = it == counts.end() ? 0 : it->second;
    chi2 += (observed - n * p) * (observed - n * p) / (n * p);
  }
  for (const auto& [id, count] : counts) {
    if (!expected.contains(id)) ADD_FAILURE() << "token " << id << " drawn " << count << " times, probability 0";
  }
  return chi2;
}

TEST(PromptLookup, ContinuesTheLatestLongestMatch) {
  const std::vector<TokenId> sequence{5, 6, 7, 8, 1, 6, 7, 9, 2, 6, 7};
  // "6 7" occurs at 1 and 5: the latest (5) is followed by 9 2 6 7.
  EXPECT_EQ(lookup_draft(sequence, 2, 3), (std::vector<TokenId>{9, 2, 6}));
  EXPECT_EQ(lookup_draft(sequence, 2, 10), (std::vector<TokenId>{9, 2, 6, 7}));
  // A 3-gram "2 6 7" has no earlier occurrence: falls back to the 2-gram.
  EXPECT_EQ(lookup_draft(sequence, 3, 1), (std::vector<TokenId>{9}));
  EXPECT_TRUE(lookup_draft(std::vector<TokenId>{1, 2, 3}, 2, 4).empty());
  EXPECT_TRUE(lookup_draft(std::vector<TokenId>{4}, 2, 4).empty());
}

TEST(PromptLookup, IgnoresMatchesShorterThanTheMinimum) {
  const std::vector<TokenId> sequence{5, 6, 7, 8, 1, 7};
  EXPECT_EQ(lookup_draft(sequence, 3, 2), (std::vector<TokenId>{8, 1}));  // "7" alone
  EXPECT_TRUE(lookup_draft(sequence, 3, 2, 2).empty());
  EXPECT_EQ(lookup_draft(std::vector<TokenId>{5, 6, 7, 5, 6}, 3, 2, 2), (std::vector<TokenId>{7, 5}));
}

TEST(ExpectedTokensPerPass, FollowsTheGeometricSeries) {
  EXPECT_DOUBLE_EQ(expected_tokens_per_pass(0.0, 4), 1.0);
  EXPECT_DOUBLE_EQ(expected_tokens_per_pass(1.0, 4), 5.0);
  EXPECT_NEAR(expected_tokens_per_pass(0.5, 2), 1.75, 1e-12);
}

// Two plain steps of 1 second each, which the controller measures before any drafting.
void measure_plain(DraftController& controller) {
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(controller.next_length(DraftSource::Lookup), 0);
    controller.record_plain(1.0);
  }
}

TEST(DraftController, GrowsOnFullAcceptanceAndShrinksToTheAcceptedCount) {
  DraftController controller(SpeculativeOptions{.lookup = 2, .draft_max = 8});
  measure_plain(controller);
  EXPECT_EQ(controller.next_length(DraftSource::Lookup), 2);  // short first drafts
  controller.record(DraftSource::Lookup, 2, 2, 1.1, 0.0);
  EXPECT_EQ(controller.next_length(DraftSource::Lookup), 4);
  controller.record(DraftSource::Lookup, 4, 4, 1.2, 0.0);
  EXPECT_EQ(controller.next_length(DraftSource::Lookup), 6);
  controller.record(DraftSource::Lookup, 6, 1, 1.3, 0.0);
  EXPECT_EQ(controller.next_length(DraftSource::Lookup), 2);
  EXPECT_GT(controller.expected_gain(DraftSource::Lookup), 1.5);
}

TEST(DraftController, PausesLookupWhenTheExpectedGainFallsBelowOne) {
  DraftController controller(SpeculativeOptions{.lookup = 2, .draft_max = 8});
  measure_plain(controller);
  // Every draft rejected, verifying two tokens costs 1.3 steps: drafting cannot pay.
  int passes = 0;
  while (controller.next_length(DraftSource::Lookup) > 0 && passes < 10) {
    controller.record(DraftSource::Lookup, 1, 0, 1.3, 0.0);
    ++passes;
  }
  EXPECT_LE(passes, 3);  // judged within a few passes
  EXPECT_LT(controller.expected_gain(DraftSource::Lookup), 1.0);
  for (int i = 1; i < 32; ++i) EXPECT_EQ(controller.next_length(DraftSource::Lookup), 0) << i;
  EXPECT_EQ(controller.next_length(DraftSource::Lookup), 1);  // tried again, with one token
  controller.record(DraftSource::Lookup, 1, 0, 1.3, 0.0);
  for (int i = 0; i < 128; ++i) EXPECT_EQ(controller.next_length(DraftSource::Lookup), 0) << i;
  EXPECT_EQ(controller.next_length(DraftSource::Lookup), 1);  // paused four times as long
  // Accepted again and cheap to verify: drafting resumes and grows.
  controller.record(DraftSource::Lookup, 1, 1, 1.05, 0.0);
  controller.record(DraftSource::Lookup, 3, 3, 1.1, 0.0);
  EXPECT_EQ(controller.next_length(DraftSource::Lookup), 5);
}

TEST(DraftController, PausesWhereRecentPassesRealizedLessThanPlainDecoding) {
  DraftController controller(SpeculativeOptions{.lookup = 2, .draft_max = 8});
  measure_plain(controller);
  // Verification looks free and every draft is accepted, but each pass took 5 plain steps in all
  // (a cost the model does not see): judged on the realized gain after three passes.
  for (int i = 0; i < 3; ++i) {
    ASSERT_GT(controller.next_length(DraftSource::Lookup), 0) << i;
    controller.record(DraftSource::Lookup, 2, 2, 5.0, 4.0);
  }
  EXPECT_GT(controller.expected_gain(DraftSource::Lookup), 1.0);
  EXPECT_EQ(controller.next_length(DraftSource::Lookup), 0);
}

TEST(DraftController, GivesUpADraftModelSlowerThanItCanEverRecover) {
  DraftController controller(SpeculativeOptions{.draft_max = 8});
  measure_plain(controller);
  ASSERT_EQ(controller.next_length(DraftSource::Model), 2);
  // All accepted, but each draft forward pass costs as much as a target step: never pays.
  controller.record(DraftSource::Model, 2, 2, 3.2, 2.0, 2, 2.0);
  EXPECT_TRUE(controller.given_up(DraftSource::Model));
  for (int i = 0; i < 300; ++i) EXPECT_EQ(controller.next_length(DraftSource::Model), 0) << i;
  // Lookup is judged apart.
  EXPECT_EQ(controller.next_length(DraftSource::Lookup), 2);
}

TEST(DraftController, KeepsACheapWellAcceptedDraftModel) {
  DraftController controller(SpeculativeOptions{.draft_max = 8});
  measure_plain(controller);
  for (int i = 0; i < 20; ++i) {
    const int length = controller.next_length(DraftSource::Model);
    ASSERT_GT(length, 0) << i;
    controller.record(DraftSource::Model, length, length, 1.2 + 0.1 * length, 0.1 * length, length, 0.1 * length);
  }
  EXPECT_FALSE(controller.given_up(DraftSource::Model));
  EXPECT_EQ(controller.next_length(DraftSource::Model), 8);
}

TEST(DraftController, FixedLengthWithoutAdaptation) {
  DraftController controller(SpeculativeOptions{.lookup = 2, .draft_max = 5, .adaptive = false});
  controller.record(DraftSource::Lookup, 5, 0, 100.0, 0.0);
  EXPECT_EQ(controller.next_length(DraftSource::Lookup), 5);
  EXPECT_EQ(controller.next_length(DraftSource::Model), 5);
}

// Rejection sampling keeps the target's distribution whatever the draft proposes: a certain
// draft (lookup), and drafts drawn from a distribution unlike the target's.
TEST(SpeculativeSampling, ResultIsDistributedAsTheTargetsSampler) {
  const std::vector<float> logits{2.0f, 1.5f, 0.3f, -0.5f, 1.0f, -3.0f};
  SamplingOptions sampling{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = 7};
  Sampler target(sampling);
  std::map<TokenId, double> expected;
  for (const auto& c : target.distribution(logits, {})) expected[c.id] = c.p;
  const std::vector<Sampler::Candidate> draft_distribution{{5, 0, 0.5f}, {3, 0, 0.3f}, {0, 0, 0.2f}};
  Sampler draft_sampler(SamplingOptions{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = 11});
  constexpr int kDraws = 20000;
  std::map<TokenId, int> with_certain_draft, with_drawn_draft;
  for (int i = 0; i < kDraws; ++i) {
    ++with_certain_draft[target.sample_against_draft(logits, {}, 1, {}).id];
    const TokenId draft = draft_sampler.draw(draft_distribution);
    const TokenId id = target.sample_against_draft(logits, {}, draft, draft_distribution).id;
    ++with_drawn_draft[id];
  }
  // 5 degrees of freedom: the 0.99999 quantile is about 32 (fixed seeds: no flakiness either way).
  EXPECT_LT(chi_square(with_certain_draft, expected, kDraws), 32.0);
  EXPECT_LT(chi_square(with_drawn_draft, expected, kDraws), 32.0);
}

TEST(SpeculativeSampling, GreedyKeepsExactlyTheArgmax) {
  const std::vector<float> logits{0.1f, 3.0f, 2.9f};
  Sampler sampler(SamplingOptions{.temperature = 0.0f});
  EXPECT_EQ(sampler.sample_against_draft(logits, {}, 1, {}).id, 1);
  EXPECT_EQ(sampler.sample_against_draft(logits, {}, 2, {}).id, 1);
  const std::vector<Sampler::Candidate> q{{2, 0, 0.9f}, {1, 0, 0.1f}};
  EXPECT_EQ(sampler.sample_against_draft(logits, {}, 2, q).id, 1);
}

// The first two sampled tokens of stories260K (top-k 3: nine outcomes at most), drawn over many
// seeds with a Q4_0 draft proposing the second, against their exact probabilities.
TEST(SpeculativeSampling, SessionSamplesTheModelsDistribution) {
  const auto model = test::load_shared_model("weights/stories260K.gguf");
  const auto draft = test::load_shared_model("weights/stories260K-Q4_0.gguf");
  const std::vector<TokenId> prompt = model->tokenize("Once upon a time");
  GenerateOptions options;
  options.max_tokens = 2;
  options.sampling = {.temperature = 1.5f, .top_k = 3, .top_p = 1.0f, .min_p = 0.0f};

  Session plain(model, {.context_length = 64, .threads = 1});
  Sampler exact(options.sampling);
  std::map<TokenId, double> expected;
  const auto first = exact.distribution(plain.evaluate_last(prompt), {});
  for (const auto& a : first) {
    std::vector<TokenId> prefix = prompt;
    prefix.push_back(a.id);
    plain.reset();
    for (const auto& b : exact.distribution(plain.evaluate_last(prefix), {})) expected[a.id * 1000 + b.id] = a.p * b.p;
  }

  Session speculative(model, with_speculation({.draft = draft, .draft_max = 1, .draft_p_min = 0.0f, .adaptive = false}));
  constexpr int kRuns = 1500;
  std::map<TokenId, int> counts;
  int64_t drafted = 0, accepted = 0;
  for (int seed = 1; seed <= kRuns; ++seed) {
    options.sampling.seed = static_cast<uint64_t>(seed);
    const auto result = speculative.generate(prompt, options);
    ASSERT_EQ(result.tokens.size(), 2u);
    ++counts[result.tokens[0] * 1000 + result.tokens[1]];
    drafted += result.drafted_tokens;
    accepted += result.accepted_tokens;
  }
  EXPECT_EQ(drafted, kRuns);  // the second token of every run went through verification
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, drafted);
  // At most 8 degrees of freedom: their 0.99999 quantile is about 38.
  EXPECT_LT(chi_square(counts, expected, kRuns), 38.0);
}

struct Pair {
  std::string target, draft;  // draft empty: prompt lookup alone
};

// Greedy output with drafts equals the output without, token for token.
void expect_same_greedy_output(const Pair& pair, const std::string& prompt_text, GenerateOptions options,
                               std::vector<AdapterUse> adapters = {}) {
  SCOPED_TRACE(pair.target + " drafted by " + (pair.draft.empty() ? "lookup" : pair.draft));
  const auto model = test::load_shared_model(pair.target);
  // Every draft proposed (p_min 0), so that verification, not the draft's doubt, decides.
  SpeculativeOptions speculative{.lookup = 3, .draft_max = 6, .draft_p_min = 0.0f, .adaptive = false};
  if (!pair.draft.empty()) speculative.draft = test::load_shared_model(pair.draft);
  const std::vector<TokenId> prompt = model->tokenize(prompt_text);
  Session plain(model, with_speculation({}, adapters));
  Session drafted(model, with_speculation(speculative, adapters));
  const auto expected = plain.generate(prompt, options);
  const auto result = drafted.generate(prompt, options);
  EXPECT_EQ(result.tokens, expected.tokens);
  EXPECT_EQ(result.text, expected.text);
  EXPECT_EQ(result.stop_reason, expected.stop_reason);
  EXPECT_GT(result.drafted_tokens, 0);
  EXPECT_LT(result.forward_passes, expected.forward_passes + 1);
  // A second call reuses the cache the drafts wrote past.
  const auto again = drafted.generate(prompt, options);
  EXPECT_EQ(again.tokens, expected.tokens);
}

const char* kCopyPrompt = "Lily saw a big red ball in the park. She wanted to play with it. Lily saw a big";

TEST(SpeculativeGreedy, SameTokensAsPlainDecoding) {
  const std::vector<Pair> pairs{{"weights/stories260K-Q8_0.gguf", "weights/stories260K-Q4_0.gguf"},
                                {"weights/stories260K-Q4_0.gguf", "weights/stories260K.gguf"},
                                {"weights/stories260K.gguf", "weights/stories260K-Q8_0.gguf"},
                                {"weights/stories260K-Q8_0.gguf", ""},
                                {"synthetic/synth-phi3-Q8_0.gguf", "synthetic/synth-phi3-Q4_0.gguf"},
                                {"synthetic/synth-qwen2-Q4_0.gguf", ""}};
  for (const Pair& pair : pairs) {
    expect_same_greedy_output(pair, kCopyPrompt, test::greedy(80));
    expect_same_greedy_output(pair, "Once upon a time", test::greedy(60));
  }
}

TEST(SpeculativeGreedy, StopStringsGrammarAndLora) {
  const Pair pair{"weights/stories260K-Q8_0.gguf", "weights/stories260K-Q4_0.gguf"};
  auto stopped = test::greedy(100);
  stopped.stop = {"ball"};
  expect_same_greedy_output(pair, kCopyPrompt, stopped);
  auto json = test::greedy(60);
  json.json_schema = R"({"type":"object","properties":{"name":{"type":"string"}},"required":["name"]})";
  expect_same_greedy_output(pair, "Once upon a time", json);
  const auto adapter = Adapter::load(test::shared("models/adapters/stories260K-lora-qvd-r8-f32.gguf").string(),
                                     *test::load_shared_model(pair.target));
  expect_same_greedy_output(pair, kCopyPrompt, test::greedy(60), {{adapter, 0.7f}});
}

TEST(SpeculativeDraft, RefusesADraftWithAnotherVocabulary) {
  const auto model = test::load_shared_model("weights/stories260K.gguf");
  const auto other = test::load_shared_model("weights/llama-2-tiny-random.gguf");
  try {
    Session session(model, with_speculation({.draft = other}));
    FAIL() << "a draft with another vocabulary was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocabulary"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace bantam
