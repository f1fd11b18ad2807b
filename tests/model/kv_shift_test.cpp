// Context shift in the KV cache (KvCache::shift, ops::rope_shift_cos_sin): every re-rotated key
// equals the key computed from the same pre-RoPE vector at its new position, for the RoPE variants
// of the shared models (Llama's adjacent pairs, NeoX halves, Llama 3's rope_freqs, LongRoPE's long
// factors with their attention factor), in every cache type, for full layers and sliding-window rings.
//
// Bars, in units of each head's largest component: F32 1e-5 (the shift rotates by the difference
// of the two float angles in double, so only a few float roundings separate it from RoPE at the
// new position, at any position; 1e-6 is typical at 4,600 positions). Rounded types in steps of
// their rounding at that component (F16: its ulp; Q8_0: the block scale, largest / 127): the fresh
// key is rounded once (half a step), the shifted one was rounded (a rotation mixes two such errors:
// up to sqrt(2)/2 step), rotated and rounded again (half a step), so 1.75 steps for F16; Q8_0 2.5,
// since the block rounded before the rotation may have had a larger scale (by up to sqrt(2)). One
// step is typical. Values move unchanged, bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "api/model_impl.hpp"
#include "bantam/bantam.hpp"
#include "model/decoder.hpp"
#include "model/kv_cache.hpp"
#include "ops/rope_shift.hpp"
#include "quant/quant.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

struct Case {
  const char* model;  // under ../shared/models
  int64_t context;    // phi3: past its original 4096, so LongRoPE's long factors are in use
  GgmlType type;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.model << " " << type_name(c.type) << " ctx " << c.context; }

// The unit errors are measured in, at a head whose largest component is `largest`.
double step(GgmlType type, float largest) {
  switch (type) {
    case GgmlType::F32: return largest;
    case GgmlType::F16: return std::ldexp(1.0, std::ilogb(largest) - 10);
    default: return largest / 127.0;
  }
}

double bar(GgmlType type) {
  switch (type) {
    case GgmlType::F32: return 1e-5;
    case GgmlType::F16: return 1.75;
    default: return 2.5;
  }
}

class KvShift : public testing::TestWithParam<Case> {};

