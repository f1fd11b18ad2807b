// `bantam route-calibrate` and `bantam route-eval` against a real "cloud" `bantam serve`.
#include <filesystem>

#include <fmt/format.h>

#include "serve/serve_fixture.hpp"

namespace bantam::test {
namespace {

using nlohmann::json;

std::string task_file() {
  return (std::filesystem::path(__FILE__).parent_path() / "data" / "stories_tasks.jsonl").string();
}

TEST(RouteCli, CalibratedThresholdEscalatesThatShareLive) {
  const auto calibrated = run_cli({"route-calibrate", "-m", stories_model(), "--tasks", task_file(), "--target-rate",
                                   "0.25", "-n", "16", "-t", "1", "-o", "json"});
  ASSERT_EQ(calibrated.exit_code, 0) << calibrated.err;
  const json c = json::parse(calibrated.out);
  EXPECT_EQ(c["tasks"], 24);
  EXPECT_EQ(c["escalated"], 6);  // round(0.25 * 24), no ties among these answers
  EXPECT_EQ(c["rule"], "mean-logprob");
  const double threshold = c["threshold"];

  ServerProcess cloud({"--alias", "cloud-model"});
  const auto plot = temp_dir() / "route.svg";
  const auto evaluated = run_cli({"route-eval", "-m", stories_model(), "--tasks", task_file(), "--cloud-url",
                                  "http://127.0.0.1:" + std::to_string(cloud.port()), "-n", "16", "-t", "1",
                                  "--thresholds", fmt::format("{:.9f}", threshold), "-o", "json", "--plot",
                                  plot.string()});
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  const json result = json::parse(evaluated.out);
  const json& rows = result["rows"];
  ASSERT_EQ(rows.size(), 3u);
  // The chart: a point per row at (share to the cloud, quality), the auto one named by its threshold.
  EXPECT_EQ(xml_error(plot), "");
  const std::string svg = read_file(plot);
  for (const json& row : rows) {
    const std::string series = row["config"];
    const std::string point = fmt::format("data-series=\"{}\" data-label=\"{}\" data-x=\"{:.6g}\" data-y=\"{:.6g}\"",
                                          series, series == "auto" ? fmt::format("--min-mean-logprob {:.3f}",
                                                                                 threshold) : series,
                                          row["share_cloud"].get<double>(), row["score"].get<double>());
    EXPECT_NE(svg.find(point), std::string::npos) << point << "\n" << svg;
  }
  EXPECT_EQ(rows[0]["config"], "local-only");
  EXPECT_EQ(rows[0]["share_cloud"], 0.0);
  EXPECT_EQ(rows[0]["router_overhead_ms"]["samples"], 24);
  EXPECT_EQ(rows[1]["config"], "cloud-only");
  EXPECT_EQ(rows[1]["share_cloud"], 1.0);
  EXPECT_EQ(rows[2]["config"], "auto");
  // The live router escalates exactly the share the calibration promised.
  EXPECT_DOUBLE_EQ(rows[2]["share_cloud"].get<double>(), c["achieved_rate"].get<double>());
  EXPECT_EQ(rows[2]["router_overhead_ms"]["samples"], 18);
  for (const json& row : rows) {
    EXPECT_GE(row["score"].get<double>(), 0.0);
    EXPECT_LE(row["score"].get<double>(), 1.0);
    EXPECT_GT(row["latency_ms"]["p50"].get<double>(), 0.0);
  }
  // The cloud answered the cloud-only run and the escalations.
  EXPECT_NE(http(cloud.port(), "GET", "/metrics").body.find("route=\"/v1/chat/completions\",status=\"200\"} 30"),
            std::string::npos);
}

TEST(RouteCli, BadTaskFilesAreNamedErrors) {
  const auto dir = temp_dir();
  write_file(dir / "bad.jsonl", "{\"prompt\": \"Hi\", \"reference\": \"x\"}\n{\"prompt\": 5, \"reference\": \"y\"}\n");
  auto r = run_cli({"route-calibrate", "-m", stories_model(), "--tasks", (dir / "bad.jsonl").string(), "--target-rate", "0.5"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.jsonl:2: needs a string \"prompt\""), std::string::npos) << r.err;
  write_file(dir / "empty.jsonl", "\n");
  r = run_cli({"route-calibrate", "-m", stories_model(), "--tasks", (dir / "empty.jsonl").string(), "--target-rate", "0.5"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no tasks"), std::string::npos) << r.err;
  r = run_cli({"route-calibrate", "-m", stories_model(), "--tasks", (dir / "empty.jsonl").string(), "--target-rate", "2"});
  EXPECT_NE(r.exit_code, 0);
  r = run_cli({"route-eval", "-m", stories_model(), "--tasks", (dir / "missing.jsonl").string(), "--cloud-url",
               "http://127.0.0.1:9"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("missing.jsonl: does not exist"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bantam::test
