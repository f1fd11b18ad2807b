// The int8 GEMM (int8_gemm.hpp) with AVX-512 VNNI (Ice Lake, Sapphire Rapids, Zen 4): weights are
// unpacked sixteen rows at a time into a panel of unsigned levels, four bytes of each row per
// int32 lane, and every tile of up to eight tokens runs vpdpbusd over it with the activations
// broadcast from memory. The panel is unpacked once per sixteen rows for all tokens of the
// matmul, so its cost shrinks with the prompt.
#if defined(__x86_64__) || defined(__i386__)  // x86 builds only; empty elsewhere
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "quant/blocks.hpp"
#include "quant/int8_gemm_kernels.hpp"

#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wignored-attributes"
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
// GCC 12 flags the undefined pass-through operands inside its own AVX-512 intrinsics.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")
#endif

namespace bantam::quant::kernels {
namespace {

constexpr int kRows = kInt8PanelRows;  // one int32 lane each
constexpr int kTile = kInt8TileTokens;

inline float half(uint16_t h) { return _cvtsh_ss(h); }
inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }
inline void store256(void* p, __m256i v) { _mm256_storeu_si256(static_cast<__m256i*>(p), v); }
inline __m256i bytes(int v) { return _mm256_set1_epi8(static_cast<char>(v)); }

// The 32 nibbles of 16 bytes in element order: low nibbles (elements 0..15), then high ones.
inline __m256i nibbles32(const uint8_t* qs) {
  const __m128i q = load128(qs);
  const __m128i mask = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), mask), _mm_and_si128(q, mask));
}
// Bit `bit` of each of 32 bytes, moved to bit 4 (the fifth bit of a 5-bit level).
inline __m256i fifth_bits(__m256i v, int bit) {
  return _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(bit)), bytes(1)), 4);
}
// The IQ4 levels + 128 as unsigned bytes, looked up by nibble.
inline __m256i iq4_levels(__m256i nibbles) {
  static const __m128i table = [] {
    alignas(16) uint8_t shifted[16];
    for (int i = 0; i < 16; ++i) shifted[i] = static_cast<uint8_t>(kIQ4Values[i] + 128);
    return _mm_load_si128(reinterpret_cast<const __m128i*>(shifted));
  }();
  return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(table), nibbles);
}

// Each form unpacks one unit of a row (a block, or a K-quant super-block whose scales decode
// together) into kUnit unsigned levels and, per block of int8_form(kType).block elements, the
// scale d and min term c of w = d * (level - bias) - c.

// The 32-element formats: d from the block, c = -m for the ones that store a min (w = d * q + m).
// Levels::get gives the block's 32 unsigned levels.
template <GgmlType kTypeId, typename Levels>
struct BlockForm {
  using Block = typename Levels::Block;
  static constexpr GgmlType kType = kTypeId;
  static constexpr int kUnit = 32;
  static void unpack(const Block& b, uint8_t* levels, float* d, float* c) {
    store256(levels, Levels::get(b));
    d[0] = half(b.d);
    if constexpr (requires { b.m; }) {
      c[0] = -half(b.m);
    } else {
      c[0] = 0;
    }
  }
};
template <typename BlockT>
struct NibbleLevels {
  using Block = BlockT;
  static __m256i get(const Block& b) { return nibbles32(b.qs); }
};
template <typename BlockT>
struct FiveBitLevels {
  using Block = BlockT;
  static __m256i get(const Block& b) {
    uint32_t bits;
    std::memcpy(&bits, b.qh, 4);
    const __m256i low = nibbles32(b.qs);
    return _mm256_mask_blend_epi8(bits, low, _mm256_or_si256(low, bytes(16)));
  }
};
struct Q8Levels {
  using Block = BlockQ8_0;
  static __m256i get(const Block& b) { return _mm256_xor_si256(load256(b.qs), bytes(0x80)); }
};
struct IQ4_NLLevels {
  using Block = BlockIQ4_NL;
  static __m256i get(const Block& b) { return iq4_levels(nibbles32(b.qs)); }
};

