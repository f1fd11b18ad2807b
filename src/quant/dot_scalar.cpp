// Portable reference dot kernels for every weight type: integer sums per block or group, then
// one float multiply by the block scales, in the same order of operations as ggml's generic code.
#include <cmath>
#include <cstring>

#include "quant/blocks.hpp"
#include "quant/kernels.hpp"
#include "quant/quant.hpp"

namespace bantam::quant::kernels {
namespace {

float dot_f32(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const float*>(weights);
  const auto* a = static_cast<const float*>(activations);
  double sum = 0;  // ggml's generic f32 dot accumulates in double too
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(w[i]) * static_cast<double>(a[i]);
  return static_cast<float>(sum);
}

float dot_f16(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const uint16_t*>(weights);
  const auto* a = static_cast<const uint16_t*>(activations);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(fp16_to_fp32(w[i]) * fp16_to_fp32(a[i]));
  return static_cast<float>(sum);
}

float dot_bf16(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const uint16_t*>(weights);
  const auto* a = static_cast<const uint16_t*>(activations);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(bf16_to_fp32(w[i]) * bf16_to_fp32(a[i]));
  return static_cast<float>(sum);
}

// Signed levels of the 32 elements of a legacy block (nibble j -> element j, j+16).
void nibble_levels(const uint8_t qs[16], int offset, int levels[32]) {
  for (int j = 0; j < 16; ++j) {
    levels[j] = (qs[j] & 0xF) - offset;
    levels[j + 16] = (qs[j] >> 4) - offset;
  }
}

void fifth_bits(const uint8_t qh_bytes[4], int levels[32]) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  for (int j = 0; j < 32; ++j) levels[j] += static_cast<int>((qh >> j) & 1) << 4;
}

int int_dot32(const int levels[32], const int8_t a[32]) {
  int sum = 0;
  for (int j = 0; j < 32; ++j) sum += levels[j] * a[j];
  return sum;
}

// ggml's x86 vec_dot order for 32-element blocks (its AVX2 vec_dot and llamafile's tinyBLAS):
// eight lanes, lane l summing products 4l..4l+3 of each block into its own FMA chain across the
// row, then the lanes added as hsum8 does. Every ISA's kernel for Q4_0, Q5_0, Q8_0 and IQ4_NL
// keeps this order (see DotOrder in dot.hpp). `Levels(block, out)` gives the 32 signed levels.
template <typename Block, void (*Levels)(const Block&, int levels[32])>
float dot_in_lanes(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const Block*>(weights);
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  float lanes[8] = {};
  for (int64_t i = 0; i < n / kQK; ++i) {
    int levels[32];
    Levels(w[i], levels);
    const float d = fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d);
    for (int l = 0; l < 8; ++l) {
      int isum = 0;
      for (int j = 4 * l; j < 4 * l + 4; ++j) isum += levels[j] * a[i].qs[j];
      lanes[l] = std::fma(d, static_cast<float>(isum), lanes[l]);
    }
  }
  return hsum8(lanes);
}

void q4_0_levels(const BlockQ4_0& b, int levels[32]) { nibble_levels(b.qs, 8, levels); }

void q5_0_levels(const BlockQ5_0& b, int levels[32]) {
  nibble_levels(b.qs, 16, levels);
  fifth_bits(b.qh, levels);
}

void q8_0_levels(const BlockQ8_0& b, int levels[32]) {
  for (int j = 0; j < 32; ++j) levels[j] = b.qs[j];
}

void iq4_nl_levels(const BlockIQ4_NL& b, int levels[32]) {
  for (int j = 0; j < 16; ++j) {
    levels[j] = kIQ4Values[b.qs[j] & 0xF];
    levels[j + 16] = kIQ4Values[b.qs[j] >> 4];
  }
}

// llama.cpp's repacked Q4_0 order (DotOrder::Interleaved8): one FMA chain over the blocks.
float dot_q4_0_chain(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ4_0*>(weights);
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  float acc = 0;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int levels[32];
    q4_0_levels(w[i], levels);
    acc = std::fma(static_cast<float>(int_dot32(levels, a[i].qs)), fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d), acc);
  }
  return acc;
}

