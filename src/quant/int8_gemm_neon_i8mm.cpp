// The aarch64 int8 GEMM (int8_gemm.hpp) with the int8 matrix multiplies (ARMv8.6 i8mm: Neoverse
// N2/V1/V2, Graviton 3/4, Apple M2+). SMMLA adds a 2x8 by 8x2 int8 product to a 2x2 int32 block:
// the panel holds, per 8 elements, two rows per vector (8 bytes each), the activations two tokens
// per vector (Int8Layout::TokenPairs). A tile of four rows by up to eight tokens keeps 2 x 4
// int32 blocks and as many float accumulators; per 8 elements it loads two weight vectors and up
// to four activation vectors for up to eight smmla. Installed only when HWCAP2_I8MM is set, so
// the whole file is compiled for it; every include comes first.
#if defined(__aarch64__)  // aarch64 builds only; empty elsewhere
#include <arm_neon.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "quant/blocks.hpp"
#include "quant/int8_gemm_kernels.hpp"

#pragma GCC push_options
// arm_neon.h declares smmla for armv8.2-a+i8mm; every core with i8mm has dotprod too.
#pragma GCC target("arch=armv8.2-a+dotprod+i8mm")
#include "quant/int8_gemm_neon_impl.hpp"

namespace bantam::quant::kernels {
namespace {

struct I8mmLevel {
  static constexpr int kChunk = 8;        // rows of a 2x8 operand
  static constexpr int kScaleCopies = 2;  // (d0, d0, d1, d1): a row pair's scales in a 2x2 block

  template <int T, int kBlock, bool kMins>
  static void tile(TileInputs in, float* out, size_t out_stride) {
    constexpr int kPairs = (T + 1) / 2;  // an odd T's last pair computes one spare token
    constexpr int kSteps = kBlock / 8;
    constexpr int kHalves = 32 / kBlock;
    // acc[rp][p] lanes: (row 2rp, token 2p), (2rp, 2p+1), (2rp+1, 2p), (2rp+1, 2p+1).
    float32x4_t acc[2][kPairs];
    for_each_index<kPairs>([&](auto p) { acc[0][p] = acc[1][p] = vdupq_n_f32(0); });
    for (int64_t b32 = 0; b32 < in.blocks32; ++b32) {
      // Token pair p's scales as (t0, t1, t0, t1), stored so (int8_token_floats).
      float32x4_t da[kPairs];
      for_each_index<kPairs>([&](auto p) { da[p] = vld1q_f32(in.da + 4 * p); });
      float32x4_t block[2][kPairs];  // d * sum over the 32 elements (both halves' terms for 16-element scales)
      for_each_index<kHalves>([&](auto h) {
        int32x4_t isum[2][kPairs];
        load_sum_starts<kPairs>(isum[0]);
        load_sum_starts<kPairs>(isum[1]);
        // Unrolled (as the loops around it) so that GCC, too, keeps one loop per 32 elements.
        for_each_index<kSteps>([&](auto s) {
          const int8x16_t w0 = vld1q_s8(in.levels + 32 * s), w1 = vld1q_s8(in.levels + 32 * s + 16);
          const int8_t* a = in.q + (h * kSteps + s) * 64;
          for_each_index<kPairs>([&](auto p) {
            const int8x16_t x = vld1q_s8(a + 16 * p);
            isum[0][p] = vmmlaq_s32(isum[0][p], w0, x);
            isum[1][p] = vmmlaq_s32(isum[1][p], w1, x);
          });
        });
        in.levels += 32 * kSteps;
        const float32x4_t d0 = vld1q_f32(in.scale), d1 = vld1q_f32(in.scale + 4);
        for_each_index<kPairs>([&](auto p) {
          for_each_index<2>([&](auto rp) {
            const float32x4_t d = rp == 0 ? d0 : d1;
            block[rp][p] = h == 0 ? vmulq_f32(started_sum_to_float(isum[rp][p]), d)
                                  : vfmaq_f32(block[rp][p], started_sum_to_float(isum[rp][p]), d);
          });
        });
        if constexpr (kMins) {
          const float32x4_t c0 = vld1q_f32(in.offset), c1 = vld1q_f32(in.offset + 4);
          for_each_index<kPairs>([&](auto p) {
            const float32x4_t sums = vld1q_f32(in.scaled_sum + 4 * p);
            acc[0][p] = vfmsq_f32(acc[0][p], c0, sums);
            acc[1][p] = vfmsq_f32(acc[1][p], c1, sums);
          });
        }
        in.scale += 2 * kQuadRows;
        in.offset += 2 * kQuadRows;
        in.scaled_sum += 2 * kTile;
      });
      // One scaling by the activations' da per 32 elements, whatever the weights' block.
      for_each_index<kPairs>([&](auto p) {
        acc[0][p] = vfmaq_f32(acc[0][p], block[0][p], da[p]);
        acc[1][p] = vfmaq_f32(acc[1][p], block[1][p], da[p]);
      });
      in.q += 32 * kTile;
      in.da += 2 * kTile;
    }
    // Token 2p's four rows are the even lanes of the two row pairs, token 2p+1's the odd ones.
    for_each_index<kPairs>([&](auto p) {
      vst1q_f32(out + 2 * p * out_stride, vuzp1q_f32(acc[0][p], acc[1][p]));
      if (2 * p + 1 < T) vst1q_f32(out + (2 * p + 1) * out_stride, vuzp2q_f32(acc[0][p], acc[1][p]));
    });
  }
};

}  // namespace

bool int8_gemm_neon_i8mm(GgmlType type, const void* weights, size_t stride, int64_t row_begin, int64_t row_end,
                         const Int8Activations& acts, float* out, size_t out_stride) {
  return gemm_level<I8mmLevel>(type, weights, stride, row_begin, row_end, acts, out, out_stride);
}

}  // namespace bantam::quant::kernels

#pragma GCC pop_options
#endif  // aarch64