using Q4_0Form = BlockForm<GgmlType::Q4_0, NibbleLevels<BlockQ4_0>>;
using Q4_1Form = BlockForm<GgmlType::Q4_1, NibbleLevels<BlockQ4_1>>;
using Q5_0Form = BlockForm<GgmlType::Q5_0, FiveBitLevels<BlockQ5_0>>;
using Q5_1Form = BlockForm<GgmlType::Q5_1, FiveBitLevels<BlockQ5_1>>;
using Q8_0Form = BlockForm<GgmlType::Q8_0, Q8Levels>;
using IQ4_NLForm = BlockForm<GgmlType::IQ4_NL, IQ4_NLLevels>;

struct IQ4_XSForm {
  using Block = BlockIQ4_XS;
  static constexpr GgmlType kType = GgmlType::IQ4_XS;
  static constexpr int kUnit = 256;
  static void unpack(const Block& b, uint8_t* levels, float* d, float* c) {
    const float scale = half(b.d);
    for (int ib = 0; ib < 8; ++ib) {
      store256(levels + 32 * ib, iq4_levels(nibbles32(b.qs + 16 * ib)));
      d[ib] = scale * static_cast<float>(iq4xs_scale(b, ib));
      c[ib] = 0;
    }
  }
};
// Q4_K/Q5_K: 64 elements per 32 bytes of qs, sub-block 2i in the low nibbles, 2i+1 in the high.
template <typename Block>
void k4_unpack(const Block& b, uint8_t* levels, float* d, float* c, bool fifth) {
  const float scale = half(b.d), min = half(b.dmin);
  __m256i high_bits = _mm256_setzero_si256();
  if (fifth) high_bits = load256(reinterpret_cast<const BlockQ5_K&>(b).qh);
  for (int i = 0; i < 4; ++i) {
    const __m256i q = load256(b.qs + 32 * i);
    __m256i low = _mm256_and_si256(q, bytes(0x0F));
    __m256i high = _mm256_and_si256(_mm256_srli_epi16(q, 4), bytes(0x0F));
    if (fifth) {
      low = _mm256_or_si256(low, fifth_bits(high_bits, 2 * i));
      high = _mm256_or_si256(high, fifth_bits(high_bits, 2 * i + 1));
    }
    store256(levels + 64 * i, low);
    store256(levels + 64 * i + 32, high);
  }
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    k4_scale_min(j, b.scales, sc, m);
    d[j] = scale * sc;
    c[j] = min * m;
  }
}
struct Q4_KForm {
  using Block = BlockQ4_K;
  static constexpr GgmlType kType = GgmlType::Q4_K;
  static constexpr int kUnit = 256;
  static void unpack(const Block& b, uint8_t* levels, float* d, float* c) { k4_unpack(b, levels, d, c, false); }
};
struct Q5_KForm {
  using Block = BlockQ5_K;
  static constexpr GgmlType kType = GgmlType::Q5_K;
  static constexpr int kUnit = 256;
  static void unpack(const Block& b, uint8_t* levels, float* d, float* c) { k4_unpack(b, levels, d, c, true); }
};
// Q6_K: per 128-element half, ql holds elements l and l+64 (low, high nibble) and l+32, l+96;
// qh their top two bits at shifts 0, 2, 4, 6. Scales per 16 elements.
struct Q6_KForm {
  using Block = BlockQ6_K;
  static constexpr GgmlType kType = GgmlType::Q6_K;
  static constexpr int kUnit = 256;
  static void unpack(const Block& b, uint8_t* levels, float* d, float* c) {
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = load256(b.ql + 64 * h), ql1 = load256(b.ql + 64 * h + 32);
      const __m256i qh = load256(b.qh + 32 * h);
      const __m256i low4 = bytes(0x0F), two = bytes(3);
      const auto top = [&](int shift) {
        return _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(shift)), two), 4);
      };
      uint8_t* out = levels + 128 * h;
      store256(out, _mm256_or_si256(_mm256_and_si256(ql0, low4), top(0)));
      store256(out + 32, _mm256_or_si256(_mm256_and_si256(ql1, low4), top(2)));
      store256(out + 64, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), top(4)));
      store256(out + 96, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4), top(6)));
    }
    const float scale = half(b.d);
    for (int j = 0; j < 16; ++j) {
      d[j] = scale * b.scales[j];
      c[j] = 0;
    }
  }
};

