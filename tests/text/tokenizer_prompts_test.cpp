// The prompt ids llama.cpp produced (BOS included) for every model and prompt of
// ref/generation.json: the stories vocab (stories260K and the synthetic models) and Llama 2's.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "tokenizer_test_support.hpp"

namespace bantam {
namespace {

std::string model_path(const std::string& file) {
  for (const char* dir : {"models/weights/", "models/synthetic/"}) {
    if (std::filesystem::exists(test::shared_dir() / (dir + file))) return dir + file;
  }
  ADD_FAILURE() << "model " << file << " of ref/generation.json is not under shared/models";
  return "models/weights/" + file;
}

TEST(TokenizerPrompts, MatchLlamaCppPromptIds) {
  const auto entries = nlohmann::json::parse(test::read_file(test::shared("ref/generation.json")));
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& e : entries) {
    const std::string model = e.at("model"), prompt = e.at("prompt");
    if (!seen.emplace(model, prompt).second) continue;
    const Tokenizer& tok = test::shared_tokenizer(model_path(model));
    const auto expected = e.at("prompt_ids").get<std::vector<TokenId>>();
    EXPECT_EQ(tok.encode(prompt, true, true), expected) << model << ": " << prompt;
    EXPECT_EQ(tok.encode(prompt, true, false), expected) << model << ": " << prompt;
    // Without the BOS that add_special adds, the same ids follow.
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(expected.front(), tok.bos());
    EXPECT_EQ(tok.encode(prompt, false, false),
              std::vector<TokenId>(expected.begin() + 1, expected.end()));
    EXPECT_EQ(tok.decode(expected, true), " " + prompt)
        << "llama.cpp keeps the prefix space when it drops a leading BOS";
    EXPECT_EQ(tok.decode(std::vector<TokenId>(expected.begin() + 1, expected.end()), true), prompt);
  }
  EXPECT_GE(seen.size(), 4u);
}

}  // namespace
}  // namespace bantam
