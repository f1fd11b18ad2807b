// Prompt attention (batches of kBlockAttentionMinTokens queries or more): the block kernel on
// every ISA level against a float64 transcription of softmax attention, and the AVX-512 tile
// kernel against the portable one on the same inputs.
//
// Tolerances: outputs are weighted means of values of order 1 computed in F32 over at most a few
// hundred keys (scores of order 10), so they stay within 1e-5 (absolute, plus 1e-5 relative) of
// the float64 result; the two tile kernels differ only in summation order and the exp polynomial
// (1.5 ulp), within 1e-5 relative of each other.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "attention_reference.hpp"
#include "ops/attention.hpp"
#include "ops/attention_kernels.hpp"
#include "quant/dot.hpp"
#include "quant/quant.hpp"

namespace bantam::ops {
namespace testing_attention {
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }
}  // namespace testing_attention
namespace {

using testing_attention::Case;

class BlockAttention : public testing::TestWithParam<Case> {};

TEST_P(BlockAttention, AgreesWithFloat64OnEveryIsa) {
  const Case c = GetParam();
  ASSERT_GE(c.n_tokens, kBlockAttentionMinTokens) << "the case must take the block kernel";
  testing_attention::expect_every_isa_matches_reference(c, 42, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, BlockAttention,
    testing::Values(
        Case{"GqaSevenHeadsPerKvHead", GgmlType::F16, 14, 2, 64, 64, 0, 130, {.scale = 0.125f}},
        Case{"GqaWithCachedPrefix", GgmlType::F16, 8, 2, 64, 64, 37, 70, {.scale = 0.125f}},
        Case{"F32Cache", GgmlType::F32, 4, 4, 32, 32, 0, 64, {.scale = 0.2f}},
        Case{"Q8_0Cache", GgmlType::Q8_0, 6, 3, 96, 96, 5, 100, {.scale = 0.1f}},
        Case{"Q4_0Cache", GgmlType::Q4_0, 14, 2, 64, 64, 70, 100, {.scale = 0.125f}},
        Case{"Q8_0KeysF16Values", GgmlType::Q8_0, 4, 2, 64, 64, 0, 90, {.scale = 0.125f}, 0, GgmlType::F16},
        Case{"Q4_0KeysQ8_0ValuesRing", GgmlType::Q4_0, 2, 1, 64, 64, 200, 70, {.scale = 0.125f, .window = 40}, 109,
             GgmlType::Q8_0},
        Case{"OddHeadSizes", GgmlType::F32, 3, 1, 20, 40, 3, 67, {.scale = 0.3f}},
        Case{"NarrowHeads", GgmlType::F16, 8, 4, 8, 8, 0, 80, {.scale = 0.35f}},
        Case{"WideValuesWithTail", GgmlType::F16, 2, 1, 72, 200, 10, 65, {.scale = 0.1f}},
        Case{"SlidingWindow", GgmlType::F16, 3, 1, 96, 96, 10, 90, {.scale = 0.1f, .window = 50}},
        Case{"SlidingWindowRing", GgmlType::F16, 2, 2, 64, 64, 300, 70, {.scale = 0.125f, .window = 40}, 109},
        Case{"Softcap", GgmlType::F16, 2, 1, 256, 256, 0, 66, {.scale = 0.0625f, .softcap = 50.0f}},
        Case{"StartsOnATileEdge", GgmlType::F16, 1, 1, 48, 48, 64, 64, {.scale = 0.2f}}),
    [](const testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

#if defined(__x86_64__)
// Random rows and a tile with the running state already started, each row seeing part of it.
struct TileInputs {
  int dk, dv, count;
  std::vector<float> q, keys_t, values, max, sum, out;
  std::vector<int64_t> first_key, last_key;
  KeyTile tile;
  TileInputs(int dk_, int dv_, int count_, int64_t tile_keys, std::mt19937& rng)
      : dk(dk_), dv(dv_), count(count_) {
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::uniform_int_distribution<int64_t> key(0, tile_keys - 1);
    const auto fill = [&](std::vector<float>& v, size_t n, float scale) {
      v.resize(n);
      for (float& x : v) x = scale * dist(rng);
    };
    fill(q, static_cast<size_t>(count * dk), 0.5f);
    fill(keys_t, static_cast<size_t>(dk * kTileKeys), 1.0f);
    fill(values, static_cast<size_t>(tile_keys * dv), 1.0f);
    fill(out, static_cast<size_t>(count * dv), 1.0f);
    for (int r = 0; r < count; ++r) {
      max.push_back(r == 0 ? -std::numeric_limits<float>::infinity() : 3.0f * dist(rng));
      sum.push_back(r == 0 ? 0.0f : 1.0f + std::fabs(dist(rng)));
      if (r == 0) std::fill(out.begin(), out.begin() + dv, 0.0f);  // a row before its first key
      const int64_t a = key(rng), b = key(rng);
      first_key.push_back(100 + std::min(a, b) - (r == 1 ? 50 : 0));  // row 1 from before the tile
      last_key.push_back(100 + std::max(a, b) + (r == 2 ? 90 : 0));   // row 2 past its end
    }
    if (count > 3) last_key[3] = first_key[3] - 1;  // a row that sees nothing of the tile
    tile = {.first = 100, .count = tile_keys, .keys_t = keys_t.data(), .key_stride = kTileKeys,
            .values = values.data(), .value_stride = dv};
  }
  QueryRows rows() {
    return {.count = count, .dk = dk, .dv = dv, .q = q.data(), .first_key = first_key.data(),
            .last_key = last_key.data(), .max = max.data(), .sum = sum.data(), .out = out.data()};
  }
};

TEST(AttentionTile, Avx512MatchesPortable) {
  const auto isas = quant::available_isas();
  if (std::find(isas.begin(), isas.end(), quant::Isa::Avx512) == isas.end()) GTEST_SKIP() << "no AVX-512";
  std::mt19937 rng(3);
  for (const int dk : {1, 8, 20, 64, 100}) {
    for (const int dv : {5, 16, 64, 72, 136}) {
      for (int count = 1; count <= kTileRows; ++count) {
        for (const float softcap : {0.0f, 5.0f}) {
          for (const int64_t tile_keys : {int64_t{1}, int64_t{37}, kTileKeys}) {
            std::mt19937 fork(rng());
            TileInputs portable(dk, dv, count, tile_keys, fork);
            TileInputs simd = portable;
            simd.tile.keys_t = simd.keys_t.data();
            simd.tile.values = simd.values.data();
            attend_tile_portable(portable.rows(), portable.tile, softcap);
            attend_tile_avx512(simd.rows(), simd.tile, softcap);
            const auto near = [](float a, float b) { return std::fabs(a - b) <= 1e-5f * (1.0f + std::fabs(b)); };
            for (int r = 0; r < count; ++r) {
              ASSERT_EQ(simd.max[r], portable.max[r]) << "row " << r;  // the same scores' maximum
              ASSERT_PRED2(near, simd.sum[r], portable.sum[r]) << "row " << r;
            }
            for (size_t i = 0; i < simd.out.size(); ++i) {
              ASSERT_PRED2(near, simd.out[i], portable.out[i])
                  << "dk " << dk << " dv " << dv << " rows " << count << " keys " << tile_keys << " at " << i;
            }
          }
        }
      }
    }
  }
}
#endif

}  // namespace
}  // namespace bantam::ops
