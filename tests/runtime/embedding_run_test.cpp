// EmbeddingRun: embeddings computed a bounded piece at a time (what lets the server interleave
// them with chat) equal those of one forward over the whole inputs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "bantam/bantam.hpp"
#include "runtime/batch_decode.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

// Runs `inputs` to the end in pieces of at most max_batch tokens, checking each piece's size.
std::vector<std::vector<float>> embed_in_pieces(const std::shared_ptr<const Model>& model, int max_batch,
                                                const std::vector<std::vector<TokenId>>& inputs, int& pieces) {
  BatchDecoder decoder(model, 1, 512, 1, max_batch);
  EmbeddingRun run(inputs);
  int64_t total = 0;
  pieces = 0;
  while (!run.done()) {
    const int64_t n = decoder.embed_piece(run);
    EXPECT_GT(n, 0);
    EXPECT_LE(n, max_batch);
    total += n;
    ++pieces;
  }
  EXPECT_EQ(decoder.embed_piece(run), 0);
  int64_t expected = 0;
  for (const auto& input : inputs) expected += static_cast<int64_t>(input.size());
  EXPECT_EQ(total, expected);
  return run.take_results();
}

TEST(EmbeddingRun, SmallPiecesGiveWhatOneForwardGives) {
  const auto model = Model::load(test::shared("models/weights/stories260K.gguf").string());
  std::vector<TokenId> long_input;
  for (int i = 0; i < 300; ++i) long_input.push_back(3 + (i * 37) % 500);
  const std::vector<std::vector<TokenId>> inputs = {model->tokenize("Once upon a time", true, false), long_input,
                                                    model->tokenize("a cat sat", true, false)};
  int whole_pieces = 0, small_pieces = 0;
  const auto whole = embed_in_pieces(model, 1024, inputs, whole_pieces);
  const auto small = embed_in_pieces(model, 64, inputs, small_pieces);
  EXPECT_EQ(whole_pieces, 1);
  EXPECT_GE(small_pieces, 300 / 64 + 1);
  ASSERT_EQ(whole.size(), inputs.size());
  ASSERT_EQ(small.size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_EQ(small[i].size(), static_cast<size_t>(model->info().n_embd));
    double norm = 0;
    for (size_t k = 0; k < small[i].size(); ++k) {
      EXPECT_NEAR(small[i][k], whole[i][k], 1e-5) << "input " << i << ", component " << k;
      norm += double{small[i][k]} * small[i][k];
    }
    EXPECT_NEAR(norm, 1.0, 1e-4);
  }
  EXPECT_NE(small[0], small[2]);
}

TEST(EmbeddingRun, AnEmptyInputIsRefusedByIndex) {
  EXPECT_THAT([] { EmbeddingRun run({{1, 2}, {}}); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("input 1 has no tokens")));
}

}  // namespace
}  // namespace bantam