// Keys before RoPE for every position and KV head, rotated at their positions into the cache;
// values random too. After a shift, each held key is compared with the pre-RoPE key of the
// position it came from, rotated at its new position and rounded to the cache type.
TEST_P(KvShift, ShiftedKeysEqualKeysRotatedAtTheirNewPositions) {
  const Case& c = GetParam();
  const auto model = Model::load(test::shared(std::string("models/") + c.model).string());
  const ModelConfig& config = model->impl().config;
  const Decoder decoder(config, model->impl().weights);
  const ops::RopeParams rope = decoder.rope_params(c.context);
  const int n_kv = config.n_head_kv, dim = config.head_dim_k;
  const int64_t width = static_cast<int64_t>(n_kv) * dim;
  const int64_t batch = 16;
  KvCache cache(config, c.context, batch, KvRowTypes{c.type, c.type});

  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> raw(static_cast<size_t>(c.context * width)), values(raw.size());
  for (float& x : raw) x = normal(rng);
  for (float& x : values) x = normal(rng);
  std::vector<float> cos_sin(static_cast<size_t>(config.n_rot));
  const auto rotated = [&](int64_t source, int64_t pos) {
    std::vector<float> k(raw.begin() + source * width, raw.begin() + (source + 1) * width);
    ops::rope_cos_sin(rope, pos, cos_sin.data());
    ops::rope_apply(rope, cos_sin.data(), k.data(), n_kv, dim);
    return k;
  };
  for (int il = 0; il < cache.layers(); ++il) {
    for (int64_t p = 0; p < c.context; p += batch) {
      std::vector<float> keys;
      for (int64_t t = p; t < p + batch; ++t) {
        const auto k = rotated(t, t);
        keys.insert(keys.end(), k.begin(), k.end());
      }
      cache.write(il, p, batch, keys.data(), values.data() + p * width);
    }
  }

  const int64_t keep = 5, n_past = c.context;
  const int64_t discard = std::min((n_past - keep) / 2, cache.max_discard(n_past, keep));
  ASSERT_GT(discard, 0);
  cache.shift(n_past, keep, discard, rope);
  const int64_t n_after = n_past - discard;

  std::vector<float> shifted(static_cast<size_t>(dim)), fresh(static_cast<size_t>(dim));
  std::vector<uint8_t> row(row_bytes(c.type, dim));
  std::vector<float> expected_values(static_cast<size_t>(width)), got_values(static_cast<size_t>(width));
  double worst = 0;
  int64_t checked = 0;
  for (int il = 0; il < cache.layers(); ++il) {
    // A ring holds the last `capacity` positions; full layers hold them all.
    for (int64_t p = std::max<int64_t>(0, n_after - cache.capacity(il)); p < n_after; ++p) {
      const int64_t source = p < keep ? p : p + discard;
      const std::vector<float> k = rotated(source, p);
      const auto held = cache.row(il, p, false);
      for (int h = 0; h < n_kv; ++h) {
        quant::dequantize_row(c.type, held.data() + h * row.size(), shifted.data(), dim);
        quant::quantize_row(c.type, k.data() + h * dim, row.data(), dim);
        quant::dequantize_row(c.type, row.data(), fresh.data(), dim);
        float largest = 0;
        for (int d = 0; d < dim; ++d) largest = std::max(largest, std::fabs(fresh[d]));
        for (int d = 0; d < dim; ++d) {
          const double error = std::fabs(shifted[d] - fresh[d]) / step(c.type, largest);
          worst = std::max(worst, error);
          ASSERT_LE(error, bar(c.type)) << "layer " << il << " position " << p << " (from " << source << ") head "
                                        << h << " dim " << d;
        }
      }
      quant::dequantize_row(c.type, cache.row(il, p, true).data(), got_values.data(), width);
      std::vector<uint8_t> value_row(cache.row(il, p, true).size());
      for (int h = 0; h < n_kv; ++h) {
        quant::quantize_row(c.type, values.data() + source * width + h * dim,
                            value_row.data() + h * row_bytes(c.type, dim), dim);
      }
      ASSERT_TRUE(std::equal(value_row.begin(), value_row.end(), cache.row(il, p, true).begin()))
          << "layer " << il << " position " << p << ": the value did not move unchanged";
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
  RecordProperty("worst_error", std::to_string(worst));
}

INSTANTIATE_TEST_SUITE_P(
    Variants, KvShift,
    testing::Values(Case{"weights/stories260K.gguf", 512, GgmlType::F32},           // adjacent pairs
                    Case{"synthetic/synth-qwen2-f16.gguf", 512, GgmlType::F16},       // NeoX halves
                    Case{"synthetic/synth-llama3-f16.gguf", 4608, GgmlType::F32},     // rope_freqs, far positions
                    Case{"synthetic/synth-llama3-f16.gguf", 4608, GgmlType::F16},
                    Case{"synthetic/synth-llama3-f16.gguf", 1024, GgmlType::Q8_0},
                    Case{"synthetic/synth-phi3-f16.gguf", 4608, GgmlType::F32},       // LongRoPE long
                    Case{"synthetic/synth-phi3-f16.gguf", 4608, GgmlType::F16},
                    Case{"synthetic/synth-gemma2-f16.gguf", 512, GgmlType::F16}));  // rings on alternate layers

TEST(KvShiftTable, IsAPureRotationAtAnyDistance) {
  // LongRoPE's attention factor is already in a rotated key's length: the shift must not apply it again.
  const std::vector<float> factors{1.0f, 1.5f, 3.0f, 9.0f};
  const ops::RopeParams rope{.style = ops::RopeStyle::NeoX, .n_rot = 8, .freq_base = 10000.0f, .attn_factor = 1.19f,
                             .freq_factors = factors.data()};
  std::vector<float> table(8);
  for (const auto& [from, to] : {std::pair<int64_t, int64_t>{40000, 20000}, {7, 3}, {3, 3}}) {
    ops::rope_shift_cos_sin(rope, from, to, table.data());
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(std::hypot(table[2 * i], table[2 * i + 1]), 1.0, 1e-7);
  }
  EXPECT_EQ(table[0], 1.0f);  // no move: the identity
  EXPECT_EQ(table[1], 0.0f);
}

TEST(KvShiftLimits, RingsLimitTheDropAndRefuseMore) {
  const auto model = Model::load(test::shared("models/synthetic/synth-gemma2-f16.gguf").string());
  const ModelConfig& config = model->impl().config;
  ASSERT_TRUE(config.layer_sliding[0]);
  const int64_t batch = 8, context = 256;
  KvCache cache(config, context, batch);
  const int64_t capacity = cache.capacity(0);  // window + batch - 1
  ASSERT_LT(capacity, context);
  // Kept tokens the ring has overwritten must stay out of every window after the shift.
  EXPECT_EQ(cache.max_discard(context, 0), context - capacity);
  EXPECT_EQ(cache.max_discard(context, 100), context - capacity - 100);
  EXPECT_EQ(cache.max_discard(context, context - capacity), 0);
  // A sequence the ring still holds whole may drop anything after the kept start.
  EXPECT_EQ(cache.max_discard(capacity, 3), capacity - 3);
  const Decoder decoder(config, model->impl().weights);
  EXPECT_THROW(cache.shift(context, 100, context - capacity - 99, decoder.rope_params(context)), Error);
}

}  // namespace
}  // namespace bantam
