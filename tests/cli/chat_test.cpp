// `bantam chat` as people use it: on a pseudo-terminal (line editing and history, the slash
// commands, """ blocks, Ctrl-D), with piped input, and with -p.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "pty_process.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;

constexpr auto kReplyDone = "stop: ";  // the end of the timing line after each reply on a terminal

std::string model() { return test::shared("models/weights/stories260K.gguf").string(); }

std::vector<std::string> chat_args(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"chat", "-m", model(), "-n", "6", "--temp", "0", "-t", "1"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

// A chat on a terminal whose history goes to a fresh $XDG_STATE_HOME.
struct TerminalChat {
  std::filesystem::path state = test::temp_dir();
  test::PtyProcess chat;
  explicit TerminalChat(std::vector<std::string> extra = {})
      : chat(chat_args(std::move(extra)), {{"XDG_STATE_HOME", state.string()}}) {}

  json save() {
    const auto path = test::temp_dir() / "conversation.json";
    chat.type("/save " + path.string() + "\r");
    EXPECT_TRUE(chat.expect("conversation saved to")) << chat.output();
    return json::parse(test::read_file(path));
  }
  void bye() {
    chat.type("/bye\r");
    EXPECT_EQ(chat.wait_exit(), 0) << chat.output();
  }
};

bool line_editing_built_in() {
  return test::run_cli({"chat", "--help"}).out.find("without libedit") == std::string::npos;
}

TEST(ChatTerminal, UpArrowRecallsThePreviousLineAndTheHistoryFileKeepsIt) {
  if (!line_editing_built_in()) GTEST_SKIP() << "built without libedit: no line editing";
  TerminalChat t;
  t.chat.type("/sytem be brief\r");
  ASSERT_TRUE(t.chat.expect("did you mean /system?")) << t.chat.output();
  t.chat.type("\x1b[A\r");  // up arrow, Enter: the same line again
  ASSERT_TRUE(t.chat.expect("did you mean /system?")) << t.chat.output();
  t.bye();
  EXPECT_THAT(test::read_file(t.state / "bantam" / "chat_history"), HasSubstr("/sytem"));
}

TEST(ChatTerminal, HelpListsTheCommands) {
  TerminalChat t;
  t.chat.type("/help\r");
  for (const char* command : {"/help", "/bye", "/clear", "/system TEXT", "/save FILE", R"(""")"}) {
    EXPECT_TRUE(t.chat.expect(command)) << command << "\n" << t.chat.output();
  }
  t.bye();
}

TEST(ChatTerminal, SystemSetsThePromptClearForgetsTheTurnsAndSaveWritesOpenAiMessages) {
  TerminalChat t;
  t.chat.type("/system Talk like a pirate.\r");
  ASSERT_TRUE(t.chat.expect("system prompt set")) << t.chat.output();
  t.chat.type("Hello there\r");
  ASSERT_TRUE(t.chat.expect(kReplyDone)) << t.chat.output();
  const json saved = t.save();
  EXPECT_EQ(saved["model"], "stories260K");
  ASSERT_EQ(saved["messages"].size(), 3u) << saved.dump();
  EXPECT_EQ(saved["messages"][0], json({{"role", "system"}, {"content", "Talk like a pirate."}}));
  EXPECT_EQ(saved["messages"][1], json({{"role", "user"}, {"content", "Hello there"}}));
  EXPECT_EQ(saved["messages"][2]["role"], "assistant");
  EXPECT_FALSE(saved["messages"][2]["content"].get<std::string>().empty());

  t.chat.type("/clear\r");
  ASSERT_TRUE(t.chat.expect("conversation cleared")) << t.chat.output();
  EXPECT_EQ(t.save()["messages"], json::array({{{"role", "system"}, {"content", "Talk like a pirate."}}}));
  t.chat.type("/system\r");
  ASSERT_TRUE(t.chat.expect("no system prompt")) << t.chat.output();
  EXPECT_EQ(t.save()["messages"], json::array());
  t.bye();
}

TEST(ChatTerminal, TripleQuotesMakeOneMessageOfSeveralLines) {
  TerminalChat t;
  t.chat.type("\"\"\"\rline one\rline two\"\"\"\r");
  ASSERT_TRUE(t.chat.expect(kReplyDone)) << t.chat.output();
  t.chat.type("\"\"\"just one\"\"\"\r");
  ASSERT_TRUE(t.chat.expect(kReplyDone)) << t.chat.output();
  const json messages = t.save()["messages"];
  ASSERT_EQ(messages.size(), 4u) << messages.dump();
  EXPECT_EQ(messages[0]["content"], "line one\nline two");
  EXPECT_EQ(messages[2]["content"], "just one");
  t.bye();
}

TEST(ChatTerminal, CtrlDLeavesWithStatusZero) {
  TerminalChat t;
  t.chat.type("Hi\r");
  ASSERT_TRUE(t.chat.expect(kReplyDone)) << t.chat.output();
  // Typed before the line editor takes the terminal (it may switch modes after printing its
  // prompt, dropping keys typed in between), Ctrl-D would be lost or the terminal's own end of file.
  ASSERT_TRUE(t.chat.expect("> ")) << t.chat.output();
  if (line_editing_built_in()) {
    ASSERT_TRUE(t.chat.wait_key_mode()) << t.chat.output();
  }
  t.chat.type("\x04");
  EXPECT_EQ(t.chat.wait_exit(), 0) << t.chat.output();
}

TEST(ChatTerminal, AFullContextDropsTheOldestTurnsAndGoesOn) {
  TerminalChat t({"-c", "128", "--system", "Be kind."});
  for (int turn = 0; turn < 6; ++turn) {
    t.chat.type("Tell me a story about a cat number " + std::to_string(turn) + "\r");
    ASSERT_TRUE(t.chat.expect(kReplyDone)) << t.chat.output();
  }
  EXPECT_THAT(t.chat.output(), HasSubstr("is full: dropped the oldest turn"));
  const json messages = t.save()["messages"];
  EXPECT_EQ(messages[0], json({{"role", "system"}, {"content", "Be kind."}}));
  EXPECT_LT(messages.size(), 13u);
  EXPECT_EQ(messages.back()["role"], "assistant");
  EXPECT_EQ(messages[messages.size() - 2]["content"], "Tell me a story about a cat number 5");
  t.bye();
}

TEST(ChatPiped, AFullContextSaysSoOnceOnStderrPerDropAndKeepsAnswering) {
  std::string input;
  for (int turn = 0; turn < 6; ++turn) input += "Tell me a story about a cat number " + std::to_string(turn) + "\n";
  const auto r = test::run_cli(chat_args({"-c", "64"}), input);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(r.out, "\n"), 6u) << r.out;  // six replies
  EXPECT_GE(count(r.err, "is full: dropped the oldest turn of the conversation"), 1u) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("is full")));
}

