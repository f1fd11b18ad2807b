// Every CLI command that takes a model accepts NAME[:VERSION] of an installed model: the CLI
// resolves it to the store's file (cli/model_file.hpp) before the library sees a path.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>

#include "store_install.hpp"
#include "test_support.hpp"

namespace bantam::test {
namespace {

using ::testing::HasSubstr;

class ModelNames : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* old = std::getenv("XDG_DATA_HOME")) saved_ = old;
    const auto data_home = temp_dir();
    ::setenv("XDG_DATA_HOME", data_home.c_str(), 1);  // the CLI's default store: DATA_HOME/bantam
    install_in_store(data_home / "bantam", stories_, "1");
    install_in_store(data_home / "bantam", shared("models/synthetic/synth-llama3-f16.gguf"), "2");
  }
  void TearDown() override {
    if (saved_) ::setenv("XDG_DATA_HOME", saved_->c_str(), 1);
    else ::unsetenv("XDG_DATA_HOME");
  }
  RunResult run_ok(const std::vector<std::string>& args) {
    auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << ::testing::PrintToString(args) << "\n" << r.err;
    return r;
  }

  const std::string stories_ = shared("models/weights/stories260K.gguf").string();
  std::optional<std::string> saved_;
};

TEST_F(ModelNames, TokenizeInspectAndTemplateReadTheNamedVersion) {
  const std::string from_file = run_ok({"tokenize", "-m", stories_, "-p", "Once upon a time"}).out;
  EXPECT_EQ(run_ok({"tokenize", "-m", "tiny:1", "-p", "Once upon a time"}).out, from_file);
  EXPECT_EQ(run_ok({"detokenize", "-m", "tiny:1", "1", "400", "401"}).out,
            run_ok({"detokenize", "-m", stories_, "1", "400", "401"}).out);
  // The active version is the last installed: the synthetic llama3 model.
  EXPECT_THAT(run_ok({"inspect", "tiny"}).out, HasSubstr("synthetic test model"));
  EXPECT_THAT(run_ok({"inspect", "tiny:1"}).out, HasSubstr("1185376 bytes"));
  const auto messages = temp_dir() / "messages.json";
  write_file(messages, R"([{"role": "user", "content": "Hi"}])");
  EXPECT_THAT(run_ok({"template", "-m", "tiny:1", "--messages", messages.string()}).out, HasSubstr("[INST] Hi"));
}

TEST_F(ModelNames, BenchRunAndPerplexityLoadTheNamedVersion) {
  EXPECT_THAT(run_ok({"bench", "-m", "tiny:1", "-p", "8", "-n", "2", "-r", "1", "-t", "1", "-o", "csv"}).out,
              HasSubstr("llama"));
  EXPECT_EQ(run_ok({"run", "-m", "tiny:1", "-p", "Once", "-n", "8", "--temp", "0", "-t", "1"}).out,
            run_ok({"run", "-m", stories_, "-p", "Once", "-n", "8", "--temp", "0", "-t", "1"}).out);
  EXPECT_THAT(run_ok({"perplexity", "-m", "tiny:1", "-f", shared("corpus/small-llms-essay.txt").string(), "-c",
                      "64", "--chunks", "2", "-t", "1"})
                  .out,
              HasSubstr("PPL = "));
}

TEST_F(ModelNames, RmOfOneVersionKeepsTheOther) {
  run_ok({"rm", "tiny:2"});  // the active version: the previous one takes its place
  EXPECT_THAT(run_ok({"inspect", "tiny"}).out, HasSubstr("1185376 bytes"));
  auto r = run_cli({"rm", "tiny:7"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("tiny has no version 7 (installed: 1)"));
  run_ok({"rm", "tiny:1"});
  r = run_cli({"inspect", "tiny"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no model named tiny"));
}

TEST_F(ModelNames, UnknownNamesAndVersionsAreClearErrors) {
  auto r = run_cli({"inspect", "nosuch"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no model named nosuch"));
  r = run_cli({"tokenize", "-m", "tiny:9", "-p", "x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("9"));
}

}  // namespace
}  // namespace bantam::test
