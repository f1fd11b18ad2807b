// Fine-tuning data: text windows, chat assistant spans, the held-out split, epoch orders, and
// the errors bad input gets.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "format/gguf.hpp"
#include "test_support.hpp"
#include "train/error_of.hpp"
#include "train/train_data.hpp"

namespace bantam::train {
namespace {

using test::shared;

const Tokenizer& stories_tokenizer() {
  static const auto tokenizer = Tokenizer::from_gguf(gguf::File::open(shared("models/weights/stories260K.gguf").string()));
  return *tokenizer;
}

// ChatML written out, so the test does not depend on a model's template.
const char* kChatml =
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

TEST(TrainData, TextWindowsShareOneTokenSoEveryTokenButTheFirstIsATargetOnce) {
  std::vector<TokenId> tokens(10);
  for (int i = 0; i < 10; ++i) tokens[static_cast<size_t>(i)] = 100 + i;
  const std::vector<Example> windows = pack_text(tokens, 4);
  ASSERT_EQ(windows.size(), 3u);  // [0,4) [3,7) [6,10)
  std::vector<int> times_targeted(10, 0);
  size_t start = 0;
  for (const Example& w : windows) {
    ASSERT_EQ(w.tokens.size(), w.target.size());
    EXPECT_LE(w.tokens.size(), 4u);
    EXPECT_EQ(w.target[0], 0);
    EXPECT_EQ(w.tokens[0], tokens[start]);
    for (size_t i = 0; i < w.tokens.size(); ++i) {
      if (w.target[i]) ++times_targeted[static_cast<size_t>(w.tokens[i] - 100)];
    }
    start += 3;
  }
  EXPECT_EQ(times_targeted[0], 0);
  for (size_t i = 1; i < 10; ++i) EXPECT_EQ(times_targeted[i], 1) << "token " << i;
  EXPECT_THROW(pack_text(tokens, 1), Error);
  EXPECT_TRUE(pack_text(std::vector<TokenId>{7}, 4).empty());  // one token: nothing to predict
}

TEST(TrainData, EpochOrdersArePermutationsFixedBySeedAndEpoch) {
  const auto a = epoch_order(50, 7, 0);
  std::vector<size_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) EXPECT_EQ(sorted[i], i);
  EXPECT_EQ(a, epoch_order(50, 7, 0));
  EXPECT_NE(a, epoch_order(50, 7, 1));
  EXPECT_NE(a, epoch_order(50, 8, 0));
  // The same on every platform and library: splitmix64's published first output for seed 0.
  uint64_t state = 0;
  EXPECT_EQ(splitmix64(state), 0xe220a8397b1dcdafull);
}

TEST(TrainData, HeldOutSplitIsSeededKeepsFileOrderAndNeverTakesEverything) {
  Dataset data;
  for (int i = 0; i < 20; ++i) data.train.push_back(Example{.tokens = {i, i}, .target = {0, 1}});
  Dataset again = data;
  split_held_out(data, 0.1, 3);
  ASSERT_EQ(data.held_out.size(), 2u);
  ASSERT_EQ(data.train.size(), 18u);
  for (size_t i = 1; i < data.train.size(); ++i) EXPECT_LT(data.train[i - 1].tokens[0], data.train[i].tokens[0]);
  split_held_out(again, 0.1, 3);
  EXPECT_EQ(again.held_out[0].tokens, data.held_out[0].tokens);
  EXPECT_EQ(again.held_out[1].tokens, data.held_out[1].tokens);

  Dataset two;
  two.train = {Example{.tokens = {1, 2}, .target = {0, 1}}, Example{.tokens = {3, 4}, .target = {0, 1}}};
  split_held_out(two, 0.9, 1);
  EXPECT_EQ(two.train.size(), 1u);  // at least one example stays for training
  EXPECT_EQ(two.held_out.size(), 1u);
  Dataset one;
  one.train = {Example{.tokens = {1, 2}, .target = {0, 1}}};
  split_held_out(one, 0.5, 1);
  EXPECT_EQ(one.train.size(), 1u);
  EXPECT_NE(error_of([&] { split_held_out(one, 1.0, 1); }).find("--eval-split"), std::string::npos);
}

TEST(TrainData, ChatTargetsAreTheAssistantTurnsWithTheirEndOfTurnAndNothingElse) {
  const ChatTemplate chat(kChatml, "chatml");
  const auto messages = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "Be kind."},
    {"role": "user", "content": "Tell me a story."},
    {"role": "assistant", "content": "Once upon a time there was a cat."},
    {"role": "user", "content": "And then?"},
    {"role": "assistant", "content": "The cat slept."}])");
  const Tokenizer& tokenizer = stories_tokenizer();
  const Example e = chat_example(messages, chat, tokenizer);
  ASSERT_EQ(e.tokens.size(), e.target.size());
  EXPECT_EQ(e.target[0], 0);
  // The targets form exactly two runs, one per assistant message.
  std::vector<std::string> runs, others;
  std::vector<TokenId> run;
  std::vector<TokenId> other;
  for (size_t i = 0; i <= e.tokens.size(); ++i) {
    const bool targeted = i < e.tokens.size() && e.target[i];
    if (targeted) run.push_back(e.tokens[i]);
    if (!targeted && !run.empty()) {
      runs.push_back(tokenizer.decode(run, false));
      run.clear();
    }
    if (i < e.tokens.size() && !targeted) other.push_back(e.tokens[i]);
  }
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_NE(runs[0].find("Once upon a time there was a cat."), std::string::npos) << runs[0];
  EXPECT_NE(runs[0].find("<|im_end|>"), std::string::npos) << runs[0];
  EXPECT_EQ(runs[0].find("assistant"), std::string::npos) << runs[0];
  EXPECT_NE(runs[1].find("The cat slept."), std::string::npos) << runs[1];
  const std::string untargeted = tokenizer.decode(other, false);
  EXPECT_EQ(untargeted.find("cat"), std::string::npos) << untargeted;
  EXPECT_NE(untargeted.find("Tell me a story."), std::string::npos) << untargeted;
}

