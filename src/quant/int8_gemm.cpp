#include "quant/int8_gemm.hpp"

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "quant/dot.hpp"
#include "quant/int8_gemm_kernels.hpp"

namespace bantam::quant {

namespace {

#if defined(__aarch64__)
constexpr bool kAarch64 = true;
#else
constexpr bool kAarch64 = false;
#endif

// The layout the active level's tiles read.
Int8Layout active_layout() {
  return kAarch64 && active_isa() == Isa::NeonI8mm ? Int8Layout::TokenPairs : Int8Layout::Tokens;
}

}  // namespace

bool int8_gemm_supports(GgmlType type) {
  if (int8_form(type).block == 0) return false;
  if constexpr (kAarch64) return active_isa() >= Isa::Neon;
  // The AVX-512 panels have no unpackers for the 2- and 3-bit K-quants (no other level on x86, and
  // none elsewhere, has int8 tiles).
  return active_isa() == Isa::Avx512Vnni && type != GgmlType::Q2_K && type != GgmlType::Q3_K;
}

void reserve_int8_activations(GgmlType weight_type, int64_t k, int64_t n_tokens, Int8Activations& acts) {
  const Int8Form form = int8_form(weight_type);
  if (form.block == 0 || k % 32 != 0) {
    throw Error(fmt::format("int8 GEMM: no int8 form for {} rows of {} elements", type_name(weight_type), k));
  }
  const auto padded = static_cast<size_t>((n_tokens + kInt8TileTokens - 1) / kInt8TileTokens * kInt8TileTokens);
  acts.k = k;
  acts.n_tokens = n_tokens;
  acts.layout = active_layout();
  // Sized for whole token groups; a short last group's spare lanes are never used (tiles store
  // only the group's tokens), so nothing is cleared.
  acts.q.resize(padded * static_cast<size_t>(k));
  const size_t copies = static_cast<size_t>(int8_token_floats(acts.layout) / kInt8TileTokens);
  acts.scale.resize(padded * copies * static_cast<size_t>(k / 32));
  acts.bias_sum.resize(padded * static_cast<size_t>(k / form.block));
  acts.scaled_sum.resize(padded * copies * static_cast<size_t>(k / form.block));
}

void quantize_int8_activations(GgmlType weight_type, const float* x, int64_t t_begin, int64_t t_end,
                               Int8Activations& acts) {
#if defined(__x86_64__) || defined(__i386__)
  kernels::int8_quantize_avx512(int8_form(weight_type), x, t_begin, t_end, acts);
#elif defined(__aarch64__)
  kernels::int8_quantize_neon(int8_form(weight_type), x, t_begin, t_end, acts);
#else
  (void)weight_type, (void)x, (void)t_begin, (void)t_end, (void)acts;
  throw Error("int8 GEMM: not available on this CPU");
#endif
}

void int8_gemm(GgmlType type, const void* weights, size_t stride, int64_t row_begin, int64_t row_end,
               const Int8Activations& acts, float* out, size_t out_stride) {
  if (acts.layout != active_layout()) {
    throw Error("int8 GEMM: the activations were prepared for another instruction-set level");
  }
#if defined(__x86_64__) || defined(__i386__)
  if (kernels::int8_gemm_avx512(type, weights, stride, row_begin, row_end, acts, out, out_stride)) return;
#elif defined(__aarch64__)
  const auto level_kernel = [] {
    switch (active_isa()) {
      case Isa::NeonI8mm: return &kernels::int8_gemm_neon_i8mm;
      case Isa::NeonDotprod: return &kernels::int8_gemm_neon_dotprod;
      default: return &kernels::int8_gemm_neon;
    }
  };
  if (active_isa() >= Isa::Neon && level_kernel()(type, weights, stride, row_begin, row_end, acts, out, out_stride)) {
    return;
  }
#else
  (void)weights, (void)stride, (void)row_begin, (void)row_end, (void)acts, (void)out, (void)out_stride;
#endif
  throw Error(fmt::format("int8 GEMM: weights of type {} are not supported", type_name(type)));
}

std::vector<double> int8_activation_values(const Int8Activations& acts, int64_t t) {
  std::vector<double> out(static_cast<size_t>(acts.k));
  const int64_t blocks32 = acts.k / 32;
  const int64_t group = t / kInt8TileTokens, lane = t % kInt8TileTokens;
  for (int64_t b = 0; b < blocks32; ++b) {
    const auto group_block = static_cast<size_t>(group * blocks32 + b);
    const size_t slot = group_block * static_cast<size_t>(int8_token_floats(acts.layout)) +
                        static_cast<size_t>(int8_token_float_slot(acts.layout, static_cast<int>(lane)));
    for (int i = 0; i < 32; ++i) {
      const size_t at = acts.layout == Int8Layout::TokenPairs
                            ? group_block * kInt8TileTokens * 32 + static_cast<size_t>(int8_pair_offset(static_cast<int>(lane), i))
                            : (group_block * kInt8TileTokens + static_cast<size_t>(lane)) * 32 + static_cast<size_t>(i);
      out[static_cast<size_t>(32 * b + i)] = static_cast<double>(acts.scale[slot]) * acts.q[at];
    }
  }
  return out;
}

}  // namespace bantam::quant
