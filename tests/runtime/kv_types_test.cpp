// Quantized KV caches through the public Session: Q8_0 and Q4_0 keys and values (apart or
// together) stay close to the F16 cache, take the bytes their blocks say, fall back to F16 on
// heads narrower than a block, and survive a save/restore round trip that refuses other types.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "bantam/bantam.hpp"
#include "runtime/runtime_test_support.hpp"

namespace bantam {
namespace {

std::vector<TokenId> prompt(int n) {
  std::vector<TokenId> ids;
  for (int i = 0; i < n; ++i) ids.push_back(1 + (i * 37) % 500);
  return ids;
}

double worst_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max<double>(worst, std::fabs(a[i] - b[i]));
  return worst;
}

SessionOptions options(KvCacheType keys, KvCacheType values) {
  return {.context_length = 128, .threads = 1, .kv_type = keys, .kv_type_v = values};
}

// synth-llama3 has heads of 32: one block per head row. Logits of order 10; a Q4_0 row keeps
// about 3 bits of each value, Q8_0 about 7.
TEST(KvTypes, QuantizedCachesStayCloseToF16AndTakeTheirBlockSizes) {
  const auto model = test::load_shared_model("synthetic/synth-llama3-f16.gguf");
  const auto ids = prompt(90);  // a block-kernel prompt (64 tokens or more), then one-token steps
  Session f16(model, options(KvCacheType::F16, KvCacheType::F16));
  const auto reference = f16.evaluate(ids);
  struct Want {
    KvCacheType keys, values;
    double max_difference;
    size_t bytes;  // a key and a value row of 32 take this many bytes (F16: 128)
  };
  const size_t f16_bytes = f16.kv_cache_bytes();
  for (const Want& w : {Want{KvCacheType::Q8_0, KvCacheType::Q8_0, 0.1, 34 + 34},
                        Want{KvCacheType::Q4_0, KvCacheType::Q4_0, 0.5, 18 + 18},
                        Want{KvCacheType::Q8_0, KvCacheType::Q4_0, 0.5, 34 + 18},
                        Want{KvCacheType::F16, KvCacheType::Q8_0, 0.1, 64 + 34}}) {
    Session quantized(model, options(w.keys, w.values));
    const auto logits = quantized.evaluate(ids);
    ASSERT_EQ(logits.size(), reference.size());
    EXPECT_LT(worst_difference(logits, reference), w.max_difference);
    EXPECT_GT(worst_difference(logits, reference), 0.0) << "the rows were not quantized";
    EXPECT_EQ(quantized.kv_cache_bytes() * 128, f16_bytes * w.bytes);
  }
}

TEST(KvTypes, HeadsNarrowerThanABlockKeepF16) {
  const auto model = test::load_shared_model("weights/stories260K.gguf");  // heads of 8
  Session f16(model, options(KvCacheType::F16, KvCacheType::F16));
  Session asked_q8(model, options(KvCacheType::Q8_0, KvCacheType::Q4_0));
  EXPECT_EQ(asked_q8.kv_cache_bytes(), f16.kv_cache_bytes());
  EXPECT_EQ(asked_q8.evaluate(prompt(20)), f16.evaluate(prompt(20)));
}

TEST(KvTypes, StateRoundTripKeepsQuantizedRowsAndRefusesOtherTypes) {
  const auto model = test::load_shared_model("synthetic/synth-llama3-f16.gguf");
  const auto ids = prompt(40);
  const TokenId next = 7;
  for (const auto& [keys, values] : {std::pair{KvCacheType::Q8_0, KvCacheType::Q8_0},
                                     std::pair{KvCacheType::Q4_0, KvCacheType::Q4_0},
                                     std::pair{KvCacheType::Q4_0, KvCacheType::F16}}) {
    Session saved(model, options(keys, values));
    saved.evaluate(ids);
    const auto state = saved.save_state();
    Session restored(model, options(keys, values));
    restored.restore_state(state);
    EXPECT_EQ(restored.tokens(), ids);
    EXPECT_EQ(restored.evaluate({&next, 1}), saved.evaluate({&next, 1}));

    Session other(model, options(keys, KvCacheType::Q8_0 == values ? KvCacheType::Q4_0 : KvCacheType::Q8_0));
    try {
      other.restore_state(state);
      ADD_FAILURE() << "a state of other KV types was restored";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("KV cache types"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace bantam
