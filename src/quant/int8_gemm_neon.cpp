// The aarch64 int8 GEMM (int8_gemm.hpp) at the ARMv8.0 Advanced SIMD level (Cortex-A53/A57/A72),
// and the activations' quantization for every NEON level. Tiles of four rows by up to eight
// tokens: each row's 16-element chunks multiplied with smull/smlal2 (two products per int16 lane,
// at most 2 * 128 * 127: no overflow) and summed into int32 lanes with sadalp, a quad's four row
// sums gathered by two rounds of addp, converted to float once per weight block.
#if defined(__aarch64__)  // aarch64 builds only; empty elsewhere
#include "quant/int8_gemm_neon_impl.hpp"

namespace bantam::quant::kernels {
namespace {

struct NeonLevel {
  static constexpr int kChunk = 16;  // rows' 16-element chunks side by side
  static constexpr int kScaleCopies = 1;

  template <int T, int kBlock, bool kMins>
  static void tile(TileInputs in, float* out, size_t out_stride) {
    constexpr int kChunks = kBlock / 16;
    constexpr int kHalves = 32 / kBlock;
    float32x4_t acc[T];
    for_each_index<T>([&](auto t) { acc[t] = vdupq_n_f32(0); });
    for (int64_t b32 = 0; b32 < in.blocks32; ++b32) {
      for (int h = 0; h < kHalves; ++h) {
        int8x16_t w[kChunks][kQuadRows];
        for (int v = 0; v < kChunks; ++v) {
          for (int r = 0; r < kQuadRows; ++r) w[v][r] = vld1q_s8(in.levels + (v * kQuadRows + r) * 16);
        }
        const float32x4_t d = vld1q_f32(in.scale);
        const float32x4_t c = kMins ? vld1q_f32(in.offset) : d;
        for_each_index<T>([&](auto t) {
          const int8_t* a = in.q + t * 32 + h * kBlock;
          int8x16_t x[kChunks];
          for (int v = 0; v < kChunks; ++v) x[v] = vld1q_s8(a + 16 * v);
          int32x4_t row_sums[kQuadRows];
          for (int r = 0; r < kQuadRows; ++r) {
            int32x4_t s = vdupq_n_s32(0);
            for (int v = 0; v < kChunks; ++v) {
              const int16x8_t products = vmlal_high_s8(vmull_s8(vget_low_s8(w[v][r]), vget_low_s8(x[v])), w[v][r], x[v]);
              s = vpadalq_s16(s, products);
            }
            row_sums[r] = s;
          }
          const int32x4_t isum =
              vpaddq_s32(vpaddq_s32(row_sums[0], row_sums[1]), vpaddq_s32(row_sums[2], row_sums[3]));
          acc[t] = vfmaq_n_f32(acc[t], vmulq_f32(vcvtq_f32_s32(isum), d), in.da[t]);
          if constexpr (kMins) acc[t] = vfmsq_n_f32(acc[t], c, in.scaled_sum[t]);
        });
        in.levels += kQuadRows * kBlock;
        in.scale += kQuadRows;
        in.offset += kQuadRows;
        in.scaled_sum += kTile;
      }
      in.q += 32 * kTile;
      in.da += kTile;
    }
    for_each_index<T>([&](auto t) { vst1q_f32(out + t * out_stride, acc[t]); });
  }
};

}  // namespace

bool int8_gemm_neon(GgmlType type, const void* weights, size_t stride, int64_t row_begin, int64_t row_end,
                    const Int8Activations& acts, float* out, size_t out_stride) {
  return gemm_level<NeonLevel>(type, weights, stride, row_begin, row_end, acts, out, out_stride);
}

void int8_quantize_neon(const Int8Form& form, const float* x, int64_t t_begin, int64_t t_end,
                        Int8Activations& acts) {
  const int64_t k = acts.k;
  const int64_t blocks32 = k / 32;
  const int halves = 32 / form.block;
  const bool pairs = acts.layout == Int8Layout::TokenPairs;
  const int floats = int8_token_floats(acts.layout);
  for (int64_t t = t_begin; t < t_end; ++t) {
    const float* row = x + t * k;
    const int64_t group = t / kTile;
    const int lane = static_cast<int>(t % kTile);
    for (int64_t b = 0; b < blocks32; ++b) {
      float32x4_t v[8];
      float32x4_t max_abs = vdupq_n_f32(0);
      for (int i = 0; i < 8; ++i) {
        v[i] = vld1q_f32(row + 32 * b + 4 * i);
        max_abs = vmaxq_f32(max_abs, vabsq_f32(v[i]));
      }
      const float amax = vmaxvq_f32(max_abs);
      float d = amax / 127.0f;
      if (form.half_scales) d = static_cast<float>(static_cast<__fp16>(d));
      const float inverse = amax != 0 ? 127.0f / amax : 0.0f;
      // Rounded to nearest even, as the x86 kernel does; |q| <= 127.
      int16x8_t narrow[4];
      for (int i = 0; i < 4; ++i) {
        narrow[i] = vcombine_s16(vmovn_s32(vcvtnq_s32_f32(vmulq_n_f32(v[2 * i], inverse))),
                                 vmovn_s32(vcvtnq_s32_f32(vmulq_n_f32(v[2 * i + 1], inverse))));
      }
      const int8x16_t lo = vcombine_s8(vmovn_s16(narrow[0]), vmovn_s16(narrow[1]));
      const int8x16_t hi = vcombine_s8(vmovn_s16(narrow[2]), vmovn_s16(narrow[3]));
      const size_t group_block = static_cast<size_t>(group * blocks32 + b) * kTile;
      const int float_slot = int8_token_float_slot(acts.layout, lane);
      // A value and, for TokenPairs, its second copy.
      const auto put = [&](std::vector<float>& to, int64_t block, float value) {
        const size_t at = static_cast<size_t>(block * floats + float_slot);
        to[at] = value;
        if (pairs) to[at + 2] = value;
      };
      if (pairs) {
        int8_t* dst = acts.q.data() + group_block * 32;
        vst1_s8(dst + int8_pair_offset(lane, 0), vget_low_s8(lo));
        vst1_s8(dst + int8_pair_offset(lane, 8), vget_high_s8(lo));
        vst1_s8(dst + int8_pair_offset(lane, 16), vget_low_s8(hi));
        vst1_s8(dst + int8_pair_offset(lane, 24), vget_high_s8(hi));
      } else {
        const size_t slot = group_block + static_cast<size_t>(lane);
        vst1q_s8(acts.q.data() + slot * 32, lo);
        vst1q_s8(acts.q.data() + slot * 32 + 16, hi);
      }
      put(acts.scale, group * blocks32 + b, d);
      const int32_t sums[2] = {vaddlvq_s8(lo), vaddlvq_s8(hi)};
      for (int h = 0; h < halves; ++h) {
        const int32_t sum = halves == 2 ? sums[h] : sums[0] + sums[1];
        put(acts.scaled_sum, (group * blocks32 + b) * halves + h, d * static_cast<float>(sum));
      }
    }
  }
}

}  // namespace bantam::quant::kernels

#endif  // aarch64