float dot_q4_1(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ4_1*>(weights);
  const auto* a = static_cast<const BlockQ8_1*>(activations);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int levels[32];
    nibble_levels(w[i].qs, 0, levels);
    sum += static_cast<float>(int_dot32(levels, a[i].qs)) * fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d) +
           fp16_to_fp32(w[i].m) * fp16_to_fp32(a[i].s);
  }
  return sum;
}

float dot_q5_1(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ5_1*>(weights);
  const auto* a = static_cast<const BlockQ8_1*>(activations);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int levels[32];
    nibble_levels(w[i].qs, 0, levels);
    fifth_bits(w[i].qh, levels);
    sum += static_cast<float>(int_dot32(levels, a[i].qs)) * fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d) +
           fp16_to_fp32(w[i].m) * fp16_to_fp32(a[i].s);
  }
  return sum;
}

// Sum over groups of `group` elements of scale[g] * dot(levels, activations) in the group.
int scaled_int_dot(const int8_t* levels, const int8_t* a, const int* scales, int group) {
  int total = 0;
  for (int g = 0; g < kQK_K / group; ++g) {
    int isum = 0;
    for (int l = 0; l < group; ++l) isum += levels[g * group + l] * a[g * group + l];
    total += scales[g] * isum;
  }
  return total;
}

float dot_q8_k(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ8_K*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int isum = 0;
    for (int j = 0; j < kQK_K; ++j) isum += w[i].qs[j] * a[i].qs[j];
    sum += w[i].d * a[i].d * static_cast<float>(isum);
  }
  return sum;
}

// IQ4_XS in an order of its own (every ISA's kernel gives these bits): each super-block's exact
// integer dot, then one FMA chain over the super-blocks.
float dot_iq4_xs(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockIQ4_XS*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int8_t levels[kQK_K];
    int scales[8];
    for (int ib = 0; ib < 8; ++ib) {
      scales[ib] = iq4xs_scale(w[i], ib);
      const uint8_t* q = w[i].qs + 16 * ib;
      for (int j = 0; j < 16; ++j) {
        levels[32 * ib + j] = kIQ4Values[q[j] & 0xF];
        levels[32 * ib + j + 16] = kIQ4Values[q[j] >> 4];
      }
    }
    const int isum = scaled_int_dot(levels, a[i].qs, scales, 32);
    sum = std::fma(static_cast<float>(isum), fp16_to_fp32(w[i].d) * a[i].d, sum);
  }
  return sum;
}

}  // namespace

void add_scalar(Table& table) {
  add_row_kernel<dot_f32>(table, GgmlType::F32);
  add_row_kernel<dot_f16>(table, GgmlType::F16);
  add_row_kernel<dot_bf16>(table, GgmlType::BF16);
  add_row_kernel<dot_in_lanes<BlockQ4_0, q4_0_levels>>(table, GgmlType::Q4_0);
  add_row_kernel<dot_q4_0_chain>(table, GgmlType::Q4_0, DotOrder::Interleaved8);
  add_row_kernel<dot_q4_1>(table, GgmlType::Q4_1);
  add_row_kernel<dot_in_lanes<BlockQ5_0, q5_0_levels>>(table, GgmlType::Q5_0);
  add_row_kernel<dot_q5_1>(table, GgmlType::Q5_1);
  add_row_kernel<dot_in_lanes<BlockQ8_0, q8_0_levels>>(table, GgmlType::Q8_0);
  add_row_kernel<dot_in_lanes<BlockIQ4_NL, iq4_nl_levels>>(table, GgmlType::IQ4_NL);
  add_scalar_kquants(table);
  add_row_kernel<dot_q8_k>(table, GgmlType::Q8_K);
  add_row_kernel<dot_iq4_xs>(table, GgmlType::IQ4_XS);
}

}  // namespace bantam::quant::kernels
