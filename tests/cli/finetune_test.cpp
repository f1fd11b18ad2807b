// `bantam finetune` as people type it: the issue's flags, progress and errors on stderr, Ctrl-C
// writing a checkpoint that --resume continues bit for bit, and an adapter that `perplexity
// --lora` scores better than the base on text it was not trained on.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_support.hpp"

extern char** environ;

namespace bantam {
namespace {

using ::testing::HasSubstr;

std::string model() { return test::shared("models/weights/stories260K.gguf").string(); }

// The first `bytes` of the GPL (training text) and the next `bytes` (held-out text), in `dir`.
void write_halves(const std::filesystem::path& dir, size_t bytes) {
  const std::string gpl = test::read_file(test::shared("corpus/gpl-3.txt"));
  test::write_file(dir / "train.txt", gpl.substr(0, bytes));
  test::write_file(dir / "other.txt", gpl.substr(bytes, bytes));
}

std::vector<std::string> train_args(const std::filesystem::path& dir, const std::string& out) {
  return {"finetune", "-m", model(), "--data", (dir / "train.txt").string(), "-o", (dir / out).string(), "-c", "64",
          "-b", "1", "--epochs", "2", "--lr", "2e-3", "-t", "1", "--rank", "4", "--targets", "attn_q,attn_v"};
}

double perplexity(const std::string& text, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"perplexity", "-m", model(), "-f", text, "-c", "64", "-t", "1", "-o", "json"};
  args.insert(args.end(), extra.begin(), extra.end());
  const auto r = test::run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const size_t at = r.out.find("\"ppl\":");
  return at == std::string::npos ? 0.0 : std::stod(r.out.substr(at + 6));
}

TEST(Finetune, HelpListsTheIssuesFlags) {
  const auto help = test::run_cli({"finetune", "--help"});
  for (const char* flag : {"-m", "--data", "-o", "--rank", "--alpha", "--targets", "--epochs", "--lr", "-c", "-b",
                           "--grad-accum", "-t", "--eval-split", "--resume"}) {
    EXPECT_THAT(help.out, HasSubstr(flag));
  }
}

TEST(Finetune, CtrlCWritesACheckpointThatResumeContinuesBitForBit) {
  const auto dir = test::temp_dir();
  write_halves(dir, 3000);
  const auto straight = test::run_cli(train_args(dir, "straight.gguf"));
  ASSERT_EQ(straight.exit_code, 0) << straight.err;
  EXPECT_THAT(straight.err, HasSubstr("held-out loss"));
  EXPECT_THAT(straight.err, HasSubstr("tok/s"));

  // The same run, interrupted once its first update is reported.
  const std::string err_path = (dir / "stopped.err").string();
  std::vector<std::string> args = train_args(dir, "stopped.gguf");
  args.insert(args.begin(), test::cli_path().string());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (test::read_file(err_path).find("step ") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(pid, SIGINT);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  const std::string stopped_err = test::read_file(err_path);
  ASSERT_TRUE(WIFEXITED(status)) << stopped_err;
  EXPECT_EQ(WEXITSTATUS(status), 130) << stopped_err;
  const std::string checkpoint = (dir / "stopped.gguf.ckpt").string();
  EXPECT_THAT(stopped_err, HasSubstr("--resume " + checkpoint));
  EXPECT_FALSE(std::filesystem::exists(dir / "stopped.gguf"));

  std::vector<std::string> resume = train_args(dir, "stopped.gguf");
  resume.insert(resume.end(), {"--resume", checkpoint});
  const auto resumed = test::run_cli(resume);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_THAT(resumed.err, HasSubstr("resuming from"));
  EXPECT_EQ(test::read_file(dir / "stopped.gguf"), test::read_file(dir / "straight.gguf"));

  // Other options than the checkpoint's are refused, naming them.
  std::vector<std::string> other = train_args(dir, "other.gguf");
  *std::find(other.begin(), other.end(), "2e-3") = "1e-3";
  other.insert(other.end(), {"--resume", checkpoint});
  const auto refused = test::run_cli(other);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("lr was 0.002, now 0.001"));

  // The adapter loads in perplexity and lowers it on text it never saw.
  const double base = perplexity((dir / "other.txt").string(), {});
  const double tuned = perplexity((dir / "other.txt").string(), {"--lora", (dir / "straight.gguf").string()});
  EXPECT_LT(tuned, base * 0.9) << base << " -> " << tuned;
}

TEST(Finetune, BadInputIsAnErrorNamingIt) {
  const auto dir = test::temp_dir();
  test::write_file(dir / "chat.jsonl",
                   "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}\n"
                   "{\"messages\": [{\"role\": \"user\"}]}\n");
  const auto base = std::vector<std::string>{"finetune", "-m", model(), "-o", (dir / "a.gguf").string(), "-t", "1"};
  const auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_cli(args);
  };
  auto r = with({"--data", (dir / "chat.jsonl").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("chat.jsonl:2: messages[0] needs a string \"content\""));
  r = with({"--data", (dir / "absent.txt").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("absent.txt"));
  test::write_file(dir / "t.txt", "Once upon a time there was a little dog.");
  r = with({"--data", (dir / "t.txt").string(), "--targets", "attn_z"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("attn_z"));
  r = with({"--data", (dir / "t.txt").string(), "--resume", test::shared("models/adapters/stories260K-lora-qvd-r8-f32.gguf").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("not a fine-tuning checkpoint"));
  r = with({});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("--data"));
  EXPECT_FALSE(std::filesystem::exists(dir / "a.gguf"));
}

}  // namespace
}  // namespace bantam
