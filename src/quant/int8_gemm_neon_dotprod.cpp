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
  static void tile(TileInputs in, float* out, size_t out_stride) {
    constexpr int kVectors = kBlock / 16;  // activation vectors (four lanes) per weight block
    constexpr int kHalves = 32 / kBlock;
    constexpr int kTokenVectors = (T + 3) / 4;  // vectors of per-token floats (da, scaled sums)
    float32x4_t acc[T];
    for_each_index<T>([&](auto t) { acc[t] = vdupq_n_f32(0); });
    // Even and odd 16-byte vectors (of the panel, of each token's 32 activations, of the group's
    // eight per-token floats) come through a pointer and its hidden copy 16 bytes on: no ldp q.
    const int8_t* levels[2] = {in.levels, hidden(in.levels + 16)};
    const int8_t* q[2] = {in.q, hidden(in.q + 16)};
    const float* da[2] = {in.da, hidden(in.da + 4)};
    const float* scaled_sums[2] = {in.scaled_sum, hidden(in.scaled_sum + 4)};
    for (int64_t b32 = 0; b32 < in.blocks32; ++b32) {
      float32x4_t token_da[kTokenVectors];
      for_each_index<kTokenVectors>([&](auto i) { token_da[i] = vld1q_f32(da[i]); });
      for_each_index<kHalves>([&](auto h) {
        int32x4_t isum[T];
        load_sum_starts<T>(isum);
        for_each_index<kVectors>([&](auto v) {
          const int8x16_t w0 = vld1q_s8(levels[0] + 64 * v), w1 = vld1q_s8(levels[1] + 64 * v);
          const int8x16_t w2 = vld1q_s8(levels[0] + 64 * v + 32), w3 = vld1q_s8(levels[1] + 64 * v + 32);
          // Four tokens at a time, lane by lane: four independent sums between dependent sdots,
          // in the order an in-order core (Cortex-A55) issues them.
          for_each_index<(T + 3) / 4>([&](auto quarter) {
            constexpr int kFirst = 4 * quarter, kCount = std::min(4, T - kFirst);
            int8x16_t a[kCount];
            for_each_index<kCount>([&](auto i) { a[i] = vld1q_s8(q[h * kVectors + v] + 32 * (kFirst + i)); });
            for_each_index<kCount>([&](auto i) { isum[kFirst + i] = vdotq_laneq_s32(isum[kFirst + i], w0, a[i], 0); });
            for_each_index<kCount>([&](auto i) { isum[kFirst + i] = vdotq_laneq_s32(isum[kFirst + i], w1, a[i], 1); });
            for_each_index<kCount>([&](auto i) { isum[kFirst + i] = vdotq_laneq_s32(isum[kFirst + i], w2, a[i], 2); });
            for_each_index<kCount>([&](auto i) { isum[kFirst + i] = vdotq_laneq_s32(isum[kFirst + i], w3, a[i], 3); });
          });
        });
        levels[0] += 64 * kVectors;
        levels[1] += 64 * kVectors;
        const float32x4_t d = vld1q_f32(in.scale);
        for_each_index<T>([&](auto t) {
          acc[t] = vfmaq_laneq_f32(acc[t], vmulq_f32(started_sum_to_float(isum[t]), d), token_da[t / 4], t % 4);
        });
        if constexpr (kMins) {
          const float32x4_t c = vld1q_f32(in.offset);
          float32x4_t sums[kTokenVectors];
          for_each_index<kTokenVectors>([&](auto i) { sums[i] = vld1q_f32(scaled_sums[i]); });
          for_each_index<T>([&](auto t) { acc[t] = vfmsq_laneq_f32(acc[t], c, sums[t / 4], t % 4); });
        }
        in.scale += kQuadRows;
        in.offset += kQuadRows;
        scaled_sums[0] += kTile;
        scaled_sums[1] += kTile;
      });
      q[0] += 32 * kTile;
      q[1] += 32 * kTile;
      da[0] += kTile;
      da[1] += kTile;
    }
    for_each_index<T>([&](auto t) { vst1q_f32(out + t * out_stride, acc[t]); });
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
