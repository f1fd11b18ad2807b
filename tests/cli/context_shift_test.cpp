// `--context-shift` and `--keep` on the command line: run goes on past -c with the shifts counted
// on stderr, and without the flag stops at a full context; chat and serve take the flag too.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_support.hpp"

namespace bantam {
namespace {

using ::testing::HasSubstr;

std::string model() { return test::shared("models/weights/stories260K.gguf").string(); }

TEST(ContextShiftFlag, RunGoesOnPastTheContext) {
  const std::vector<std::string> shifted{"run", "-m", model(), "-p", "Once upon a time", "--temp", "0", "-n", "100",
                                         "-c", "32", "-t", "1", "--context-shift", "--keep", "-1"};
  const auto r = test::run_cli(shifted);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("stop: max_tokens | context shifts: "));
  const auto full = test::run_cli({"run", "-m", model(), "-p", "Once upon a time", "--temp", "0", "-n", "100", "-c",
                                   "32", "-t", "1"});
  ASSERT_EQ(full.exit_code, 0) << full.err;
  EXPECT_THAT(full.err, HasSubstr("stop: context_full"));
}

TEST(ContextShiftFlag, ChatAndServeTakeIt) {
  EXPECT_THAT(test::run_cli({"chat", "--help"}).out, HasSubstr("--context-shift"));
  EXPECT_THAT(test::run_cli({"serve", "--help"}).out, HasSubstr("--context-shift"));
  const auto r = test::run_cli({"chat", "-m", model(), "--temp", "0", "-n", "80", "-c", "64", "-t", "1",
                                "--system", "Be kind.", "--context-shift"},
                               "Hi\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(ContextShiftFlag, KeepIsChecked) {
  const auto r = test::run_cli({"run", "-m", model(), "-p", "Once", "--keep", "-2"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("--keep"));
}

}  // namespace
}  // namespace bantam
