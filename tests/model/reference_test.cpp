// Greedy continuations against llama.cpp's (shared ref/generation.json), through the public API
// and through `bantam run`: prompt ids in, the same ids out, as a regression check. A divergence
// is accepted only at a step where llama.cpp's own top-2 logit margin was small, and comparison
// stops there: below 1e-3 for F32/F16 files (a float-rounding coin toss), below 0.05 for
// quantized ones, whose 8-bit activations may round differently from llama.cpp's. Accuracy itself
// is judged against the model (tests/eval/kl_contract_test.cpp and the float64 reference decoder).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bantam/bantam.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

constexpr float kFloatCoinTossMargin = 1e-3f;
constexpr float kQuantizedCoinTossMargin = 0.05f;

struct Entry {
  std::string model;
  std::string prompt_name;
  std::vector<TokenId> prompt_ids;
  std::vector<TokenId> greedy_ids;
  std::vector<float> margins;

  std::string path() const {
    const std::string dir = model.starts_with("synth-") ? "models/synthetic/" : "models/weights/";
    return test::shared(dir + model).string();
  }
  // Quantized files are named after their type (stories260K-Q8_0, synth-llama3-Q4_K_M, ...).
  float coin_toss_margin() const {
    return model.find("-Q") != std::string::npos ? kQuantizedCoinTossMargin : kFloatCoinTossMargin;
  }
};

void PrintTo(const Entry& entry, std::ostream* os) { *os << entry.model << " " << entry.prompt_name; }

std::vector<Entry> load_entries() {
  std::ifstream in(test::shared("ref/generation.json"));
  std::vector<Entry> entries;
  for (const auto& e : nlohmann::json::parse(in)) {
    entries.push_back({e.at("model"), e.at("prompt_name"), e.at("prompt_ids"), e.at("greedy_ids"),
                       e.at("top2_logit_margin")});
  }
  return entries;
}

std::string entry_name(const testing::TestParamInfo<Entry>& info) {
  std::string name = info.param.model.substr(0, info.param.model.size() - 5) + "_" + info.param.prompt_name;
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

// Compares step by step; returns the accepted divergence step or -1.
int compare(const Entry& entry, const std::vector<TokenId>& got) {
  for (size_t i = 0; i < entry.greedy_ids.size(); ++i) {
    if (i < got.size() && got[i] == entry.greedy_ids[i]) continue;
    const TokenId actual = i < got.size() ? got[i] : -1;
    EXPECT_LT(entry.margins[i], entry.coin_toss_margin())
        << entry.model << " " << entry.prompt_name << ": step " << i << " gave " << actual << ", llama.cpp "
        << entry.greedy_ids[i] << " with top-2 margin " << entry.margins[i];
    return static_cast<int>(i);
  }
  return -1;
}

class Reference : public testing::TestWithParam<Entry> {};

TEST_P(Reference, GreedyMatchesLlamaCpp) {
  const Entry& entry = GetParam();
  const auto model = Model::load(entry.path());
  Session session(model, {.context_length = 512, .threads = 2});
  GenerateOptions options;
  options.max_tokens = static_cast<int>(entry.greedy_ids.size());
  options.sampling.temperature = 0.0f;
  const GenerateResult result = session.generate(entry.prompt_ids, options);
  const int diverged = compare(entry, result.tokens);
  if (diverged >= 0) {
    std::cout << fmt::format("[ diverged ] {} {} at step {} (llama.cpp margin {})\n", entry.model,
                             entry.prompt_name, diverged, entry.margins[diverged]);
  } else {
    EXPECT_EQ(result.stop_reason, StopReason::MaxTokens);
  }
}

INSTANTIATE_TEST_SUITE_P(Generation, Reference, testing::ValuesIn(load_entries()), entry_name);

// The same through the CLI on one entry per architecture variant.
TEST(ReferenceCli, RunPrintsGreedyIds) {
  for (const Entry& entry : load_entries()) {
    const bool pick = entry.prompt_name == "long" &&
                      (entry.model == "stories260K.gguf" || entry.model.ends_with("-f16.gguf"));
    if (!pick) continue;
    std::vector<std::string> ids;
    for (TokenId id : entry.prompt_ids) ids.push_back(std::to_string(id));
    const auto run = test::run_cli({"run", "-m", entry.path(), "--prompt-ids", fmt::format("{}", fmt::join(ids, " ")),
                                    "-n", std::to_string(entry.greedy_ids.size()), "--temp", "0", "--ids", "-t", "2"});
    ASSERT_EQ(run.exit_code, 0) << entry.model << ": " << run.err;
    std::istringstream out(run.out);
    std::vector<TokenId> got;
    for (TokenId id; out >> id;) got.push_back(id);
    compare(entry, got);
  }
}

}  // namespace
}  // namespace bantam
