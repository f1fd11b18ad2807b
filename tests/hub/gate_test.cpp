// The A/B gate of `bantam update --evaluate`: real models from a loopback hub for quality;
// latency decisions on injected figures only (timings are never asserted on).
#include "bantam/error.hpp"
#include "hub/quality_gate.hpp"
#include "watch_fixture.hpp"

namespace bantam::hub::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

MetricRun figures(const std::string& metric, double quality, double ttft_ms, double tokens_per_s) {
  MetricRun run;
  run.kind = "gate";
  run.tasks_sha256 = std::string(64, 'a');
  run.quality_metric = metric;
  run.values = {{figure::kQuality, quality}, {figure::kTtftP50, ttft_ms}, {figure::kTokensPerSecond, tokens_per_s}};
  return run;
}

const GateCheck& check_named(const GateResult& r, const std::string& name) {
  for (const auto& c : r.checks) {
    if (c.figure == name) return c;
  }
  throw Error("no check named " + name);
}

TEST(GateCompare, EqualFiguresPass) {
  const auto run = figures("perplexity", 3.5, 20, 100);
  const auto r = compare_runs(run, run, {});
  EXPECT_TRUE(r.passed());
  ASSERT_EQ(r.checks.size(), 3u);
  for (const auto& c : r.checks) EXPECT_EQ(c.change, 0.0) << c.figure;
  EXPECT_EQ(r.reasons(), "");
}

TEST(GateCompare, QualityDirectionFollowsTheMetric) {
  // Perplexity: lower is better.
  auto r = compare_runs(figures("perplexity", 4.0, 20, 100), figures("perplexity", 4.2, 20, 100), {});
  EXPECT_FALSE(r.passed());
  EXPECT_NEAR(check_named(r, "quality (perplexity)").change, 5.0, 1e-9);
  EXPECT_TRUE(compare_runs(figures("perplexity", 4.2, 20, 100), figures("perplexity", 4.0, 20, 100), {}).passed());
  // Scores: higher is better; a drop within the limit passes.
  r = compare_runs(figures("rouge-l", 0.80, 20, 100), figures("rouge-l", 0.79, 20, 100), {.max_quality_drop = 2});
  EXPECT_TRUE(r.passed());
  r = compare_runs(figures("rouge-l", 0.80, 20, 100), figures("rouge-l", 0.70, 20, 100), {.max_quality_drop = 2});
  EXPECT_FALSE(r.passed());
  EXPECT_THAT(r.reasons(), HasSubstr("quality (rouge-l) 12.5% worse (limit 2%)"));
}

TEST(GateCompare, LatencyRegressionsAreRefused) {
  const auto base = figures("exact", 1.0, 20, 100);
  // Twice the time to first token.
  auto r = compare_runs(base, figures("exact", 1.0, 40, 100), {});
  EXPECT_FALSE(r.passed());
  EXPECT_TRUE(check_named(r, "ttft_ms_p50").regressed);
  EXPECT_FALSE(check_named(r, "ms_per_token").regressed);
  // 100 -> 70 tokens/s is 43% more time per token.
  r = compare_runs(base, figures("exact", 1.0, 20, 70), {});
  EXPECT_FALSE(r.passed());
  EXPECT_NEAR(check_named(r, "ms_per_token").change, 100.0 * (1000.0 / 70 - 10) / 10, 1e-9);
  // A looser threshold accepts both.
  EXPECT_TRUE(compare_runs(base, figures("exact", 1.0, 40, 70), {.max_latency_rise = 150}).passed());
}

TEST(GateCompare, RunsOfDifferentTaskSetsDoNotCompare) {
  auto other = figures("perplexity", 3.5, 20, 100);
  other.tasks_sha256 = std::string(64, 'b');
  EXPECT_THAT([&] { compare_runs(figures("perplexity", 3.5, 20, 100), other, {}); },
              ThrowsMessage<Error>(HasSubstr("cannot compare")));
  EXPECT_THAT([&] { compare_runs(figures("perplexity", 3.5, 20, 100), figures("chrf", 3.5, 20, 100), {}); },
              ThrowsMessage<Error>(HasSubstr("cannot compare")));
}

TEST(GateEvaluation, PerplexitySeparatesTheTrainedModelFromRandomWeights) {
  EvaluationOptions o;
  o.tasks_file = test::temp_dir() / "tasks.jsonl";
  write_story_tasks(o.tasks_file);
  o.max_tokens = 4;
  o.repeat = 1;
  o.threads = 1;
  const auto runs = evaluate_models({stories(), stories(), random_stories_vocab()}, o);
  ASSERT_EQ(runs.size(), 3u);
  const double trained = *runs[0].value(figure::kQuality);
  EXPECT_EQ(trained, *runs[1].value(figure::kQuality));  // deterministic
  EXPECT_GT(trained, 1.0);
  // Random weights over a 512-token vocab cannot beat guessing by much.
  EXPECT_GT(*runs[2].value(figure::kQuality), 10 * trained);
  for (const auto& run : runs) {
    EXPECT_EQ(run.tasks_sha256, sha256_file(o.tasks_file));
    EXPECT_EQ(run.quality_metric, "perplexity");
    for (const char* key : {figure::kTtftP50, figure::kTtftP95, figure::kLatencyP95}) {
      EXPECT_TRUE(run.value(key).has_value()) << key;
    }
  }
}