// Sixteen rows unpacked for the whole row length. Block b, quad j: 64 bytes, row r's levels
// 4j..4j+3 of that block in bytes 4r..4r+3.
struct Panel {
  std::vector<uint8_t> levels;
  std::vector<float> scale;   // [b * 16 + r]
  std::vector<float> offset;  // c, [b * 16 + r]
};

// Rows [first, first + count) (count <= 16; a short group repeats its last row).
template <typename Form>
void unpack_panel(const uint8_t* first, size_t stride, int count, int64_t k, Panel& panel) {
  using Block = typename Form::Block;
  constexpr int kBlock = int8_form(Form::kType).block;
  constexpr int kBlocksPerUnit = Form::kUnit / kBlock;
  constexpr int kQuads = kBlock / 4;
  const int64_t units = k / Form::kUnit;
  const int64_t blocks = k / kBlock;
  panel.levels.resize(static_cast<size_t>(blocks) * kQuads * 64);
  panel.scale.resize(static_cast<size_t>(blocks) * kRows);
  panel.offset.resize(static_cast<size_t>(blocks) * kRows);
  alignas(64) uint8_t levels[kRows][Form::kUnit];
  float d[kRows][kBlocksPerUnit], c[kRows][kBlocksPerUnit];
  const Block* rows[kRows];
  for (int r = 0; r < kRows; ++r) {
    rows[r] = reinterpret_cast<const Block*>(first + static_cast<size_t>(std::min(r, count - 1)) * stride);
  }
  const __m512i row_starts = _mm512_mullo_epi32(
      _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi32(Form::kUnit));
  for (int64_t u = 0; u < units; ++u) {
    for (int r = 0; r < kRows; ++r) Form::unpack(rows[r][u], levels[r], d[r], c[r]);
    for (int bl = 0; bl < kBlocksPerUnit; ++bl) {
      const int64_t b = u * kBlocksPerUnit + bl;
      for (int j = 0; j < kQuads; ++j) {
        const __m512i quad = _mm512_i32gather_epi32(row_starts, &levels[0][bl * kBlock + 4 * j], 1);
        _mm512_storeu_si512(panel.levels.data() + (static_cast<size_t>(b) * kQuads + j) * 64, quad);
      }
      for (int r = 0; r < kRows; ++r) {
        panel.scale[static_cast<size_t>(b) * kRows + r] = d[r][bl];
        panel.offset[static_cast<size_t>(b) * kRows + r] = c[r][bl];
      }
    }
  }
}

