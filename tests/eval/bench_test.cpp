#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_support.hpp"

namespace bantam {
namespace {

TEST(BenchCli, JsonUsesLlamaBenchFieldNamesOneObjectPerTest) {
  const auto plot = test::temp_dir() / "bench.svg";
  const auto r = test::run_cli({"bench", "-m", test::shared("models/weights/stories260K.gguf").string(),
                                "-p", "32", "-n", "8", "-t", "1,2", "-r", "2", "-o", "json", "--plot", plot.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = nlohmann::json::parse(r.out);
  ASSERT_EQ(rows.size(), 4u);  // (pp32, tg8) x (1, 2 threads)
  // The chart: a bar per row.
  EXPECT_EQ(test::xml_error(plot), "");
  const std::string svg = test::read_file(plot);
  size_t bars = 0;
  for (size_t at = svg.find("class=\"bar\""); at != std::string::npos; at = svg.find("class=\"bar\"", at + 1)) ++bars;
  EXPECT_EQ(bars, rows.size());
  EXPECT_NE(svg.find("data-group=\"tg8\" data-series=\"2 threads\""), std::string::npos);
  for (const auto& row : rows) {
    for (const char* field : {"model_filename", "model_type", "model_size", "model_n_params", "n_prompt",
                              "n_gen", "n_threads", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts",
                              "samples_ns", "samples_ts", "build_commit", "cpu_info", "isa",
                              "peak_rss_bytes", "kv_cache_bytes", "load_ms", "ttft_cold_ms",
                              "ttft_warm_ms", "energy_j_per_token"}) {
      EXPECT_TRUE(row.contains(field)) << field;
    }
    EXPECT_EQ(row["samples_ts"].size(), 2u);
    EXPECT_GT(row["avg_ts"].get<double>(), 0);
    EXPECT_EQ(row["model_n_params"], 292800);
    EXPECT_EQ(row["model_type"], "llama 293K F32");
    // Cold includes process start and load; KV cache: 5 layers x 2 x 4 heads x 8 dims x F16 x ctx.
    EXPECT_GE(row["ttft_cold_ms"].get<double>(), row["load_ms"].get<double>());
    EXPECT_GT(row["ttft_warm_ms"].get<double>(), 0);
    EXPECT_GE(row["kv_cache_bytes"].get<uint64_t>(), 5u * 2 * 4 * 8 * 2 * 33);
    const double rss = row["peak_rss_bytes"].get<double>();
    EXPECT_GT(rss, 0);
    if (!row["energy_j_per_token"].is_number()) {
      EXPECT_TRUE(row.contains("energy_note"));
    }
  }
  // The peak RSS bantam reports agrees with the kernel's accounting of the process (5%).
  const double reported = rows.back()["peak_rss_bytes"].get<double>();
  EXPECT_NEAR(reported, r.max_rss_kb * 1024.0, 0.05 * r.max_rss_kb * 1024.0);
  EXPECT_EQ(rows[0]["n_prompt"], 32);
  EXPECT_EQ(rows[1]["n_gen"], 8);
  EXPECT_EQ(rows[2]["n_threads"], 2);
  EXPECT_NE(r.err.find("rep 2/2"), std::string::npos);  // progress on stderr
}

TEST(BenchCli, TableAndErrors) {
  const auto model = test::shared("models/weights/stories260K.gguf").string();
  auto r = test::run_cli({"bench", "-m", model, "-p", "16", "-n", "4", "-t", "1", "-r", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("pp16"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tg4"), std::string::npos) << r.out;
  r = test::run_cli({"bench", "-m", "/nonexistent.gguf", "-r", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent.gguf: does not exist"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bantam

namespace bantam {
namespace {

TEST(BenchCli, RunsOnASynthPreset) {
  const auto model = test::temp_dir() / "llama-1b-1layer.gguf";
  auto r = test::run_cli({"synth", "--preset", "llama-3.2-1b", "--type", "Q4_0", "--layers", "1", "--vocab",
                          test::shared("models/weights/stories260K.gguf").string(), model.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = test::run_cli({"bench", "-m", model.string(), "-p", "16", "-n", "4", "-t", "2", "-r", "1", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = nlohmann::json::parse(r.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["model_type"], "llama 62M Q4_0");
  EXPECT_GT(rows[0]["kv_cache_bytes"].get<uint64_t>(), 0u);
  EXPECT_GT(rows[1]["avg_ts"].get<double>(), 0);
}

}  // namespace
}  // namespace bantam
