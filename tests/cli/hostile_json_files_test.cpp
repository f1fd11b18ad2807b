// JSON files the CLI reads (template --messages, eval --tasks, --hybrid-config) nested 100,000
// deep: each is refused with one line naming the file, the limit and where, exit code 1.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_support.hpp"

namespace bantam {
namespace {

using ::testing::HasSubstr;

std::string deep_arrays() { return std::string(100000, '[') + std::string(100000, ']'); }
std::string model() { return test::shared("models/weights/stories260K.gguf").string(); }

void expect_refused(const test::RunResult& r, const std::string& where) {
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.err, HasSubstr("JSON nested deeper than 128 levels (at " + where));
}

TEST(HostileJsonFiles, TemplateMessagesFile) {
  const auto messages = test::temp_dir() / "messages.json";
  test::write_file(messages, R"([{"role":"user","content":)" + deep_arrays() + "}]");
  expect_refused(test::run_cli({"template", "-m", model(), "--messages", messages.string()}), "[0].content[0]");
}

TEST(HostileJsonFiles, EvalTaskLine) {
  const auto tasks = test::temp_dir() / "tasks.jsonl";
  test::write_file(tasks, R"({"prompt":"x","reference":"y"})" "\n" R"({"prompt":"x","reference":"y","z":)" +
                              deep_arrays() + "}\n");
  const auto r = test::run_cli({"eval", "-m", model(), "--tasks", tasks.string()});
  expect_refused(r, "z[0]");
  EXPECT_THAT(r.err, HasSubstr("tasks.jsonl:2:"));
}

TEST(HostileJsonFiles, HybridConfig) {
  const auto config = test::temp_dir() / "hybrid.json";
  test::write_file(config, R"({"router":)" + deep_arrays() + "}");
  const auto r = test::run_cli({"serve", "-m", model(), "--port", "0", "--hybrid-config", config.string()});
  expect_refused(r, "router[0]");
  EXPECT_THAT(r.err, HasSubstr("hybrid config " + config.string()));
}

}  // namespace
}  // namespace bantam
