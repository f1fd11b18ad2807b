// `bantam tokenize` and `bantam detokenize`, run as a process.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tokenizer_test_support.hpp"

namespace bantam {
namespace {

struct Prompt {
  std::string text;
  std::vector<TokenId> ids;  // with BOS
};

Prompt stories_prompt() {
  const auto entries = nlohmann::json::parse(test::read_file(test::shared("ref/generation.json")));
  for (const auto& e : entries) {
    if (e.at("model") == "stories260K.gguf") {
      return {e.at("prompt"), e.at("prompt_ids").get<std::vector<TokenId>>()};
    }
  }
  ADD_FAILURE() << "no stories260K entry in ref/generation.json";
  return {};
}

std::string joined(const std::vector<TokenId>& ids, size_t from = 0) {
  std::string s;
  for (size_t i = from; i < ids.size(); ++i) s += (s.empty() ? "" : " ") + std::to_string(ids[i]);
  return s;
}

const std::string kStories = "models/weights/stories260K.gguf";

TEST(TokenizerCli, PrintsIds) {
  const Prompt p = stories_prompt();
  const auto model = test::shared(kStories).string();
  auto r = test::run_cli({"tokenize", "-m", model, "-p", p.text, "--ids"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, joined(p.ids) + "\n");
  r = test::run_cli({"tokenize", "-m", model, "-p", p.text, "--ids", "--no-bos"});
  EXPECT_EQ(r.out, joined(p.ids, 1) + "\n");
  const auto file = test::temp_dir() / "prompt.txt";
  test::write_file(file, p.text);
  r = test::run_cli({"tokenize", "-m", model, "-f", file.string(), "--ids"});
  EXPECT_EQ(r.out, joined(p.ids) + "\n");
}

TEST(TokenizerCli, PrintsIdsAndPieces) {
  const Prompt p = stories_prompt();
  const auto model = test::shared(kStories).string();
  const auto r = test::run_cli({"tokenize", "-m", model, "-p", p.text + "\n"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Tokenizer& tok = test::shared_tokenizer(kStories);
  std::string expected;
  for (const TokenId id : tok.encode(p.text + "\n", true, false)) {
    std::string piece = tok.token_bytes(id);
    if (piece == "\n") piece = "\\n";
    expected += std::to_string(id) + "\t" + piece + "\n";
  }
  EXPECT_EQ(r.out, expected);
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), std::to_string(tok.bos()) + "\t<s>");
}

TEST(TokenizerCli, ParseSpecial) {
  const auto model = test::shared("models/vocab-derived/ggml-vocab-llama-bpe.gguf").string();
  const Tokenizer& tok = test::shared_tokenizer("models/vocab-derived/ggml-vocab-llama-bpe.gguf");
  const std::string text = "<|eot_id|>";
  auto r = test::run_cli({"tokenize", "-m", model, "-p", text, "--ids", "--no-bos", "--parse-special"});
  EXPECT_EQ(r.out, std::to_string(tok.find(text)) + "\n");
  r = test::run_cli({"tokenize", "-m", model, "-p", text, "--ids", "--no-bos"});
  EXPECT_EQ(r.out, joined(tok.encode(text, false, false)) + "\n");
}

TEST(TokenizerCli, Detokenize) {
  const Prompt p = stories_prompt();
  std::vector<std::string> args = {"detokenize", "-m", test::shared(kStories).string()};
  for (size_t i = 1; i < p.ids.size(); ++i) args.push_back(std::to_string(p.ids[i]));
  auto r = test::run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, p.text + "\n");
  args.insert(args.begin() + 3, std::to_string(p.ids[0]));
  r = test::run_cli(args);
  EXPECT_EQ(r.out, "<s> " + p.text + "\n");
}

TEST(TokenizerCli, ErrorsExitOne) {
  const auto model = test::shared(kStories).string();
  auto r = test::run_cli({"detokenize", "-m", model, "99999"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("99999"), std::string::npos) << r.err;
  r = test::run_cli({"tokenize", "-m", model});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("-p"), std::string::npos) << r.err;
  r = test::run_cli({"tokenize", "-m", (test::temp_dir() / "missing.gguf").string(), "-p", "x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("missing.gguf"), std::string::npos) << r.err;
  r = test::run_cli({"tokenize", "-m", model, "-f", (test::temp_dir() / "none.txt").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("none.txt"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bantam
