// Decode attention (fewer than kBlockAttentionMinTokens queries): the one-query kernel reading
// every cache type as stored (F32, F16, Q8_0, Q4_0; keys and values apart) on every ISA level,
// against float64 softmax attention over the same cache.
//
// Tolerances: the kernel rounds each query as ggml does before the dot (to F16 for F16 keys, to
// Q8_0 blocks for Q8_0/Q4_0 keys, whose dots are then exact integer sums per block), so the
// reference takes the same rounded query. Left are F32 sums over dots of 64 elements and a few
// hundred keys: within 1e-5 (absolute plus relative) of float64. F16 values are accumulated in
// F16, rounded after every key as ggml does: those outputs stay within 3e-3.
#include <gtest/gtest.h>

#include <vector>

#include "attention_reference.hpp"
#include "quant/dot.hpp"

namespace bantam::ops {
namespace {

using testing_attention::Case;

// The query as the kernel dots it with keys of `key_type`.
std::vector<float> rounded_query(GgmlType key_type, const float* q, int dk) {
  std::vector<float> out(q, q + dk);
  if (key_type == GgmlType::F32) return out;
  const GgmlType as = key_type == GgmlType::F16 ? GgmlType::F16 : quant::vec_dot_type(key_type);
  std::vector<uint8_t> blocks(quant::activation_bytes(as, dk));
  quant::quantize_activations(as, q, blocks.data(), dk);
  quant::dequantize_row(as, blocks.data(), out.data(), dk);
  return out;
}

class DecodeAttention : public testing::TestWithParam<Case> {};

TEST_P(DecodeAttention, AgreesWithFloat64OnEveryIsa) {
  const Case c = GetParam();
  ASSERT_LT(c.n_tokens, kBlockAttentionMinTokens) << "the case must take the one-query kernel";
  testing_attention::expect_every_isa_matches_reference(
      c, 7, c.values() == GgmlType::F16 ? 3e-3 : 1e-5,
      [&c](const float* q, int dim_k) { return rounded_query(c.type, q, dim_k); });
}

INSTANTIATE_TEST_SUITE_P(
    Types, DecodeAttention,
    testing::Values(
        Case{"F32", GgmlType::F32, 4, 2, 64, 64, 150, 1, {.scale = 0.125f}},
        Case{"F16", GgmlType::F16, 14, 2, 64, 64, 300, 1, {.scale = 0.125f}},
        Case{"Q8_0", GgmlType::Q8_0, 14, 2, 64, 64, 300, 1, {.scale = 0.125f}},
        Case{"Q4_0", GgmlType::Q4_0, 8, 2, 128, 128, 200, 3, {.scale = 0.09f}},
        Case{"Q8_0KeysF16Values", GgmlType::Q8_0, 4, 1, 64, 64, 100, 2, {.scale = 0.125f}, 0, GgmlType::F16},
        Case{"F16KeysQ4_0Values", GgmlType::F16, 4, 1, 64, 64, 100, 2, {.scale = 0.125f}, 0, GgmlType::Q4_0},
        Case{"Q4_0KeysQ8_0ValuesSoftcap", GgmlType::Q4_0, 2, 1, 96, 32, 80, 4, {.scale = 0.1f, .softcap = 30.0f}, 0,
             GgmlType::Q8_0},
        Case{"Q8_0SlidingWindowRing", GgmlType::Q8_0, 2, 2, 64, 64, 400, 5, {.scale = 0.125f, .window = 40}, 45}),
    [](const testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace bantam::ops
