// `run` and `chat` refuse sampling values outside the shared parameter table (the ranges the
// server refuses in requests), naming the flag and the range; the bounds themselves are accepted.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "runtime/generation_params.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

using ::testing::HasSubstr;

std::string model() { return test::shared("models/weights/stories260K.gguf").string(); }

struct Refused {
  std::string flag, value, range;
};

const Refused kRefused[] = {
    {"--temp", "-1", "a number from 0 to 2"},
    {"--temp", "nan", "a number from 0 to 2"},
    {"--temp", "1e400", "a number from 0 to 2"},
    {"--temp", "2.5", "a number from 0 to 2"},
    {"--top-p", "5", "a number from 0 to 1"},
    {"--min-p", "2", "a number from 0 to 1"},
    {"--repeat-penalty", "-1", "a number greater than 0"},
    {"--repeat-penalty", "0", "a number greater than 0"},
    {"--presence-penalty", "3", "a number from -2 to 2"},
    {"--frequency-penalty", "-inf", "a number from -2 to 2"},
    {"--top-k", "-1", "an integer from 0 to"},
    {"--repeat-last-n", "-2", "an integer from -1 to"},
    {"--seed", "-3", "an integer from 0 to"},
    {"-n", "0", "an integer from 1 to 16777216"},
};

TEST(GenerationParamsCli, RunRefusesValuesOutOfRangeNamingTheFlag) {
  for (const Refused& c : kRefused) {
    const auto r = test::run_cli({"run", "-m", model(), "-p", "Once", c.flag, c.value});
    EXPECT_NE(r.exit_code, 0) << c.flag << " " << c.value;
    const std::string flag = c.flag == "-n" ? "--max-tokens" : c.flag;
    EXPECT_THAT(r.err, HasSubstr(fmt::format("{}: {} is refused; it must be {}", flag, c.value, c.range)));
    EXPECT_TRUE(r.out.empty()) << c.flag << " " << c.value << " generated: " << r.out;
  }
}

TEST(GenerationParamsCli, ChatRefusesTheSameValues) {
  const auto r = test::run_cli({"chat", "-m", model(), "--top-p", "5"}, "hello\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("--top-p: 5 is refused; it must be a number from 0 to 1"));
}

TEST(GenerationParamsCli, BoundsAndOffValuesAreAccepted) {
  const auto r = test::run_cli({"run", "-m", model(), "-p", "Once", "-n", "3", "--temp", "2", "--top-p", "1",
                                "--min-p", "0", "--repeat-penalty", "0.5", "--presence-penalty", "-2",
                                "--frequency-penalty", "2", "--top-k", "0", "--repeat-last-n", "-1", "--seed", "7"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
  const auto until_done = test::run_cli({"run", "-m", model(), "-p", "Once", "-n", "-1", "-c", "16", "--temp", "0"});
  EXPECT_EQ(until_done.exit_code, 0) << until_done.err;
}

// Every flag the table names is one `run` has, so no row is left unchecked by the CLI.
TEST(GenerationParamsCli, EveryTableRowIsAnOptionOfRun) {
  const auto help = test::run_cli({"run", "--help"});
  for (const GenerationParam& p : generation_params()) {
    EXPECT_THAT(help.out, HasSubstr(std::string(p.flag))) << p.name;
    EXPECT_THAT(help.out, HasSubstr(range_text(p))) << p.name;
  }
}

}  // namespace
}  // namespace bantam
