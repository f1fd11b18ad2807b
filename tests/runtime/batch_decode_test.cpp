// BatchDecoder: several slots in one forward pass compute what one Session per slot computes,
// each slot with its own adapters.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "api/model_impl.hpp"
#include "bantam/bantam.hpp"
#include "model/lora.hpp"
#include "runtime/batch_decode.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

std::vector<float> session_logits(const std::shared_ptr<const Model>& model, const std::vector<TokenId>& prompt,
                                  std::vector<AdapterUse> adapters) {
  Session session(model, {.context_length = 128, .threads = 1, .adapters = std::move(adapters)});
  const auto all = session.evaluate(prompt);
  const size_t n_vocab = static_cast<size_t>(model->info().n_vocab);
  return {all.end() - static_cast<std::ptrdiff_t>(n_vocab), all.end()};
}

// Batched products sum in another order than single-token ones (as in llama.cpp): close, not equal.
void expect_close(const float* got, const std::vector<float>& want, const std::string& what) {
  float max_diff = 0;
  for (size_t i = 0; i < want.size(); ++i) max_diff = std::max(max_diff, std::fabs(got[i] - want[i]));
  EXPECT_LT(max_diff, 1e-3f) << what;
  EXPECT_EQ(std::max_element(got, got + want.size()) - got, std::max_element(want.begin(), want.end()) - want.begin())
      << what;
}

TEST(BatchDecoder, SlotsWithDifferentAdaptersMatchTheirOwnSessions) {
  const auto model = Model::load(test::shared("models/weights/stories260K.gguf").string());
  const auto adapter = Adapter::load(test::shared("models/adapters/stories260K-lora-qvd-r8-f32.gguf").string(), *model);
  LoraSet lora;
  lora.add(adapter->impl().lora, 1.0f, model->impl().weights);

  const std::vector<TokenId> a = model->tokenize("Once upon a time", true, false);
  const std::vector<TokenId> b = model->tokenize("The little dog ran to the park and", true, false);
  BatchDecoder decoder(model, 2, 128, 1, 64);
  std::vector<float> logits;
  const BatchSegment segments[] = {{0, a, &lora}, {1, b, nullptr}};
  decoder.step(segments, logits);
  const size_t n_vocab = static_cast<size_t>(model->info().n_vocab);
  ASSERT_EQ(logits.size(), 2 * n_vocab);
  const auto with_adapter = session_logits(model, a, {{adapter, 1.0f}});
  expect_close(logits.data(), with_adapter, "slot 0 (adapter)");
  expect_close(logits.data() + n_vocab, session_logits(model, b, {}), "slot 1 (base)");
  // The adapter matters: slot 0 differs from the base model on the same prompt.
  const auto base_a = session_logits(model, a, {});
  float diff = 0;
  for (size_t i = 0; i < n_vocab; ++i) diff = std::max(diff, std::fabs(with_adapter[i] - base_a[i]));
  EXPECT_GT(diff, 1e-2f);

  // Decode steps keep each slot's adapters and sequence.
  const TokenId next_a = static_cast<TokenId>(std::max_element(logits.begin(), logits.begin() + n_vocab) - logits.begin());
  const TokenId next_b =
      static_cast<TokenId>(std::max_element(logits.begin() + n_vocab, logits.end()) - (logits.begin() + n_vocab));
  const std::vector<TokenId> one_a = {next_a}, one_b = {next_b};
  const BatchSegment next[] = {{0, one_a, &lora}, {1, one_b, nullptr}};
  decoder.step(next, logits);
  std::vector<TokenId> full_a = a, full_b = b;
  full_a.push_back(next_a);
  full_b.push_back(next_b);
  expect_close(logits.data(), session_logits(model, full_a, {{adapter, 1.0f}}), "slot 0 step 2");
  expect_close(logits.data() + n_vocab, session_logits(model, full_b, {}), "slot 1 step 2");
  EXPECT_EQ(decoder.tokens(0), full_a);
}

