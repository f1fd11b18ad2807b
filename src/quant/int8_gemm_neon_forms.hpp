// The aarch64 int8 GEMM's view of each weight type: plain C++ that unpacks one unit of a row (a
// 32-block, or a 256-element super-block whose scales decode together) into SIGNED levels
// s = u - bias (int8_form's w = d * (u - bias) - c), so sdot/smmla take them as they are and the
// bias correction of the x86 form vanishes. Every type's s fits int8 (Q8_0: its stored value).
// Runs once per panel for all tokens, so clarity beats speed here. Internal linkage: included by
// int8_gemm_neon_impl.hpp into each per-level file, whose copies must never mix.
#pragma once

#include <cstdint>
#include <cstring>

#include "quant/blocks.hpp"
#include "quant/int8_gemm_kernels.hpp"

namespace bantam::quant::kernels {
namespace {

inline float half_to_float(uint16_t h) {
  __fp16 f;  // storage-only half: converting it to float is one fcvt
  std::memcpy(&f, &h, 2);
  return static_cast<float>(f);
}

// The 32 nibbles of 16 bytes in element order (low nibbles are elements 0..15) minus `bias`,
// mapped through `table` when there is one (IQ4).
inline void nibbles32(const uint8_t* qs, int bias, const int8_t* table, int8_t* out) {
  for (int j = 0; j < 16; ++j) {
    const int low = qs[j] & 0xF, high = qs[j] >> 4;
    out[j] = static_cast<int8_t>(table ? table[low] : low - bias);
    out[j + 16] = static_cast<int8_t>(table ? table[high] : high - bias);
  }
}

// Each form: Block, kType, kUnit, and unpack(block, levels[kUnit], d[], c[]) with one d and c per
// int8_form(kType).block elements.
template <typename BlockT, GgmlType kTypeId>
struct LegacyForm {
  using Block = BlockT;
  static constexpr GgmlType kType = kTypeId;
  static constexpr int kUnit = 32;
  static void unpack(const Block& b, int8_t* levels, float* d, float* c) {
    constexpr int kBias = int8_form(kTypeId).bias;
    if constexpr (requires { b.qh; }) {  // Q5_0 / Q5_1: the fifth bit of element j is bit j of qh
      uint32_t bits;
      std::memcpy(&bits, b.qh, 4);
      nibbles32(b.qs, 0, nullptr, levels);
      for (int j = 0; j < 32; ++j) levels[j] = static_cast<int8_t>(levels[j] + 16 * ((bits >> j) & 1) - kBias);
    } else {
      nibbles32(b.qs, kBias, nullptr, levels);
    }
    d[0] = half_to_float(b.d);
    if constexpr (requires { b.m; }) {
      c[0] = -half_to_float(b.m);
    } else {
      c[0] = 0;
    }
  }
};
using Q4_0Form = LegacyForm<BlockQ4_0, GgmlType::Q4_0>;
using Q4_1Form = LegacyForm<BlockQ4_1, GgmlType::Q4_1>;
using Q5_0Form = LegacyForm<BlockQ5_0, GgmlType::Q5_0>;
using Q5_1Form = LegacyForm<BlockQ5_1, GgmlType::Q5_1>;

struct Q8_0Form {
  using Block = BlockQ8_0;
  static constexpr GgmlType kType = GgmlType::Q8_0;
  static constexpr int kUnit = 32;
  static void unpack(const Block& b, int8_t* levels, float* d, float* c) {
    std::memcpy(levels, b.qs, 32);
    d[0] = half_to_float(b.d);
    c[0] = 0;
  }
};

struct IQ4_NLForm {
  using Block = BlockIQ4_NL;
  static constexpr GgmlType kType = GgmlType::IQ4_NL;
  static constexpr int kUnit = 32;
  static void unpack(const Block& b, int8_t* levels, float* d, float* c) {
    nibbles32(b.qs, 0, kIQ4Values, levels);
    d[0] = half_to_float(b.d);
    c[0] = 0;
  }
};

struct IQ4_XSForm {
  using Block = BlockIQ4_XS;
  static constexpr GgmlType kType = GgmlType::IQ4_XS;
  static constexpr int kUnit = 256;
  static void unpack(const Block& b, int8_t* levels, float* d, float* c) {
    const float scale = half_to_float(b.d);
    for (int ib = 0; ib < 8; ++ib) {
      nibbles32(b.qs + 16 * ib, 0, kIQ4Values, levels + 32 * ib);
      d[ib] = scale * static_cast<float>(iq4xs_scale(b, ib));
      c[ib] = 0;
    }
  }
};

// Q4_K/Q5_K: 64 elements per 32 bytes of qs, sub-block 2i in the low nibbles, 2i+1 in the high;
// Q5_K's fifth bits of sub-block j are bit j of qh[l].
template <typename BlockT, GgmlType kTypeId>
struct K4Form {
  using Block = BlockT;
  static constexpr GgmlType kType = kTypeId;
  static constexpr int kUnit = 256;
  static void unpack(const Block& b, int8_t* levels, float* d, float* c) {
    for (int i = 0; i < 4; ++i) {
      for (int l = 0; l < 32; ++l) {
        int low = b.qs[32 * i + l] & 0xF, high = b.qs[32 * i + l] >> 4;
        if constexpr (requires { b.qh; }) {
          low |= ((b.qh[l] >> (2 * i)) & 1) << 4;
          high |= ((b.qh[l] >> (2 * i + 1)) & 1) << 4;
        }
        levels[64 * i + l] = static_cast<int8_t>(low);
        levels[64 * i + 32 + l] = static_cast<int8_t>(high);
      }
    }
    const float scale = half_to_float(b.d), min = half_to_float(b.dmin);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      k4_scale_min(j, b.scales, sc, m);
      d[j] = scale * sc;
      c[j] = min * m;
    }
  }
};
using Q4_KForm = K4Form<BlockQ4_K, GgmlType::Q4_K>;
using Q5_KForm = K4Form<BlockQ5_K, GgmlType::Q5_K>;

// Q6_K: per 128-element half, ql holds elements l and l+64 (low, high nibble) and l+32, l+96;
// qh their top two bits at shifts 0, 2, 4, 6. Scales per 16 elements.
struct Q6_KForm {
  using Block = BlockQ6_K;
  static constexpr GgmlType kType = GgmlType::Q6_K;
  static constexpr int kUnit = 256;
  static void unpack(const Block& b, int8_t* levels, float* d, float* c) {
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b.ql + 64 * h;
      const uint8_t* qh = b.qh + 32 * h;
      int8_t* out = levels + 128 * h;
      for (int l = 0; l < 32; ++l) {
        out[l] = static_cast<int8_t>(((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32);
        out[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        out[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        out[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
    }
    const float scale = half_to_float(b.d);
    for (int j = 0; j < 16; ++j) {
      d[j] = scale * b.scales[j];
      c[j] = 0;
    }
  }
};

// Q2_K/Q3_K: byte l of each 32-byte quarter of qs holds the low two bits of elements l, l+32,
// l+64, l+96 of a 128-element half; Q3_K's third bit of element e is bit e/32 of hmask[e%32]
// (set: level - 0, clear: level - 4). Scales per 16 elements.
inline int two_bits(const uint8_t* qs, int e) { return (qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3; }

struct Q2_KForm {
  using Block = BlockQ2_K;
  static constexpr GgmlType kType = GgmlType::Q2_K;
  static constexpr int kUnit = 256;
  static void unpack(const Block& b, int8_t* levels, float* d, float* c) {
    for (int e = 0; e < 256; ++e) levels[e] = static_cast<int8_t>(two_bits(b.qs, e));
    const float scale = half_to_float(b.d), min = half_to_float(b.dmin);
    for (int j = 0; j < 16; ++j) {
      d[j] = scale * static_cast<float>(b.scales[j] & 0xF);
      c[j] = min * static_cast<float>(b.scales[j] >> 4);
    }
  }
};

struct Q3_KForm {
  using Block = BlockQ3_K;
  static constexpr GgmlType kType = GgmlType::Q3_K;
  static constexpr int kUnit = 256;
  static void unpack(const Block& b, int8_t* levels, float* d, float* c) {
    for (int e = 0; e < 256; ++e) {
      const int high = (b.hmask[e % 32] >> (e / 32)) & 1;
      levels[e] = static_cast<int8_t>(two_bits(b.qs, e) - (high ? 0 : 4));
    }
    int8_t sc[16];
    q3k_scales(b.scales, sc);
    const float scale = half_to_float(b.d);
    for (int j = 0; j < 16; ++j) {
      d[j] = scale * static_cast<float>(sc[j]);
      c[j] = 0;
    }
  }
};

// Calls run(Form{}) for the form of `type`; false when there is none.
template <typename Run>
bool with_form(GgmlType type, Run&& run) {
  const auto one = [&]<typename Form>(Form form) {
    if (type != Form::kType) return false;
    run(form);
    return true;
  };
  return one(Q4_0Form{}) || one(Q4_1Form{}) || one(Q5_0Form{}) || one(Q5_1Form{}) || one(Q8_0Form{}) ||
         one(IQ4_NLForm{}) || one(IQ4_XSForm{}) || one(Q4_KForm{}) || one(Q5_KForm{}) || one(Q6_KForm{}) ||
         one(Q2_KForm{}) || one(Q3_KForm{});
}

}  // namespace
}  // namespace bantam::quant::kernels
