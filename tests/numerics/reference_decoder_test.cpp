// bantam's F32/F16 forward judged against a float64 reference (reference_decoder.hpp) on the
// perplexity text: ctx 128, the first 40 chunks of 128 tokens, each starting with BOS as
// `bantam perplexity` does, the second half of each chunk scored (positions 64..126, as
// llama-perplexity). Bars (issue 17's numerics contract):
//  - F32 KV cache: F32 files mean KLD(ref || bantam) <= 1e-7 and every position's logits within
//    1e-4 of the reference relative to its largest logit; F16 files mean KLD <= 1e-5;
//  - F16 KV cache (the default): mean KLD <= 1e-5 for both;
//  - top-1 agreement >= 99% everywhere;
//  - greedy continuations (F32 KV cache, 32 tokens) equal the reference's until its top-2 margin
//    falls below 1e-3.
// The synthetic gemma/gemma2 models are degenerate (greedy repeats one token): no KL bars, only
// the relative logits check. The reference itself is checked against llama.cpp's greedy output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bantam/bantam.hpp"
#include "agreement.hpp"
#include "reference_decoder.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

using test::Agreement;
using test::ReferencePosition;

constexpr int64_t kContext = 128;
constexpr int kChunks = 40;
constexpr int64_t kFirstScored = kContext / 2;
constexpr double kTop1Bar = 0.99;
constexpr double kCoinTossMargin = 1e-3;

enum class FileKind { F32, F16, Degenerate };

struct Case {
  std::string file;  // under ../shared/models
  FileKind kind;
  double max_kld_f32_cache;    // mean KLD bar with an F32 KV cache
  // Largest relative logit error at any position with an F32 KV cache. F32 files: the contract's
  // 1e-4. F16 files: not in the contract; 2e-3 is about 3x what bantam's F16 rounding of
  // activations gives today and below what a missing Llama 3 rope scaling gives (4e-3), which
  // stays under the KLD bar. Degenerate files: their only check, 3x today's error.
  double max_relative_logits;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.file; }

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"weights/stories260K.gguf", FileKind::F32, 1e-7, 1e-4},
      {"weights/llama-2-tiny-random.gguf", FileKind::F16, 1e-5, 2e-3},
      {"synthetic/synth-llama3-f16.gguf", FileKind::F16, 1e-5, 2e-3},
      {"synthetic/synth-nemo-f16.gguf", FileKind::F16, 1e-5, 2e-3},
      {"synthetic/synth-qwen2-f16.gguf", FileKind::F16, 1e-5, 2e-3},
      {"synthetic/synth-phi3-f16.gguf", FileKind::F16, 1e-5, 2e-3},
      {"synthetic/synth-gemma-f16.gguf", FileKind::Degenerate, 0, 1e-3},
      {"synthetic/synth-gemma2-f16.gguf", FileKind::Degenerate, 0, 1e-3},
  };
  return all;
}

