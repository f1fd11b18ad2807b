// aarch64 kernels for float rows (F32, F16, BF16), FP32 accumulation. kernels_neon.cpp includes
// this for the Neon level (F16 widened by fcvtl, BF16 by a 16-bit shift, then fmla) and
// kernels_neon_fhm.cpp with BANTAM_NEON_FHM 1 under the fp16fml target, for F16 by fmlal/fmlal2
// where the CPU has FEAT_FHM (HWCAP_ASIMDFHM). Both F16 forms give the same bits: a product of
// two halves is exact in float, so fmlal's fused step equals fcvtl then fmla. Internal to src/quant.
#pragma once

#include "quant/kernels_neon_common.hpp"

namespace bantam::quant::kernels {
namespace {

// Element i of a row goes to accumulator lane i % 16 over 16-element steps, then the rest to
// lanes 0..3 over 4-element steps; the 16 lanes are added once (pairwise) and the last n % 4
// products join one scalar FMA chain.
struct F32Math {
  using Elem = float;
  static void step16(float32x4_t acc[4], const float* w, const float* a) {
    for (int k = 0; k < 4; ++k) acc[k] = vfmaq_f32(acc[k], vld1q_f32(w + 4 * k), vld1q_f32(a + 4 * k));
  }
  static float32x4_t step4(float32x4_t acc, const float* w, const float* a) {
    return vfmaq_f32(acc, vld1q_f32(w), vld1q_f32(a));
  }
  static float value(float x) { return x; }
};

struct F16Math {
  using Elem = uint16_t;
  static float32x4_t widen(uint16x4_t h) { return vcvt_f32_f16(vreinterpret_f16_u16(h)); }
#if BANTAM_NEON_FHM
  static float16x8_t load8(const uint16_t* p) { return vreinterpretq_f16_u16(vld1q_u16(p)); }
  static void step16(float32x4_t acc[4], const uint16_t* w, const uint16_t* a) {
    const float16x8_t w0 = load8(w), w1 = load8(w + 8), a0 = load8(a), a1 = load8(a + 8);
    acc[0] = vfmlalq_low_f16(acc[0], w0, a0);
    acc[1] = vfmlalq_high_f16(acc[1], w0, a0);
    acc[2] = vfmlalq_low_f16(acc[2], w1, a1);
    acc[3] = vfmlalq_high_f16(acc[3], w1, a1);
  }
#else
  static void step16(float32x4_t acc[4], const uint16_t* w, const uint16_t* a) {
    for (int k = 0; k < 2; ++k) {
      const uint16x8_t wk = vld1q_u16(w + 8 * k), ak = vld1q_u16(a + 8 * k);
      acc[2 * k] = vfmaq_f32(acc[2 * k], widen(vget_low_u16(wk)), widen(vget_low_u16(ak)));
      acc[2 * k + 1] = vfmaq_f32(acc[2 * k + 1], widen(vget_high_u16(wk)), widen(vget_high_u16(ak)));
    }
  }
#endif
  static float32x4_t step4(float32x4_t acc, const uint16_t* w, const uint16_t* a) {
    return vfmaq_f32(acc, widen(vld1_u16(w)), widen(vld1_u16(a)));
  }
  static float value(uint16_t x) { return half(x); }
};

struct BF16Math {
  using Elem = uint16_t;
  static float32x4_t widen(uint16x4_t h) { return vreinterpretq_f32_u32(vshll_n_u16(h, 16)); }
  static float32x4_t widen_high(uint16x8_t h) { return vreinterpretq_f32_u32(vshll_high_n_u16(h, 16)); }
  static void step16(float32x4_t acc[4], const uint16_t* w, const uint16_t* a) {
    for (int k = 0; k < 2; ++k) {
      const uint16x8_t wk = vld1q_u16(w + 8 * k), ak = vld1q_u16(a + 8 * k);
      acc[2 * k] = vfmaq_f32(acc[2 * k], widen(vget_low_u16(wk)), widen(vget_low_u16(ak)));
      acc[2 * k + 1] = vfmaq_f32(acc[2 * k + 1], widen_high(wk), widen_high(ak));
    }
  }
  static float32x4_t step4(float32x4_t acc, const uint16_t* w, const uint16_t* a) {
    return vfmaq_f32(acc, widen(vld1_u16(w)), widen(vld1_u16(a)));
  }
  static float value(uint16_t x) {
    const uint32_t bits = static_cast<uint32_t>(x) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
};

// Four accumulators of four lanes per (row, token): a 4-row gemv keeps 16 FMA chains in flight,
// a 2 x 2 gemm tile too.
template <typename Math>
struct Floats {
  static constexpr int kGemvRows = 4, kRows = 2, kTokens = 2;
  using Elem = typename Math::Elem;

  template <int R, int T>
  static void tile(int64_t n, const uint8_t* weights, size_t stride, const uint8_t* activations, size_t act_stride,
                   float* out, size_t out_stride) {
    const Elem* w[R];
    tile_rows(weights, stride, w);
    const Elem* a[T];
    tile_rows(activations, act_stride, a);
    float32x4_t acc[R][T][4];
    for (int r = 0; r < R; ++r) {
      for (int t = 0; t < T; ++t) {
        for (int k = 0; k < 4; ++k) acc[r][t][k] = vdupq_n_f32(0);
      }
    }
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
      for (int r = 0; r < R; ++r) {
        for (int t = 0; t < T; ++t) Math::step16(acc[r][t], w[r] + i, a[t] + i);
      }
    }
    for (; i + 4 <= n; i += 4) {
      for (int r = 0; r < R; ++r) {
        for (int t = 0; t < T; ++t) acc[r][t][0] = Math::step4(acc[r][t][0], w[r] + i, a[t] + i);
      }
    }
    for (int r = 0; r < R; ++r) {
      for (int t = 0; t < T; ++t) {
        const float32x4_t* l = acc[r][t];
        float sum = vaddvq_f32(vaddq_f32(vaddq_f32(l[0], l[1]), vaddq_f32(l[2], l[3])));
        for (int64_t j = i; j < n; ++j) sum = std::fma(Math::value(w[r][j]), Math::value(a[t][j]), sum);
        out[static_cast<size_t>(t) * out_stride + r] = sum;
      }
    }
  }
};

}  // namespace
}  // namespace bantam::quant::kernels
