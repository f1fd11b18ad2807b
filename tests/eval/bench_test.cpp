#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_support.hpp"

namespace bantam {
namespace {

TEST(BenchCli, JsonUsesLlamaBenchFieldNamesOneObjectPerTest) {
  const auto r = test::run_cli({"bench", "-m", test::shared("models/weights/stories260K.gguf").string(),
                                "-p", "32", "-n", "8", "-t", "1,2", "-r", "2", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = nlohmann::json::parse(r.out);
  ASSERT_EQ(rows.size(), 4u);  // (pp32, tg8) x (1, 2 threads)
  for (const auto& row : rows) {
    for (const char* field : {"model_filename", "model_type", "model_size", "model_n_params", "n_prompt",
                              "n_gen", "n_threads", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts",
                              "samples_ns", "samples_ts", "build_commit", "cpu_info", "isa",
                              "peak_rss_bytes"}) {
      EXPECT_TRUE(row.contains(field)) << field;
    }
    EXPECT_EQ(row["samples_ts"].size(), 2u);
    EXPECT_GT(row["avg_ts"].get<double>(), 0);
    EXPECT_EQ(row["model_n_params"], 292800);
    EXPECT_EQ(row["model_type"], "llama 293K F32");
  }
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
  EXPECT_NE(r.err.find("cannot open"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bantam
