// Flags typed from llama.cpp and ollama habits: llama.cpp's long names as aliases, -n as tokens
// to generate, --n-gpu-layers accepted with a note; mistyped flags and subcommands answered with
// the closest name; defaults and the first commands people need in --help.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_support.hpp"

namespace bantam {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string model() { return test::shared("models/weights/stories260K.gguf").string(); }

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

TEST(LlamaCppFlags, LongNamesAreAliasesOfOurs) {
  const auto ours = test::run_cli({"run", "-m", model(), "-p", "Once", "--temp", "0", "-n", "5", "-c", "64", "-t", "1"});
  const auto theirs = test::run_cli({"run", "-m", model(), "-p", "Once", "--temp", "0", "--n-predict", "5",
                                     "--ctx-size", "64", "--threads", "1"});
  ASSERT_EQ(ours.exit_code, 0) << ours.err;
  ASSERT_EQ(theirs.exit_code, 0) << theirs.err;
  EXPECT_EQ(theirs.out, ours.out);
  EXPECT_THAT(theirs.err, HasSubstr("generation: 5 tokens"));
  const auto chat = test::run_cli({"chat", "-m", model(), "--temp", "0", "--n-predict", "2", "--ctx-size", "64",
                                   "--threads", "1", "--system-prompt", "Be kind."},
                                  "Hi\n");
  EXPECT_EQ(chat.exit_code, 0) << chat.err;
  for (const char* command : {"perplexity", "eval"}) {
    EXPECT_THAT(test::run_cli({command, "--help"}).out, HasSubstr("--ctx-size")) << command;
  }
  const auto serve = test::run_cli({"serve", "--help"}).out;
  for (const char* name : {"-n,--max-tokens,--n-predict", "--system,--system-prompt", "--chat-template-file"}) {
    EXPECT_THAT(serve, HasSubstr(name));
  }
}

TEST(LlamaCppFlags, GpuLayersAreAcceptedWithOneNoteThatBantamRunsOnTheCpu) {
  const auto r = test::run_cli({"run", "-m", model(), "-p", "Once", "-n", "2", "-t", "1", "--n-gpu-layers", "99"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(r.err, "bantam: note: --n-gpu-layers is ignored: bantam runs on the CPU\n"), 1u) << r.err;
  const auto quiet = test::run_cli({"run", "-m", model(), "-p", "Once", "-n", "2", "-t", "1"});
  EXPECT_THAT(quiet.err, Not(HasSubstr("--n-gpu-layers")));
  for (const char* command : {"run", "chat", "serve", "bench", "perplexity", "eval"}) {
    EXPECT_THAT(test::run_cli({command, "--help"}).out, HasSubstr("--n-gpu-layers")) << command;
  }
}

TEST(LlamaCppFlags, DashNIsTokensToGenerateOnEveryCommand) {
  for (const char* command : {"run", "chat", "serve", "eval"}) {
    EXPECT_THAT(test::run_cli({command, "--help"}).out, HasSubstr("-n,--max-tokens")) << command;
  }
  EXPECT_THAT(test::run_cli({"bench", "--help"}).out, HasSubstr("-n,--n-gen"));
  EXPECT_THAT(test::run_cli({"serve", "--help"}).out, Not(HasSubstr("--parallel,-n")));
}

TEST(Suggestions, AMistypedFlagGetsTheClosestName) {
  const auto r = test::run_cli({"run", "-m", model(), "-p", "Once", "--tmp", "0"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("bantam run: unknown option --tmp; did you mean --temp?"));
  const auto equals = test::run_cli({"chat", "-m", model(), "--max-tokenz=3"});
  EXPECT_THAT(equals.err, HasSubstr("bantam chat: unknown option --max-tokenz; did you mean --max-tokens?"));
  // Still named when a required option is missing too.
  EXPECT_THAT(test::run_cli({"run", "--modle", model()}).err, HasSubstr("did you mean --model?"));
  // Nothing close: CLI11's own words.
  EXPECT_THAT(test::run_cli({"run", "-m", model(), "--zzzzzzzz"}).err,
              HasSubstr("was not expected: --zzzzzzzz"));
}

TEST(Suggestions, AMistypedSubcommandGetsTheClosestName) {
  const auto r = test::run_cli({"chta", "-m", model()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("bantam: unknown command chta; did you mean chat?"));
  EXPECT_THAT(test::run_cli({"sever"}).err, HasSubstr("did you mean serve?"));
}

TEST(Help, ShowsDefaults) {
  const auto run = test::run_cli({"run", "--help"}).out;
  for (const char* shown : {"=0.8", "=40", "=0.95", "=4096", "=512", "=f16"}) EXPECT_THAT(run, HasSubstr(shown));
  EXPECT_THAT(run, Not(HasSubstr("=[]")));
  EXPECT_THAT(test::run_cli({"serve", "--help"}).out, HasSubstr("=127.0.0.1"));
}

TEST(Help, ListsRunChatServeAndPullFirst) {
  const auto help = test::run_cli({"--help"}).out;
  std::vector<size_t> positions;
  for (const char* command : {"run", "chat", "serve", "pull", "inspect"}) {
    positions.push_back(help.find(std::string("\n  ") + command + " "));
    ASSERT_NE(positions.back(), std::string::npos) << command << "\n" << help;
  }
  EXPECT_TRUE(std::is_sorted(positions.begin(), positions.end())) << help;
  EXPECT_LT(positions.back(), help.find("\n  quantize "));
}

}  // namespace
}  // namespace bantam