TEST(TrainData, ChatTemplateThatRewritesEarlierTurnsIsRefused) {
  // Marks the last message specially: a prefix's rendering is not a prefix of the whole.
  const ChatTemplate chat("{% for m in messages %}{% if loop.last %}LAST {% endif %}{{ m.content }}\n{% endfor %}", "odd");
  const auto messages = nlohmann::ordered_json::parse(
      R"([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "bye"}])");
  EXPECT_NE(error_of([&] { chat_example(messages, chat, stories_tokenizer()); }).find("messages[1]"), std::string::npos);
}

TEST(TrainData, ChatJsonlLoadsAndBadLinesNameFileAndLine) {
  const auto dir = test::temp_dir();
  const ChatTemplate chat(kChatml, "chatml");
  const std::string good = R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}]})";
  std::string lines;
  for (int i = 0; i < 10; ++i) lines += good + "\n\n";
  test::write_file(dir / "chat.jsonl", lines);
  const Dataset data = load_dataset((dir / "chat.jsonl").string(), stories_tokenizer(), &chat, DataOptions{.context = 512});
  EXPECT_EQ(data.train.size(), 9u);
  EXPECT_EQ(data.held_out.size(), 1u);
  EXPECT_NE(data.content_hash, 0u);

  const auto fails_with = [&](const std::string& line, int line_number, const std::string& what) {
    test::write_file(dir / "bad.jsonl", good + "\n" + line + "\n");
    const std::string error =
        error_of([&] { load_dataset((dir / "bad.jsonl").string(), stories_tokenizer(), &chat, DataOptions{}); });
    EXPECT_NE(error.find(fmt::format("bad.jsonl:{}: ", line_number)), std::string::npos) << error;
    EXPECT_NE(error.find(what), std::string::npos) << error;
  };
  fails_with("{not json", 2, "not a JSON object");
  fails_with("[1, 2]", 2, "not a JSON object");
  fails_with(R"({"text": "hi"})", 2, "\"messages\" array");
  fails_with(R"({"messages": "hi"})", 2, "\"messages\" array");
  fails_with(R"({"messages": [{"role": "user", "content": 3}]})", 2, "messages[0] needs a string \"content\"");
  fails_with(R"({"messages": [{"role": 1, "content": "x"}]})", 2, "messages[0] needs a string \"role\"");
  fails_with(R"({"messages": ["hi"]})", 2, "messages[0] is not an object");
  fails_with(R"({"messages": [{"role": "user", "content": "x"}]})", 2, "no \"assistant\" message");

  // A conversation cut at -c keeps the assistant tokens within it; one with none left is dropped,
  // and no example at all is an error.
  const size_t full = data.train[0].tokens.size();
  const Dataset cut = load_dataset((dir / "chat.jsonl").string(), stories_tokenizer(), &chat,
                                   DataOptions{.context = static_cast<int>(full) - 2, .eval_split = 0});
  EXPECT_EQ(cut.train.size(), 10u);
  EXPECT_EQ(cut.truncated, 10u);
  EXPECT_EQ(cut.train[0].tokens.size(), full - 2);
  EXPECT_NE(error_of([&] {
              load_dataset((dir / "chat.jsonl").string(), stories_tokenizer(), &chat, DataOptions{.context = 8});
            }).find("no training example"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_dataset((dir / "chat.jsonl").string(), stories_tokenizer(), nullptr, DataOptions{}); })
                .find("chat template"),
            std::string::npos);
}

TEST(TrainData, TextFileIsPackedAndSplit) {
  const std::string path = shared("corpus/gpl-3.txt").string();
  const Dataset data = load_dataset(path, stories_tokenizer(), nullptr, DataOptions{.context = 128, .eval_split = 0.1, .seed = 5});
  ASSERT_GT(data.train.size(), 10u);
  EXPECT_GE(data.held_out.size(), 1u);
  for (const Example& e : data.train) EXPECT_LE(e.tokens.size(), 128u);
  EXPECT_EQ(data.train[0].tokens[0], stories_tokenizer().bos());
  const Dataset other_seed = load_dataset(path, stories_tokenizer(), nullptr, DataOptions{.context = 128, .seed = 6});
  EXPECT_EQ(other_seed.content_hash, data.content_hash);  // the same data, split differently
  const Dataset other_context = load_dataset(path, stories_tokenizer(), nullptr, DataOptions{.context = 64});
  EXPECT_NE(other_context.content_hash, data.content_hash);

  const auto dir = test::temp_dir();
  test::write_file(dir / "empty.txt", "");
  EXPECT_NE(error_of([&] { load_dataset((dir / "empty.txt").string(), stories_tokenizer(), nullptr, DataOptions{}); })
                .find("empty.txt: the file is empty"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_dataset((dir / "missing.txt").string(), stories_tokenizer(), nullptr, DataOptions{}); })
                .find("missing.txt"),
            std::string::npos);
}

}  // namespace
}  // namespace bantam::train