inline int32_t load32(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// T tokens (<= kTile) of one group times the sixteen panel rows. kBlock: elements per weight
// block (16 or 32; activation blocks are 32).
template <int T, int kBlock, bool kBias, bool kMins>
void panel_tile(const Panel& panel, const Int8Activations& acts, int64_t group, float* out, size_t out_stride,
                __mmask16 rows_mask) {
  constexpr int kQuads = kBlock / 4;
  constexpr int kHalves = 32 / kBlock;
  const int64_t blocks32 = acts.k / 32;
  const int8_t* q = acts.q.data() + static_cast<size_t>(group * blocks32) * kTile * 32;
  const float* da = acts.scale.data() + static_cast<size_t>(group * blocks32) * kTile;
  const int32_t* bias_sum = acts.bias_sum.data() + static_cast<size_t>(group * blocks32 * kHalves) * kTile;
  const float* scaled_sum = acts.scaled_sum.data() + static_cast<size_t>(group * blocks32 * kHalves) * kTile;
  const uint8_t* levels = panel.levels.data();
  const float* scale = panel.scale.data();
  const float* offset = panel.offset.data();
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b32 = 0; b32 < blocks32; ++b32) {
    for (int h = 0; h < kHalves; ++h) {
      __m512i w[kQuads];
      for (int j = 0; j < kQuads; ++j) w[j] = _mm512_loadu_si512(levels + 64 * j);
      const __m512 d = _mm512_loadu_ps(scale);
      const __m512 c = kMins ? _mm512_loadu_ps(offset) : _mm512_setzero_ps();
      // The tokens' integer sums advance side by side: T independent vpdpbusd chains.
      __m512i isum[T];
      for (int t = 0; t < T; ++t) isum[t] = kBias ? _mm512_set1_epi32(bias_sum[t]) : _mm512_setzero_si512();
      for (int j = 0; j < kQuads; ++j) {
        for (int t = 0; t < T; ++t) {
          isum[t] = _mm512_dpbusd_epi32(isum[t], w[j], _mm512_set1_epi32(load32(q + 32 * t + 16 * h + 4 * j)));
        }
      }
      for (int t = 0; t < T; ++t) {
        acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(isum[t]), d), _mm512_set1_ps(da[t]), acc[t]);
        if constexpr (kMins) acc[t] = _mm512_fnmadd_ps(c, _mm512_set1_ps(scaled_sum[t]), acc[t]);
      }
      levels += 64 * kQuads;
      scale += kRows;
      offset += kRows;
      bias_sum += kTile;
      scaled_sum += kTile;
    }
    q += 32 * kTile;
    da += kTile;
  }
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(out + static_cast<size_t>(t) * out_stride, rows_mask, acc[t]);
}

template <int kBlock, bool kBias, bool kMins>
void tile_of_group(const Panel& panel, const Int8Activations& acts, int64_t g, float* out, size_t out_stride,
                   __mmask16 rows_mask) {
  float* dst = out + static_cast<size_t>(g * kTile) * out_stride;
  switch (std::min<int64_t>(kTile, acts.n_tokens - g * kTile)) {
    case 8: panel_tile<8, kBlock, kBias, kMins>(panel, acts, g, dst, out_stride, rows_mask); break;
    case 7: panel_tile<7, kBlock, kBias, kMins>(panel, acts, g, dst, out_stride, rows_mask); break;
    case 6: panel_tile<6, kBlock, kBias, kMins>(panel, acts, g, dst, out_stride, rows_mask); break;
    case 5: panel_tile<5, kBlock, kBias, kMins>(panel, acts, g, dst, out_stride, rows_mask); break;
    case 4: panel_tile<4, kBlock, kBias, kMins>(panel, acts, g, dst, out_stride, rows_mask); break;
    case 3: panel_tile<3, kBlock, kBias, kMins>(panel, acts, g, dst, out_stride, rows_mask); break;
    case 2: panel_tile<2, kBlock, kBias, kMins>(panel, acts, g, dst, out_stride, rows_mask); break;
    default: panel_tile<1, kBlock, kBias, kMins>(panel, acts, g, dst, out_stride, rows_mask); break;
  }
}

// Panels unpacked together, then every token group runs over all of them while its activations
// are in L1: fewer passes over the activations (L3-sized for long rows), as long as the panels
// stay in L2.
constexpr int kMaxPanelsPerPass = 4;
constexpr size_t kPanelBudget = 512 * 1024;

