// What every aarch64 kernel family shares: small NEON helpers and the driver that turns one tile
// kernel (R rows x T tokens) into vec_dot, gemv and gemm. Included by the per-level files under
// their target options (BANTAM_NEON_DOTPROD says whether sdot may be used); everything has
// internal linkage so the copies never mix. Internal to src/quant.
//
// The ARM levels are free of llama.cpp's x86 summation orders (follows_llama_cpp_orders): each
// (row, token) keeps one sequence of float operations whatever the tile shape, so vec_dot, gemv
// and gemm agree bit for bit at a level, and the order is picked for speed: exact integer sums per
// block or super-block in vector lanes, one or two FMAs per block into four float lanes, and the
// lanes added once at the end of the row.
#pragma once

#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/blocks.hpp"
#include "quant/kernels.hpp"

namespace bantam::quant::kernels {
namespace {

inline float half(uint16_t h) {
  __fp16 f;  // storage-only half: converting it to float is one fcvt
  std::memcpy(&f, &h, 2);
  return static_cast<float>(f);
}

// Four halves (bit patterns) as four floats: put together in a general register, so only the
// move and the conversion use the vector pipes.
inline float32x4_t halves4(uint16_t h0, uint16_t h1, uint16_t h2, uint16_t h3) {
  uint64_t bits = h0 | static_cast<uint64_t>(h1) << 16 | static_cast<uint64_t>(h2) << 32 |
                  static_cast<uint64_t>(h3) << 48;
  asm("" : "+r"(bits));  // keeps the compiler from gathering lane by lane (a vector op each)
  return vcvt_f32_f16(vreinterpret_f16_u64(vcreate_u64(bits)));
}

inline int8x16_t as_s8(uint8x16_t v) { return vreinterpretq_s8_u8(v); }

// acc + the 16 products a[j] * b[j], spread over the four int32 lanes (which lane gets which
// product differs between the two levels; callers only ever use the lane total).
inline int32x4_t dot_s8(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if BANTAM_NEON_DOTPROD
  return vdotq_s32(acc, a, b);
#else
  acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
  return vpadalq_s16(acc, vmull_high_s8(a, b));
#endif
}

// Lane g = the lane total of p[g]: four group sums in one vector, without a horizontal add each.
inline int32x4_t group_totals(const int32x4_t p[4]) {
  return vpaddq_s32(vpaddq_s32(p[0], p[1]), vpaddq_s32(p[2], p[3]));
}

// A tile kernel K gives kGemvRows (rows per gemv group), kRows x kTokens (a gemm tile) and
//   template <int R, int T> static void tile(int64_t n, const uint8_t* w, size_t stride,
//                                            const uint8_t* a, size_t act_stride, float* out,
//                                            size_t out_stride)
// writing out[t * out_stride + r] for R rows and T tokens. Every (row, token) runs the same
// operations in every tile shape, so the drivers below agree bit for bit.
template <typename K>
float tile_dot(int64_t n, const void* weights, const void* activations) {
  float out;
  K::template tile<1, 1>(n, static_cast<const uint8_t*>(weights), 0, static_cast<const uint8_t*>(activations), 0,
                         &out, 1);
  return out;
}

template <typename K>
void tile_gemv(int64_t n, const void* weights, size_t stride, int64_t rows, const void* activations, float* out) {
  const auto* w = static_cast<const uint8_t*>(weights);
  const auto* a = static_cast<const uint8_t*>(activations);
  int64_t r = 0;
  for (; r + K::kGemvRows <= rows; r += K::kGemvRows) {
    K::template tile<K::kGemvRows, 1>(n, w + static_cast<size_t>(r) * stride, stride, a, 0, out + r, 1);
  }
  for (; r < rows; ++r) K::template tile<1, 1>(n, w + static_cast<size_t>(r) * stride, stride, a, 0, out + r, 1);
}

// Rows [0, rows) for tokens [0, n_tokens) in tiles of R rows; the last n_tokens % kTokens tokens
// one at a time.
template <typename K, int R>
void tile_row_group(int64_t n, const uint8_t* w, size_t stride, const uint8_t* a, size_t act_stride,
                    int64_t n_tokens, float* out, size_t out_stride) {
  int64_t t = 0;
  for (; t + K::kTokens <= n_tokens; t += K::kTokens) {
    K::template tile<R, K::kTokens>(n, w, stride, a + static_cast<size_t>(t) * act_stride, act_stride,
                                    out + static_cast<size_t>(t) * out_stride, out_stride);
  }
  for (; t < n_tokens; ++t) {
    K::template tile<R, 1>(n, w, stride, a + static_cast<size_t>(t) * act_stride, act_stride,
                           out + static_cast<size_t>(t) * out_stride, out_stride);
  }
}

// Tokens in chunks whose activations stay in L2 while every row passes over them; each weight
// block is unpacked once per tile of kRows x kTokens.
template <typename K>
void tile_gemm(int64_t n, const void* weights, size_t stride, int64_t rows, const void* activations,
               size_t act_stride, int64_t n_tokens, float* out, size_t out_stride) {
  const auto* w = static_cast<const uint8_t*>(weights);
  const auto* acts = static_cast<const uint8_t*>(activations);
  const int64_t chunk = tokens_per_chunk(act_stride, K::kTokens);
  for (int64_t t0 = 0; t0 < n_tokens; t0 += chunk) {
    const int64_t tokens = std::min(chunk, n_tokens - t0);
    const uint8_t* a = acts + static_cast<size_t>(t0) * act_stride;
    float* o = out + static_cast<size_t>(t0) * out_stride;
    int64_t r = 0;
    for (; r + K::kRows <= rows; r += K::kRows) {
      tile_row_group<K, K::kRows>(n, w + static_cast<size_t>(r) * stride, stride, a, act_stride, tokens, o + r,
                                  out_stride);
    }
    for (; r < rows; ++r) {
      tile_row_group<K, 1>(n, w + static_cast<size_t>(r) * stride, stride, a, act_stride, tokens, o + r, out_stride);
    }
  }
}

// Registers K for `type` in both orders: the ARM levels sum every matrix one way.
template <typename K>
void add_tile_kernels(Table& table, GgmlType type) {
  for (DotOrder order : {DotOrder::VecDot, DotOrder::Interleaved8}) {
    table.set_dot(type, tile_dot<K>, order);
    table.set_gemv(type, tile_gemv<K>, order);
    table.set_gemm(type, tile_gemm<K>, order);
  }
}

// Pointers to the R rows of a tile (row r at w + r * stride), as blocks.
template <typename Block, int R>
inline void tile_rows(const uint8_t* w, size_t stride, const Block* (&rows)[R]) {
  for (int r = 0; r < R; ++r) rows[r] = reinterpret_cast<const Block*>(w + static_cast<size_t>(r) * stride);
}

}  // namespace
}  // namespace bantam::quant::kernels