TEST(ChatPiped, AMessageLongerThanTheContextIsRefusedAndTheChatGoesOn) {
  std::string long_message;
  for (int i = 0; i < 40; ++i) long_message += "cat dog ";
  const auto r = test::run_cli(chat_args({"-c", "32"}), long_message + "\nHi\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("does not fit the context of 32; it was not sent"));
  EXPECT_EQ(count(r.out, "\n"), 1u) << r.out;  // the answer to "Hi"
}

TEST(ChatPiped, ByeEndsTheChatAndCommandsWorkWithoutATerminal) {
  const auto saved = test::temp_dir() / "piped.json";
  const auto r = test::run_cli(chat_args(), "Hi\n/save " + saved.string() + "\n/bye\nnever answered\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(r.out, "\n"), 1u) << r.out;
  EXPECT_EQ(json::parse(test::read_file(saved))["messages"].size(), 2u);
}

TEST(ChatPiped, NoHistoryIsWrittenWhenStdinIsNotATerminal) {
  const auto state = test::temp_dir();
  ::setenv("XDG_STATE_HOME", state.c_str(), 1);
  const auto r = test::run_cli(chat_args(), "Hi\n");
  ::unsetenv("XDG_STATE_HOME");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists(state / "bantam" / "chat_history"));
}

TEST(ChatOneShot, DashPAnswersOnceAsTheFirstTurnWouldAndExits) {
  const auto piped = test::run_cli(chat_args({"--system", "Be kind."}), "Once upon a time\n");
  const auto one_shot = test::run_cli(chat_args({"--system", "Be kind.", "-p", "Once upon a time"}), "unread\n");
  EXPECT_EQ(one_shot.exit_code, 0) << one_shot.err;
  EXPECT_FALSE(one_shot.out.empty());
  EXPECT_EQ(one_shot.out, piped.out);
}

TEST(ChatCommands, AnUnknownCommandSaysSoAndAPathIsAMessage) {
  const auto r = test::run_cli(chat_args(), "/clera\n/usr/bin is a folder\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("unknown command /clera (did you mean /clear?)"));
  EXPECT_EQ(count(r.out, "\n"), 1u) << r.out;  // the path was answered as a message
}

}  // namespace
}  // namespace bantam