// Speculative drafts: a slot's segment gives every position's logits beside another slot's
// last-token logits; truncating the rejected tail lets the next step write over it.
TEST(BatchDecoder, AllLogitsSegmentsAndTruncationMatchSessions) {
  const auto model = Model::load(test::shared("models/weights/stories260K.gguf").string());
  const size_t n_vocab = static_cast<size_t>(model->info().n_vocab);
  const std::vector<TokenId> a = model->tokenize("Once upon a time", true, false);
  const std::vector<TokenId> b = model->tokenize("The little dog ran", true, false);
  BatchDecoder decoder(model, 2, 128, 1, 64);
  std::vector<float> logits;
  const BatchSegment first[] = {{0, a, nullptr, true}, {1, b, nullptr, false}};
  decoder.step(first, logits);
  ASSERT_EQ(logits.size(), (a.size() + 1) * n_vocab);
  for (size_t i = 0; i < a.size(); ++i) {
    const std::vector<TokenId> prefix(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    expect_close(logits.data() + i * n_vocab, session_logits(model, prefix, {}), "slot 0 position " + std::to_string(i));
  }
  expect_close(logits.data() + a.size() * n_vocab, session_logits(model, b, {}), "slot 1");

  // Keep two tokens of slot 0, then continue it with other tokens: as if never written.
  decoder.truncate(0, 2);
  EXPECT_EQ(decoder.tokens(0).size(), 2u);
  const std::vector<TokenId> other = model->tokenize(" little cat", false, false);
  const BatchSegment next[] = {{0, other}};
  decoder.step(next, logits);
  std::vector<TokenId> full(a.begin(), a.begin() + 2);
  full.insert(full.end(), other.begin(), other.end());
  expect_close(logits.data(), session_logits(model, full, {}), "slot 0 after truncation");
  EXPECT_EQ(decoder.tokens(0), full);
}

// A sliding-window layer's ring (gemma2: window 32; with batches of 8, 39 positions) also holds the
// positions rejected drafts wrote: a prefix whose window keys they overwrote is not reusable.
TEST(BatchDecoder, RejectedDraftsCountAsWrittenForReuse) {
  const auto model = Model::load(test::shared("models/synthetic/synth-gemma2-f16.gguf").string());
  BatchDecoder decoder(model, 1, 256, 1, 8);
  std::vector<TokenId> sequence;
  for (TokenId t = 0; t < 55; ++t) sequence.push_back(10 + t);
  std::vector<float> logits;
  for (size_t begin = 0; begin < sequence.size(); begin += 5) {
    const BatchSegment part[] = {{0, std::span<const TokenId>(sequence).subspan(begin, 5)}};
    decoder.step(part, logits);
  }
  decoder.truncate(0, 50);  // the last 5 were drafts, rejected: positions 0..54 were written
  const auto prompt = [&](size_t shared) {
    std::vector<TokenId> p(sequence.begin(), sequence.begin() + static_cast<std::ptrdiff_t>(shared));
    p.push_back(1);
    return p;
  };
  // 45 shared tokens need keys from position 14 on; the ring holds 16..54 after the drafts.
  EXPECT_EQ(decoder.reusable_prefix(0, prompt(45)), 0);
  // 48 need keys from 17 on: still held.
  EXPECT_EQ(decoder.reusable_prefix(0, prompt(48)), 48);
}

TEST(BatchDecoder, BadStepsAreRefused) {
  const auto model = Model::load(test::shared("models/weights/stories260K.gguf").string());
  BatchDecoder decoder(model, 2, 16, 1, 8);
  std::vector<float> logits;
  const std::vector<TokenId> tokens = {1, 2, 3};
  const BatchSegment twice[] = {{0, tokens}, {0, tokens}};
  EXPECT_THROW(decoder.step(twice, logits), Error);
  const BatchSegment outside[] = {{5, tokens}};
  EXPECT_THROW(decoder.step(outside, logits), Error);
  const std::vector<TokenId> many(9, 1);
  const BatchSegment too_many[] = {{0, many}};
  EXPECT_THROW(decoder.step(too_many, logits), Error);
}

}  // namespace
}  // namespace bantam