template <typename Form>
void gemm_with(const void* weights, size_t stride, int64_t row_begin, int64_t row_end, const Int8Activations& acts,
               float* out, size_t out_stride) {
  constexpr Int8Form kForm = int8_form(Form::kType);
  thread_local Panel panels[kMaxPanelsPerPass];
  const size_t panel_bytes = static_cast<size_t>(acts.k) * kRows * 5 / 4;
  const int per_pass = static_cast<int>(std::clamp<size_t>(kPanelBudget / panel_bytes, 1, kMaxPanelsPerPass));
  const auto* base = static_cast<const uint8_t*>(weights);
  const int64_t groups = (acts.n_tokens + kTile - 1) / kTile;
  for (int64_t pass = row_begin; pass < row_end; pass += int64_t{kRows} * per_pass) {
    int n_panels = 0;
    __mmask16 masks[kMaxPanelsPerPass];
    for (int64_t r = pass; r < row_end && n_panels < per_pass; r += kRows, ++n_panels) {
      const int count = static_cast<int>(std::min<int64_t>(kRows, row_end - r));
      unpack_panel<Form>(base + static_cast<size_t>(r) * stride, stride, count, acts.k, panels[n_panels]);
      masks[n_panels] = static_cast<__mmask16>((1u << count) - 1);
    }
    for (int64_t g = 0; g < groups; ++g) {
      for (int p = 0; p < n_panels; ++p) {
        tile_of_group<kForm.block, kForm.bias != 0, kForm.mins>(panels[p], acts, g, out + pass + int64_t{kRows} * p, out_stride,
                                                  masks[p]);
      }
    }
  }
}

inline int32_t reduce_add(__m512i v) { return _mm512_reduce_add_epi32(v); }

}  // namespace

void int8_quantize_avx512(const Int8Form& form, const float* x, int64_t t_begin, int64_t t_end,
                          Int8Activations& acts) {
  const int64_t k = acts.k;
  const int64_t blocks32 = k / 32;
  const int halves = 32 / form.block;
  for (int64_t t = t_begin; t < t_end; ++t) {
    const float* row = x + t * k;
    const int64_t group = t / kTile;
    const int lane = static_cast<int>(t % kTile);
    for (int64_t b = 0; b < blocks32; ++b) {
      const __m512 x0 = _mm512_loadu_ps(row + 32 * b), x1 = _mm512_loadu_ps(row + 32 * b + 16);
      const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
      const float d = form.half_scales ? _cvtsh_ss(_cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT)) : amax / 127.0f;
      const __m512 inverse = _mm512_set1_ps(amax != 0 ? 127.0f / amax : 0.0f);
      // Rounded to nearest even (the MXCSR default), |q| <= 127.
      const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, inverse));
      const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, inverse));
      const size_t slot = static_cast<size_t>(group * blocks32 + b) * kTile + lane;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(acts.q.data() + slot * 32), _mm512_cvtepi32_epi8(q0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(acts.q.data() + slot * 32 + 16), _mm512_cvtepi32_epi8(q1));
      acts.scale[slot] = d;
      const int32_t sums[2] = {reduce_add(q0), reduce_add(q1)};
      for (int h = 0; h < halves; ++h) {
        const int32_t sum = halves == 2 ? sums[h] : sums[0] + sums[1];
        const size_t block_slot = static_cast<size_t>((group * blocks32 + b) * halves + h) * kTile + lane;
        acts.bias_sum[block_slot] = -form.bias * sum;
        acts.scaled_sum[block_slot] = d * static_cast<float>(sum);
      }
    }
  }
}

bool int8_gemm_avx512(GgmlType type, const void* weights, size_t stride, int64_t row_begin, int64_t row_end,
                      const Int8Activations& acts, float* out, size_t out_stride) {
  // The form whose type this is, if any.
  const auto run = [&]<typename Form>(Form) {
    if (type != Form::kType) return false;
    gemm_with<Form>(weights, stride, row_begin, row_end, acts, out, out_stride);
    return true;
  };
  return run(Q4_0Form{}) || run(Q4_1Form{}) || run(Q5_0Form{}) || run(Q5_1Form{}) || run(Q8_0Form{}) ||
         run(IQ4_NLForm{}) || run(IQ4_XSForm{}) || run(Q4_KForm{}) || run(Q5_KForm{}) || run(Q6_KForm{});
}

}  // namespace bantam::quant::kernels

#if defined(__clang__)
#pragma clang attribute pop
#pragma clang diagnostic pop
#else
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif

#endif  // x86