// Latency is left out of these decisions (--max-latency-rise very high): the machine's speed
// must not decide a test. GateCompare covers latency refusals.
TEST_F(ModelWatch, GateRefusesARegressingCandidateActivatesAnEqualOneAndRollbackRestores) {
  publish(stories(), "1.0");
  pull("tiny");
  publish(random_stories_vocab(), "1.1");
  const auto refused =
      run_fail(quick({"update", "tiny", "--evaluate", tasks, "--max-latency-rise", "1000000"}));
  EXPECT_THAT(refused.out, HasSubstr("A/B gate for tiny: 1.0 (active) vs 1.1 (candidate)"));
  EXPECT_THAT(refused.out, HasSubstr("REGRESSED"));
  EXPECT_THAT(refused.out, HasSubstr("refused tiny 1.1: quality (perplexity)"));
  EXPECT_THAT(refused.err, HasSubstr("the A/B gate refused tiny 1.1"));
  expect_active(store, "tiny", "1.0", sha256_file(stories()));
  {
    const Store s = Store::open(store);
    EXPECT_FALSE(s.find("tiny")->previous.has_value());
    EXPECT_FALSE(s.catalog().find_version("tiny", "1.1").has_value());
    EXPECT_TRUE(files_in(s.dir() / "partial").empty());
    EXPECT_EQ(files_in(s.dir() / "blobs" / "sha256").size(), 1u);
    // The active version keeps the gate run it was measured in.
    const auto gates = s.catalog().runs(s.find("tiny")->active.id, "gate");
    ASSERT_EQ(gates.size(), 1u);
    EXPECT_EQ(gates[0].quality_metric, "perplexity");
    EXPECT_EQ(gates[0].tasks_sha256, sha256_file(tasks));
    const auto events = s.catalog().events("tiny");
    ASSERT_EQ(events.size(), 1u);
    EXPECT_THAT(events[0].message, HasSubstr("A/B gate refused 1.1 (active 1.0 kept)"));
  }

  // The same weights published again as 1.2: equal quality, activated.
  publish(stories(), "1.2");
  const auto accepted =
      run_ok(quick({"update", "tiny", "--evaluate", tasks, "--max-latency-rise", "1000000", "--json"}));
  const auto report = nlohmann::json::parse(accepted.out);
  ASSERT_EQ(report.size(), 1u);
  EXPECT_EQ(report[0]["candidate_version"], "1.2");
  EXPECT_EQ(report[0]["activated"], true);
  EXPECT_EQ(report[0]["checks"][0]["figure"], "quality (perplexity)");
  EXPECT_EQ(report[0]["checks"][0]["worse_by_percent"], 0.0);
  EXPECT_THAT(accepted.err, HasSubstr("updated tiny from 1.0 to 1.2"));
  expect_active(store, "tiny", "1.2", sha256_file(stories()));
  {
    const Store s = Store::open(store);
    const auto model = *s.find("tiny");
    ASSERT_TRUE(model.previous.has_value());
    EXPECT_EQ(model.previous->version, "1.0");
    const auto baseline = s.catalog().runs(model.active.id, "gate");
    ASSERT_EQ(baseline.size(), 1u);
    EXPECT_EQ(*baseline[0].value(figure::kQuality), report[0]["checks"][0]["candidate"].get<double>());
    EXPECT_EQ(s.catalog().runs(model.previous->id, "gate").size(), 2u);
  }

  EXPECT_THAT(run_ok({"rollback", "tiny", "--store", store}).out, HasSubstr("rolled back tiny from 1.2 to 1.0"));
  expect_active(store, "tiny", "1.0", sha256_file(stories()));
}

TEST_F(ModelWatch, GateWithAnAnswerMetricRefusesAQuantizedCandidate) {
  publish(stories(), "1.0");
  pull("tiny");
  publish(stories_q4(), "1.1");
  const auto refused = run_fail(
      quick({"update", "--evaluate", tasks, "--metric", "rouge-l", "--max-latency-rise", "1000000", "--json"}));
  const auto report = nlohmann::json::parse(refused.out);
  ASSERT_EQ(report.size(), 1u);
  EXPECT_EQ(report[0]["metric"], "rouge-l");
  EXPECT_EQ(report[0]["activated"], false);
  // stories260K reproduces llama.cpp's continuations; its Q4_0 copy drifts off them.
  EXPECT_GT(report[0]["checks"][0]["baseline"].get<double>(), report[0]["checks"][0]["candidate"].get<double>());
  EXPECT_TRUE(report[0]["checks"][0]["regressed"].get<bool>());
  expect_active(store, "tiny", "1.0", sha256_file(stories()));
}

TEST_F(ModelWatch, GateNeedsAnExistingTaskFile) {
  publish(stories(), "1.0");
  pull("tiny");
  EXPECT_THAT(run_fail({"update", "--store", store, "--evaluate", (test::temp_dir() / "none.jsonl").string()}).err,
              HasSubstr("no such file"));
}

}  // namespace
}  // namespace bantam::hub::testing
