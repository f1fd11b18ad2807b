// run's speculative decoding flags: -md as llama.cpp spells it, the same greedy text with and
// without drafts, the acceptance line, prompt lookup by default, and clear errors for a foreign draft or
// contradictions.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_support.hpp"

namespace bantam {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string weights(const std::string& name) { return test::shared("models/weights/" + name).string(); }

const char* kCopyPrompt = "Lily saw a big red ball in the park. She wanted to play with it. Lily saw a big red ball";

TEST(SpeculativeFlags, DraftsLeaveGreedyTextUnchanged) {
  const std::vector<std::string> base{"run", "-m", weights("stories260K-Q8_0.gguf"), "-p", kCopyPrompt,
                                      "--temp", "0", "-n", "40", "-c", "128", "-t", "1"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_cli(args);
  };
  const auto plain = with({"--spec", "off"});
  const auto drafted = with({"-md", weights("stories260K-Q4_0.gguf"), "--draft-max", "4", "--draft-fixed"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  ASSERT_EQ(drafted.exit_code, 0) << drafted.err;
  EXPECT_EQ(drafted.out, plain.out);
  EXPECT_THAT(drafted.err, HasSubstr("drafted tokens accepted"));
  const auto lookup = with({"--lookup", "2", "--draft-fixed"});
  ASSERT_EQ(lookup.exit_code, 0) << lookup.err;
  EXPECT_EQ(lookup.out, plain.out);
  const auto automatic = with({"--spec", "auto", "--draft-fixed"});
  ASSERT_EQ(automatic.exit_code, 0) << automatic.err;
  EXPECT_EQ(automatic.out, plain.out);
  EXPECT_THAT(automatic.err, HasSubstr("drafted tokens accepted"));
  // Prompt lookup by default (auto); --lookup 0 turns it off.
  const auto by_default = with({});
  ASSERT_EQ(by_default.exit_code, 0) << by_default.err;
  EXPECT_EQ(by_default.out, plain.out);
  EXPECT_THAT(by_default.err, HasSubstr("drafted tokens"));
  const auto without_lookup = with({"--lookup", "0"});
  ASSERT_EQ(without_lookup.exit_code, 0) << without_lookup.err;
  EXPECT_EQ(without_lookup.out, plain.out);
  EXPECT_THAT(without_lookup.err, Not(HasSubstr("drafted tokens")));
}

TEST(SpeculativeFlags, RefusedClearly) {
  const auto foreign = test::run_cli({"run", "-m", weights("stories260K.gguf"), "-p", "Once", "-md",
                                      weights("llama-2-tiny-random.gguf")});
  EXPECT_EQ(foreign.exit_code, 1);
  EXPECT_THAT(foreign.err, HasSubstr("a draft must share the model's vocabulary"));
  const auto contradiction = test::run_cli({"run", "-m", weights("stories260K.gguf"), "-p", "Once", "--spec", "off",
                                            "--lookup", "2"});
  EXPECT_EQ(contradiction.exit_code, 1);
  EXPECT_THAT(contradiction.err, HasSubstr("contradict"));
}

}  // namespace
}  // namespace bantam
