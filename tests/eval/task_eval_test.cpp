#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_support.hpp"

namespace bantam {
namespace {

// stories260K continues "Once upon a time" greedily with ", there was a little girl named Lily."
// (ref/generation.json), so the first task is an exact match and the second is not.
TEST(EvalCli, ScoresGreedyAnswersWithLatency) {
  const auto tasks = test::temp_dir() / "tasks.jsonl";
  test::write_file(tasks,
                   R"({"prompt": "Once upon a time", "reference": "There was a little girl named Lily!", "stop": ["."]})"
                   "\n\n"
                   R"({"messages": [{"role": "user", "content": "Hi"}], "reference": "a dragon flew to the moon"})"
                   "\n");
  const auto model = test::shared("models/weights/stories260K.gguf").string();
  auto r = test::run_cli({"eval", "-m", model, "--tasks", tasks.string(), "--metric", "exact", "-n", "24", "-o",
                          "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["n"], 2);
  EXPECT_DOUBLE_EQ(j["items"][0]["score"].get<double>(), 1.0) << j["items"][0]["output"];
  EXPECT_EQ(j["items"][0]["stop_reason"], "stop_string");
  EXPECT_DOUBLE_EQ(j["items"][1]["score"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(j["score"].get<double>(), 0.5);
  EXPECT_GT(j["latency"]["ttft_ms"]["mean"].get<double>(), 0);
  EXPECT_GE(j["latency"]["latency_ms"]["p95"].get<double>(), j["latency"]["latency_ms"]["p50"].get<double>());

  r = test::run_cli({"eval", "-m", model, "--tasks", tasks.string(), "--metric", "rouge-l", "-n", "24", "-o",
                     "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_DOUBLE_EQ(j["items"][0]["score"].get<double>(), 1.0);
  EXPECT_LT(j["items"][1]["score"].get<double>(), 1.0);
}

TEST(EvalCli, MalformedTaskFilesNameTheLine) {
  const auto tasks = test::temp_dir() / "bad.jsonl";
  test::write_file(tasks, "{\"prompt\": \"x\", \"reference\": \"y\"}\n{\"prompt\": 3, \"reference\": \"y\"}\n");
  const auto model = test::shared("models/weights/stories260K.gguf").string();
  auto r = test::run_cli({"eval", "-m", model, "--tasks", tasks.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.jsonl:2: needs a string \"prompt\""), std::string::npos) << r.err;
  test::write_file(tasks, "not json\n");
  r = test::run_cli({"eval", "-m", model, "--tasks", tasks.string()});
  EXPECT_NE(r.err.find("bad.jsonl:1: not a JSON object"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bantam
