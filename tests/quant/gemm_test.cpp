// Multi-token dot products: gemm must give, for every (row, token), exactly vec_dot's value (in
// the same DotOrder) at every ISA level, for token counts that fill no whole tile, and write nothing else. Float rows
// are the exception, as in llama.cpp: several tokens take tinyBLAS's order (16 lanes, one FMA
// chain each), one token ggml_vec_dot's, and each must be reproduced bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "bantam/error.hpp"
#include "quant/dot.hpp"
#include "quant_test_util.hpp"

namespace bantam::quant {
namespace {

constexpr GgmlType kWeightTypes[] = {
    GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0, GgmlType::Q4_1,   GgmlType::Q5_0,
    GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K,   GgmlType::Q5_K,
    GgmlType::Q6_K, GgmlType::Q8_K, GgmlType::IQ4_NL, GgmlType::IQ4_XS};

constexpr float kUntouched = -12345.0f;

class GemmTest : public ::testing::Test {
 protected:
  void TearDown() override { set_isa_for_testing(available_isas().back()); }
};

struct Problem {
  int64_t n = 0;
  int64_t rows = 0;
  int64_t tokens = 0;
  size_t stride = 0;
  size_t act_stride = 0;
  std::vector<uint8_t> weights;
  std::vector<uint8_t> acts;
};

// Rows alternate random bytes and quantized gaussian data; every token has its own activations.
Problem make_problem(GgmlType type, int64_t n, int64_t rows, int64_t tokens) {
  Problem p{n, rows, tokens, row_bytes(type, n), activation_bytes(vec_dot_type(type), n), {}, {}};
  for (int64_t r = 0; r < rows; ++r) {
    const auto row = test::weight_row(type, n, static_cast<uint32_t>(r) * 13 + 1, r % 2 == 1);
    p.weights.insert(p.weights.end(), row.begin(), row.end());
  }
  for (int64_t t = 0; t < tokens; ++t) {
    const auto act = test::activations(type, n, static_cast<uint32_t>(t) * 7 + 3);
    p.acts.insert(p.acts.end(), act.begin(), act.end());
  }
  return p;
}

// A float row's dot in tinyBLAS's order: lane l sums elements l, l+16, ... in one FMA chain; the
// lanes are added as _mm512_reduce_add_ps does (halves, then halves again).
float batched_float_dot(GgmlType type, int64_t n, const uint8_t* w, const uint8_t* a) {
  const auto value = [&](const uint8_t* p, int64_t i) {
    if (type == GgmlType::F32) {
      float f;
      std::memcpy(&f, p + 4 * i, 4);
      return f;
    }
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    return fp16_to_fp32(h);
  };
  float lanes[16] = {};
  for (int64_t i = 0; i < n; ++i) lanes[i % 16] = std::fma(value(w, i), value(a, i), lanes[i % 16]);
  for (int width = 8; width >= 1; width /= 2) {
    for (int l = 0; l < width; ++l) lanes[l] += lanes[l + width];
  }
  return lanes[0];
}

bool batched_float_order(GgmlType type, int64_t n) {
  return (type == GgmlType::F32 || type == GgmlType::F16) && n % 16 == 0 && active_isa() != Isa::Scalar &&
         follows_llama_cpp_orders(active_isa());
}

// Runs gemm on rows [row_begin, row_end) into a padded output and checks every element.
void check_gemm(GgmlType type, const Problem& p, int64_t row_begin, int64_t row_end, const std::string& where,
                DotOrder order = DotOrder::VecDot) {
  const size_t out_stride = static_cast<size_t>(p.rows) + 3;
  std::vector<float> out(out_stride * static_cast<size_t>(p.tokens), kUntouched);
  gemm(type, p.n, p.weights.data(), p.stride, row_begin, row_end, p.acts.data(), p.act_stride, p.tokens, out.data(),
       out_stride, order);
  for (int64_t t = 0; t < p.tokens; ++t) {
    for (size_t r = 0; r < out_stride; ++r) {
      const float got = out[static_cast<size_t>(t) * out_stride + r];
      const auto row = static_cast<int64_t>(r);
      if (row < row_begin || row >= row_end) {
        ASSERT_EQ(got, kUntouched) << where << " wrote row " << r << " token " << t;
        continue;
      }
      const uint8_t* w = p.weights.data() + r * p.stride;
      const uint8_t* a = p.acts.data() + static_cast<size_t>(t) * p.act_stride;
      const float want = batched_float_order(type, p.n) && p.tokens > 1 ? batched_float_dot(type, p.n, w, a)
                                                                        : vec_dot(type, p.n, w, a, order);
      ASSERT_EQ(got, want) << where << " row " << r << " token " << t;
    }
  }
}

TEST_F(GemmTest, EveryTypeAtEveryIsaEqualsVecDotPerElement) {
  for (Isa isa : available_isas()) {
    set_isa_for_testing(isa);
    for (GgmlType type : kWeightTypes) {
      // Odd block counts (and counts that are not a multiple of four blocks) and several
      // super-blocks; 11 rows fill no whole group of 2 or 4 rows.
      const bool k_quant = type_info(type).block_size == 256;
      for (int64_t n : k_quant ? std::vector<int64_t>{256, 1792} : std::vector<int64_t>{224, 896}) {
        const Problem p = make_problem(type, n, 11, 13);
        for (int64_t tokens : {1, 3, 7, 13}) {
          Problem q = p;
          q.tokens = tokens;
          const std::string where = std::string(isa_name(isa)) + " " + std::string(type_name(type)) +
                                    " n=" + std::to_string(n) + " tokens=" + std::to_string(tokens);
          check_gemm(type, q, 0, 11, where);
          check_gemm(type, q, 1, 10, where + " rows 1..10");
          // llama.cpp's repacked orders too: Q4_0's everywhere; Q4_K's and Q2_K's where the level
          // sums a batch as vec_dot does (kquant_order_test checks the x86 orders' batches).
          const bool repacked_k = type == GgmlType::Q4_K || type == GgmlType::Q2_K;
          if (type == GgmlType::Q4_0 || (repacked_k && !follows_llama_cpp_orders(isa))) {
            check_gemm(type, q, 0, 11, where + " interleaved8", DotOrder::Interleaved8);
            check_gemm(type, q, 1, 10, where + " interleaved8 rows 1..10", DotOrder::Interleaved8);
          }
        }
      }
    }
  }
}

TEST_F(GemmTest, ManyLongTokensSpanSeveralCacheChunks) {
  // 4096-wide rows make activations big enough that the tokens are split into chunks.
  for (Isa isa : available_isas()) {
    set_isa_for_testing(isa);
    for (GgmlType type : {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K}) {
      const Problem p = make_problem(type, 4096, 5, 131);
      check_gemm(type, p, 0, 5, std::string(isa_name(isa)) + " " + std::string(type_name(type)));
      if (type == GgmlType::Q4_0) {
        check_gemm(type, p, 0, 5, std::string(isa_name(isa)) + " Q4_0 interleaved8", DotOrder::Interleaved8);
      }
    }
  }
}

TEST(GemmErrors, BadTypesAndLengthsAreRefused) {
  std::vector<uint8_t> buf(1024);
  std::vector<float> out(4);
  EXPECT_THROW(gemm(GgmlType::IQ2_XXS, 256, buf.data(), 66, 0, 1, buf.data(), 292, 2, out.data(), 1), Error);
  EXPECT_THROW(gemm(GgmlType::Q4_K, 100, buf.data(), 144, 0, 1, buf.data(), 292, 2, out.data(), 1), Error);
}

}  // namespace
}  // namespace bantam::quant
