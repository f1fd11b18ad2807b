// The aarch64 int8 GEMM (int8_gemm.hpp) with the ARMv8.2 dotprod extension (Cortex-A76, Neoverse
// N1, Apple M): tiles of four rows by up to eight tokens, the panel holding four bytes of each of
// the four rows per int32 lane, so that one sdot by element adds four products of every row for
// one token (the activations in Int8Layout::Tokens, four elements per lane). Installed only when
// HWCAP_ASIMDDP is set, so the whole file is compiled for it; every include comes first.
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
#pragma GCC target("arch=armv8.2-a+dotprod")
#include "quant/int8_gemm_neon_impl.hpp"

namespace bantam::quant::kernels {
namespace {

struct DotprodLevel {
  static constexpr int kChunk = 4;  // one int32 lane of each row
  static constexpr int kScaleCopies = 1;

  template <int T, int kBlock, bool kMins>
  static void tile(TileInputs in, float* out, size_t out_stride, int rows) {
    constexpr int kVectors = kBlock / 16;  // activation vectors (four lanes) per weight block
    constexpr int kHalves = 32 / kBlock;
    float32x4_t acc[T];
    for_each_index<T>([&](auto t) { acc[t] = vdupq_n_f32(0); });
    for (int64_t b32 = 0; b32 < in.blocks32; ++b32) {
      for (int h = 0; h < kHalves; ++h) {
        int32x4_t isum[T];
        load_sum_starts<T>(isum);
        for (int v = 0; v < kVectors; ++v) {
          const int8x16_t w0 = vld1q_s8(in.levels), w1 = vld1q_s8(in.levels + 16);
          const int8x16_t w2 = vld1q_s8(in.levels + 32), w3 = vld1q_s8(in.levels + 48);
          in.levels += 64;
          for_each_index<T>([&](auto t) {
            const int8x16_t a = vld1q_s8(in.q + t * 32 + h * kBlock + 16 * v);
            isum[t] = vdotq_laneq_s32(isum[t], w0, a, 0);
            isum[t] = vdotq_laneq_s32(isum[t], w1, a, 1);
            isum[t] = vdotq_laneq_s32(isum[t], w2, a, 2);
            isum[t] = vdotq_laneq_s32(isum[t], w3, a, 3);
          });
        }
        const float32x4_t d = vld1q_f32(in.scale);
        const float32x4_t c = kMins ? vld1q_f32(in.offset) : d;
        for_each_index<T>(
            [&](auto t) { acc[t] = scale_block<kMins>(acc[t], started_sum_to_float(isum[t]), d, c, in.da[t], in.scaled_sum[t]); });
        in.scale += kQuadRows;
        in.offset += kQuadRows;
        in.scaled_sum += kTile;
      }
      in.q += 32 * kTile;
      in.da += kTile;
    }
    for_each_index<T>([&](auto t) { store_rows(out + t * out_stride, acc[t], rows); });
  }
};

}  // namespace

bool int8_gemm_neon_dotprod(GgmlType type, const void* weights, size_t stride, int64_t row_begin,
                            int64_t row_end, const Int8Activations& acts, float* out, size_t out_stride) {
  return gemm_level<DotprodLevel>(type, weights, stride, row_begin, row_end, acts, out, out_stride);
}

}  // namespace bantam::quant::kernels

#pragma GCC pop_options
#endif  // aarch64
