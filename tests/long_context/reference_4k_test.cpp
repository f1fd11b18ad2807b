// Long context against the float64 reference (tests/numerics/reference_decoder.hpp), labelled
// `long` in ctest (about 15 s of CPU per model): 4,200 tokens of the essay
// through bantam's prompt path (F32 KV cache, batches of 512) on the synthetic models whose RoPE is
// scaled as the shared models scale it: Llama 3 (rope_freqs from llama3 scaling, base 500000) and
// Phi-3 (LongRoPE: a 4,608 context is past its original 4,096, so the long factors and the attention
// factor hold at every position, which the reference is told). Positions up to
// 4,199 put RoPE angles far from the 128-token chunks of reference_decoder_test.
//
// Scored: every 64th position and the last 16. Bars as reference_decoder_test's for F16 files with
// an F32 cache: mean KLD <= 1e-5, logits within 2e-3 of the reference relative to the largest,
// top-1 >= 99%.
#include <gtest/gtest.h>

#include <iostream>
#include <string>
#include <vector>

#include "numerics/agreement.hpp"
#include "bantam/bantam.hpp"
#include "numerics/reference_decoder.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

constexpr int64_t kTokens = 4200;
constexpr int64_t kContext = 4608;

class LongContext : public testing::TestWithParam<std::string> {};

TEST_P(LongContext, LogitsFollowTheReferencePast4kTokens) {
  const std::string path = test::shared("models/synthetic/" + GetParam()).string();
  const auto model = Model::load(path);
  std::vector<TokenId> tokens =
      model->tokenize(test::read_file(test::shared("corpus/small-llms-essay.txt")), true, false);
  ASSERT_GE(static_cast<int64_t>(tokens.size()), kTokens);
  tokens.resize(static_cast<size_t>(kTokens));

  Session session(model, {.context_length = kContext, .threads = 2, .kv_type = KvCacheType::F32});
  const std::vector<float> logits = session.evaluate(tokens);
  const auto n_vocab = static_cast<size_t>(model->info().n_vocab);
  ASSERT_EQ(logits.size(), tokens.size() * n_vocab);

  test::ReferenceDecoder reference(path);
  reference.set_longrope_context(kContext);
  test::Agreement agreement;
  for (int64_t pos = 0; pos < kTokens; ++pos) {
    std::vector<double> expected = reference.forward(tokens[static_cast<size_t>(pos)]);
    if (pos % 64 != 63 && pos < kTokens - 16) continue;
    agreement.add(test::ReferencePosition(std::move(expected)), logits.data() + pos * n_vocab);
  }
  std::cout << GetParam() << ": " << agreement.summary() << "\n";
  EXPECT_LE(agreement.mean_kld(), 1e-5) << agreement.summary();
  EXPECT_LE(agreement.max_relative, 2e-3) << agreement.summary();
  EXPECT_GE(agreement.top1(), 0.99) << agreement.summary();
}

INSTANTIATE_TEST_SUITE_P(RopeScaling, LongContext,
                         testing::Values("synth-llama3-f16.gguf", "synth-phi3-f16.gguf"),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return info.param.substr(6, info.param.find('-', 6) - 6);
                         });

}  // namespace
}  // namespace bantam