std::string case_name(const testing::TestParamInfo<Case>& info) {
  std::string name = info.param.file.substr(info.param.file.find('/') + 1);
  name = name.substr(0, name.size() - 5);
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

std::vector<std::vector<TokenId>> corpus_chunks(const Model& model) {
  std::vector<TokenId> tokens =
      model.tokenize(test::read_file(test::shared("corpus/small-llms-essay.txt")), true, false);
  const std::vector<TokenId> bos = model.tokenize("", true, false);
  if (static_cast<int64_t>(tokens.size()) < kChunks * kContext) {
    throw Error(fmt::format("corpus: {} tokens, fewer than {} chunks of {}", tokens.size(), kChunks, kContext));
  }
  std::vector<std::vector<TokenId>> chunks;
  for (int c = 0; c < kChunks; ++c) {
    std::vector<TokenId> chunk(tokens.begin() + c * kContext, tokens.begin() + (c + 1) * kContext);
    if (!bos.empty()) chunk[0] = bos[0];
    chunks.push_back(std::move(chunk));
  }
  return chunks;
}

class ReferenceForward : public testing::TestWithParam<Case> {};

TEST_P(ReferenceForward, LogitsAgreeOnCorpusChunks) {
  const Case& c = GetParam();
  const std::string path = test::shared("models/" + c.file).string();
  const auto model = Model::load(path);
  test::ReferenceDecoder reference(path);
  ASSERT_EQ(reference.n_vocab(), model->info().n_vocab);
  const int64_t n_vocab = reference.n_vocab();

  Session f32_cache(model, {.context_length = kContext, .threads = 1, .kv_type = KvCacheType::F32,
                            .batch_size = static_cast<int>(kContext)});
  Session f16_cache(model, {.context_length = kContext, .threads = 1, .kv_type = KvCacheType::F16,
                            .batch_size = static_cast<int>(kContext)});
  Agreement with_f32, with_f16;
  for (const auto& chunk : corpus_chunks(*model)) {
    f32_cache.reset();
    f16_cache.reset();
    const std::vector<float> got_f32 = f32_cache.evaluate(chunk);
    const std::vector<float> got_f16 = f16_cache.evaluate(chunk);
    reference.reset();
    for (int64_t j = 0; j < kContext - 1; ++j) {
      std::vector<double> logits = reference.forward(chunk[static_cast<size_t>(j)]);
      if (j < kFirstScored) continue;
      const ReferencePosition ref(std::move(logits));
      with_f32.add(ref, got_f32.data() + j * n_vocab);
      with_f16.add(ref, got_f16.data() + j * n_vocab);
    }
  }
  std::cout << fmt::format("[ numerics ] {} F32 cache: {}\n[ numerics ] {} F16 cache: {}\n", c.file,
                           with_f32.summary(), c.file, with_f16.summary());

  EXPECT_LE(with_f32.max_relative, c.max_relative_logits) << "F32 cache: " << with_f32.summary();
  if (c.kind == FileKind::Degenerate) return;
  EXPECT_LE(with_f32.mean_kld(), c.max_kld_f32_cache) << "F32 cache: " << with_f32.summary();
  EXPECT_LE(with_f16.mean_kld(), 1e-5) << "F16 cache: " << with_f16.summary();
  EXPECT_GE(with_f32.top1(), kTop1Bar) << "F32 cache: " << with_f32.summary();
  EXPECT_GE(with_f16.top1(), kTop1Bar) << "F16 cache: " << with_f16.summary();
}

INSTANTIATE_TEST_SUITE_P(Files, ReferenceForward, testing::ValuesIn(cases()), case_name);

// --- greedy continuations ----------------------------------------------------------------------

constexpr int kGreedySteps = 32;

struct GreedyStep {
  TokenId token;
  double margin;  // top-1 minus top-2 logit
};

// The reference's greedy continuation of `prompt`: `steps` tokens, or fewer when one ends
// generation (that token is the last step) and `stop_at_end` is set.
std::vector<GreedyStep> reference_greedy(test::ReferenceDecoder& reference, const Model& model,
                                         const std::vector<TokenId>& prompt, int steps, bool stop_at_end) {
  reference.reset();
  std::vector<double> logits;
  for (TokenId t : prompt) logits = reference.forward(t);
  std::vector<GreedyStep> out;
  for (int i = 0; i < steps; ++i) {
    std::vector<double> sorted = logits;
    std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
    const auto top = static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back({top, sorted[0] - sorted[1]});
    if (stop_at_end && model.is_end_of_generation(top)) break;
    logits = reference.forward(top);
  }
  return out;
}

// The prompts of ../shared/ref/generation.json for one model file, with llama.cpp's greedy ids
// and margins.
struct LlamaCppGreedy {
  std::string name;
  std::vector<TokenId> prompt, greedy;
  std::vector<double> margins;
};

std::vector<LlamaCppGreedy> llama_cpp_greedy(const std::string& file) {
  const std::string model_name = file.substr(file.find('/') + 1);
  std::vector<LlamaCppGreedy> out;
  for (const auto& e : nlohmann::json::parse(test::read_file(test::shared("ref/generation.json")))) {
    if (e.at("model") != model_name) continue;
    out.push_back({e.at("prompt_name"), e.at("prompt_ids"), e.at("greedy_ids"), e.at("top2_logit_margin")});
  }
  if (out.empty()) throw Error(fmt::format("ref/generation.json has no entry for {}", model_name));
  return out;
}

class ReferenceGreedy : public testing::TestWithParam<Case> {};

// bantam's greedy generation (F32 KV cache) against the reference's, on each prompt llama.cpp
// was run on: equal token for token until the reference's top-2 margin falls below 1e-3.
TEST_P(ReferenceGreedy, BantamFollowsReference) {
  const Case& c = GetParam();
  const std::string path = test::shared("models/" + c.file).string();
  const auto model = Model::load(path);
  test::ReferenceDecoder reference(path);
  for (const LlamaCppGreedy& entry : llama_cpp_greedy(c.file)) {
    const std::vector<GreedyStep> expected = reference_greedy(reference, *model, entry.prompt, kGreedySteps, true);
    Session session(model, {.context_length = 256, .threads = 1, .kv_type = KvCacheType::F32});
    GenerateOptions options;
    options.max_tokens = kGreedySteps;
    options.sampling.temperature = 0.0f;
    const GenerateResult result = session.generate(entry.prompt, options);
    std::vector<TokenId> got = result.tokens;
    if (result.stop_reason == StopReason::EndOfGeneration) got.push_back(expected.back().token);
    size_t compared = 0;
    for (; compared < expected.size() && expected[compared].margin >= kCoinTossMargin; ++compared) {
      ASSERT_LT(compared, got.size()) << entry.name << ": bantam stopped early";
      ASSERT_EQ(got[compared], expected[compared].token)
          << entry.name << ": step " << compared << ", reference margin " << expected[compared].margin;
    }
    std::cout << fmt::format("[ numerics ] {} {}: {} of {} greedy steps compared\n", c.file, entry.name,
                             compared, expected.size());
  }
}

INSTANTIATE_TEST_SUITE_P(Files, ReferenceGreedy, testing::ValuesIn(cases()), case_name);

class ReferenceCheck : public testing::TestWithParam<Case> {};

// The reference itself against llama.cpp, a third implementation: its greedy continuations
// equal llama.cpp's (../shared/ref/generation.json) until either side's top-2 margin falls
// below 1e-3, so the reference implements the model and not bantam's reading of it.
TEST_P(ReferenceCheck, GreedyMatchesLlamaCpp) {
  const Case& c = GetParam();
  const std::string path = test::shared("models/" + c.file).string();
  const auto model = Model::load(path);
  test::ReferenceDecoder reference(path);
  for (const LlamaCppGreedy& entry : llama_cpp_greedy(c.file)) {
    const std::vector<GreedyStep> ours =
        reference_greedy(reference, *model, entry.prompt, static_cast<int>(entry.greedy.size()), false);
    size_t compared = 0;
    for (; compared < ours.size(); ++compared) {
      if (ours[compared].margin < kCoinTossMargin || entry.margins[compared] < kCoinTossMargin) break;
      ASSERT_EQ(ours[compared].token, entry.greedy[compared])
          << entry.name << ": step " << compared << ", reference margin " << ours[compared].margin
          << ", llama.cpp margin " << entry.margins[compared];
    }
    std::cout << fmt::format("[ numerics ] {} {}: reference equals llama.cpp for {} of {} steps\n", c.file,
                             entry.name, compared, ours.size());
  }
}

INSTANTIATE_TEST_SUITE_P(Files, ReferenceCheck, testing::ValuesIn(cases()), case_name);

}  // namespace
}  // namespace bantam
