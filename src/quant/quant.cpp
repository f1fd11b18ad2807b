#include "quant/quant.hpp"

#include <cstring>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "quant/f16_rows.hpp"
#include "quant/formats.hpp"

namespace bantam::quant {

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F;
  const uint32_t mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalize
      int e = -1;
      uint32_t m = mant;
      do {
        ++e;
        m <<= 1;
      } while ((m & 0x400) == 0);
      bits = sign | ((127 - 15 - e) << 23) | ((m & 0x3FF) << 13);
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000 | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t fp32_to_fp16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000;
  const uint32_t abs = x & 0x7FFFFFFF;
  if (abs >= 0x7F800000) return static_cast<uint16_t>(sign | 0x7C00 | (abs > 0x7F800000 ? 0x200 : 0));
  if (abs >= 0x477FF000) return static_cast<uint16_t>(sign | 0x7C00);  // overflow to inf
  if (abs < 0x38800000) {  // a half subnormal (or zero): units of 2^-24
    const uint32_t shift = 126 - (abs >> 23);
    if (shift > 24) return static_cast<uint16_t>(sign);
    const uint32_t mant = (abs & 0x7FFFFF) | 0x800000;
    uint32_t half = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half & 1))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = ((abs >> 23) - 112) << 10 | ((abs >> 13) & 0x3FF);
  const uint32_t rem = abs & 0x1FFF;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) ++half;
  return static_cast<uint16_t>(sign | half);
}

float bf16_to_fp32(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t fp32_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7FFFFFFF) > 0x7F800000) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet NaN
  x += 0x7FFF + ((x >> 16) & 1);
  return static_cast<uint16_t>(x >> 16);
}

namespace {

using DequantizeFn = void (*)(const void*, float*, int64_t);
using QuantizeFn = void (*)(const float*, void*, int64_t);

struct Codec {
  GgmlType type;
  DequantizeFn dequantize;
  QuantizeFn quantize;
};

constexpr Codec kCodecs[] = {
    {GgmlType::Q4_0, formats::dequantize_q4_0, formats::quantize_q4_0},
    {GgmlType::Q4_1, formats::dequantize_q4_1, formats::quantize_q4_1},
    {GgmlType::Q5_0, formats::dequantize_q5_0, formats::quantize_q5_0},
    {GgmlType::Q5_1, formats::dequantize_q5_1, formats::quantize_q5_1},
    {GgmlType::Q8_0, formats::dequantize_q8_0, formats::quantize_q8_0},
    {GgmlType::Q8_1, formats::dequantize_q8_1, formats::quantize_q8_1},
    {GgmlType::Q2_K, formats::dequantize_q2_k, formats::quantize_q2_k},
    {GgmlType::Q3_K, formats::dequantize_q3_k, formats::quantize_q3_k},
    {GgmlType::Q4_K, formats::dequantize_q4_k, formats::quantize_q4_k},
    {GgmlType::Q5_K, formats::dequantize_q5_k, formats::quantize_q5_k},
    {GgmlType::Q6_K, formats::dequantize_q6_k, formats::quantize_q6_k},
    {GgmlType::Q8_K, formats::dequantize_q8_k, formats::quantize_q8_k},
    {GgmlType::IQ4_NL, formats::dequantize_iq4_nl, formats::quantize_iq4_nl},
    {GgmlType::IQ4_XS, formats::dequantize_iq4_xs, formats::quantize_iq4_xs},
};

const Codec* find_codec(GgmlType type) {
  for (const auto& codec : kCodecs) {
    if (codec.type == type) return &codec;
  }
  return nullptr;
}

bool is_float_type(GgmlType type) {
  return type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::BF16;
}

void check_row_length(GgmlType type, int64_t n, const char* what) {
  const int64_t block = type_info(type).block_size;
  if (n < 0 || n % block != 0) {
    throw Error(fmt::format("{}: row of {} elements is not a multiple of the {} block size {}", what, n,
                            type_name(type), block));
  }
}

}  // namespace

bool can_dequantize(GgmlType type) { return is_float_type(type) || find_codec(type) != nullptr; }

void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n) {
  switch (type) {
    case GgmlType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case GgmlType::F16: {
      f16_to_f32_row(static_cast<const uint16_t*>(src), dst, n);
      return;
    }
    case GgmlType::BF16: {
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(h[i]);
      return;
    }
    default:
      break;
  }
  const Codec* codec = find_codec(type);
  if (codec == nullptr) throw Error(fmt::format("dequantize: type {} is not supported", type_name(type)));
  check_row_length(type, n, "dequantize");
  codec->dequantize(src, dst, n);
}

bool can_quantize(GgmlType type) { return can_dequantize(type); }

size_t quantize_row(GgmlType type, const float* src, void* dst, int64_t n) {
  switch (type) {
    case GgmlType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return row_bytes(type, n);
    case GgmlType::F16: {
      f32_to_f16_row(src, static_cast<uint16_t*>(dst), n);
      return row_bytes(type, n);
    }
    case GgmlType::BF16: {
      auto* h = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_bf16(src[i]);
      return row_bytes(type, n);
    }
    default:
      break;
  }
  const Codec* codec = find_codec(type);
  if (codec == nullptr) throw Error(fmt::format("quantize: type {} is not supported", type_name(type)));
  check_row_length(type, n, "quantize");
  codec->quantize(src, dst, n);
  return row_bytes(type, n);
}

}  // namespace bantam::quant
