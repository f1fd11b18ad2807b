#include "quant/dot.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <type_traits>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "quant/blocks.hpp"
#include "quant/formats.hpp"
#include "quant/kernels.hpp"
#include "quant/quant.hpp"

namespace bantam::quant {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// CPUID leaf 1, ECX bit 29 (clang 14's __builtin_cpu_supports does not know "f16c").
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & (1u << 29)) != 0;
}
#endif

bool cpu_has(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  switch (isa) {
    case Isa::Scalar:
      return true;
    case Isa::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    case Isa::Avx512:
      return cpu_has(Isa::Avx2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("bmi2");
    case Isa::Avx512Vnni:
      return cpu_has(Isa::Avx512) && __builtin_cpu_supports("avx512vnni");
    default:
      return false;
  }
#elif defined(__aarch64__)
  const unsigned long hwcap = getauxval(AT_HWCAP);
  switch (isa) {
    case Isa::Scalar:
      return true;
    case Isa::Neon:
      return (hwcap & HWCAP_ASIMD) != 0;
    case Isa::NeonDotprod:
      return (hwcap & HWCAP_ASIMD) != 0 && (hwcap & HWCAP_ASIMDDP) != 0;
    case Isa::NeonI8mm:
      return cpu_has(Isa::NeonDotprod) && (getauxval(AT_HWCAP2) & HWCAP2_I8MM) != 0;
    default:
      return false;
  }
#else
  return isa == Isa::Scalar;
#endif
}

#if defined(__x86_64__) || defined(__i386__)
constexpr std::array kAllIsas = {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni};
#elif defined(__aarch64__)
constexpr std::array kAllIsas = {Isa::Scalar, Isa::Neon, Isa::NeonDotprod, Isa::NeonI8mm};
#else
constexpr std::array kAllIsas = {Isa::Scalar};
#endif

kernels::Table build_table(Isa isa) {
  kernels::Table table;
  kernels::add_scalar(table);
#if defined(__x86_64__) || defined(__i386__)
  if (isa >= Isa::Avx2) kernels::add_avx2(table);
  if (isa >= Isa::Avx512) {
    kernels::add_avx512(table);
    kernels::add_avx512_gemm(table);
  }
  if (isa >= Isa::Avx512Vnni) {
    kernels::add_avx512_vnni(table);
    kernels::add_avx512_vnni_gemm(table);
  }
#elif defined(__aarch64__)
  if (isa >= Isa::Neon) kernels::add_neon(table);
  if (isa >= Isa::Neon && (getauxval(AT_HWCAP) & HWCAP_ASIMDFHM) != 0) kernels::add_neon_fhm(table);
  if (isa >= Isa::NeonDotprod) kernels::add_neon_dotprod(table);
#endif
  return table;
}

struct Dispatch {
  Isa isa;
  kernels::Table table;
};

Dispatch& dispatch() {
  static Dispatch state = [] {
    const Isa best = available_isas().back();
    return Dispatch{best, build_table(best)};
  }();
  return state;
}

size_t slot(GgmlType type) { return static_cast<size_t>(type); }

// Activation blocks for Q8_0/Q8_1 as ggml's AVX code makes them: d = amax/127 stored as fp16,
// values scaled by 127/amax and rounded to nearest even (the reference code differs slightly).
template <typename Block>
void quantize_q8_blocks(const float* x, Block* out, int64_t n) {
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    float amax = 0;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = amax != 0 ? 127.0f / amax : 0.0f;
    int sum = 0;
    for (int j = 0; j < kQK; ++j) {
      out[i].qs[j] = static_cast<int8_t>(nearest_int(x[j] * id));
      sum += out[i].qs[j];
    }
    out[i].d = fp32_to_fp16(d);
    if constexpr (std::is_same_v<Block, BlockQ8_1>) out[i].s = fp32_to_fp16(d * static_cast<float>(sum));
  }
}

void check_n(GgmlType type, int64_t n, const char* what) {
  const int64_t block = type_info(type).block_size;
  if (n < 0 || n % block != 0) {
    throw Error(fmt::format("{}: {} elements is not a multiple of the {} block size {}", what, n, type_name(type),
                            block));
  }
}

}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Avx512Vnni: return "avx512vnni";
    case Isa::Neon: return "neon";
    case Isa::NeonDotprod: return "neon-dotprod";
    case Isa::NeonI8mm: return "neon-i8mm";
  }
  return "unknown";
}

std::vector<Isa> available_isas() {
  std::vector<Isa> out;
  for (Isa isa : kAllIsas) {
    if (cpu_has(isa)) out.push_back(isa);
  }
  return out;
}

bool follows_llama_cpp_orders(Isa isa) { return isa < Isa::Neon; }

Isa active_isa() { return dispatch().isa; }
std::string_view active_isa_name() { return isa_name(active_isa()); }

void set_isa_for_testing(Isa isa) {
  if (!cpu_has(isa)) throw Error(fmt::format("this CPU does not support the {} kernels", isa_name(isa)));
  dispatch() = Dispatch{isa, build_table(isa)};
}

Isa kernel_level(GgmlType weight_type, DotOrder order) {
  const Dispatch& active = dispatch();
  const kernels::Kernels& used = active.table.find(weight_type, order);
  for (Isa isa : kAllIsas) {
    if (isa > active.isa) break;
    const kernels::Table table = build_table(isa);
    const kernels::Kernels& own = table.find(weight_type, order);
    if (own.dot == used.dot && own.gemv == used.gemv && own.gemm == used.gemm) return isa;
  }
  return active.isa;
}

bool can_dot(GgmlType weight_type) {
  return slot(weight_type) < kernels::kTypeSlots &&
         dispatch().table.find(weight_type, DotOrder::VecDot).dot != nullptr;
}

DotOrder dot_order(GgmlType weight_type, int64_t rows) {
  const bool repacked = weight_type == GgmlType::Q4_0 || weight_type == GgmlType::Q4_K || weight_type == GgmlType::Q2_K;
  return repacked && rows % 8 == 0 ? DotOrder::Interleaved8 : DotOrder::VecDot;
}

GgmlType vec_dot_type(GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16:
      return weight_type;
    case GgmlType::Q4_0: case GgmlType::Q5_0: case GgmlType::Q8_0: case GgmlType::IQ4_NL:
      return GgmlType::Q8_0;
    case GgmlType::Q4_1: case GgmlType::Q5_1:
      return GgmlType::Q8_1;
    case GgmlType::Q2_K: case GgmlType::Q3_K: case GgmlType::Q4_K: case GgmlType::Q5_K: case GgmlType::Q6_K:
    case GgmlType::Q8_K: case GgmlType::IQ4_XS:
      return GgmlType::Q8_K;
    default:
      throw Error(fmt::format("no dot product for weights of type {}", type_name(weight_type)));
  }
}

size_t activation_bytes(GgmlType vec_dot_type, int64_t n) { return row_bytes(vec_dot_type, n); }

void quantize_activations(GgmlType vec_dot_type, const float* x, void* out, int64_t n) {
  check_n(vec_dot_type, n, "quantize_activations");
  switch (vec_dot_type) {
    case GgmlType::F32:
      std::memcpy(out, x, static_cast<size_t>(n) * sizeof(float));
      return;
    case GgmlType::F16:
    case GgmlType::BF16:
      quantize_row(vec_dot_type, x, out, n);
      return;
    case GgmlType::Q8_0:
      quantize_q8_blocks(x, static_cast<BlockQ8_0*>(out), n);
      return;
    case GgmlType::Q8_1:
      quantize_q8_blocks(x, static_cast<BlockQ8_1*>(out), n);
      return;
    case GgmlType::Q8_K:
      formats::quantize_q8_k(x, out, n);
      return;
    default:
      throw Error(fmt::format("{} is not an activation format for dot products", type_name(vec_dot_type)));
  }
}

void quantize_activation_rows(GgmlType weight_type, DotOrder order, const float* x, int64_t k, int64_t n_tokens,
                              void* out) {
  const GgmlType type = vec_dot_type(weight_type);
  check_n(type, k, "quantize_activation_rows");
  const size_t bytes = activation_bytes(type, k);
  auto* dst = static_cast<uint8_t*>(out);
  const bool grouped_rule = order == DotOrder::Interleaved8 && type == GgmlType::Q8_K;
  const int64_t grouped = grouped_rule && n_tokens > 3 ? n_tokens - n_tokens % 4 : 0;
  for (int64_t t = 0; t < n_tokens; ++t) {
    if (t < grouped) {
      formats::quantize_q8_k_positive_extreme(x + t * k, dst + static_cast<size_t>(t) * bytes, k);
    } else {
      quantize_activations(type, x + t * k, dst + static_cast<size_t>(t) * bytes, k);
    }
  }
}

float vec_dot(GgmlType weight_type, int64_t n, const void* weight_row, const void* activations, DotOrder order) {
  if (!can_dot(weight_type)) throw Error(fmt::format("no dot product for weights of type {}", type_name(weight_type)));
  check_n(weight_type, n, "vec_dot");
  if (kernels::f16_row_sums_in_half(dispatch().isa, weight_type, n)) {
    return kernels::dot_f16_half_accumulated(n, weight_row, activations);
  }
  return dispatch().table.find(weight_type, order).dot(n, weight_row, activations);
}

void gemv(GgmlType weight_type, int64_t n, const void* weights, size_t row_stride_bytes, int64_t row_begin,
          int64_t row_end, const void* activations, float* out, DotOrder order) {
  if (!can_dot(weight_type)) throw Error(fmt::format("no dot product for weights of type {}", type_name(weight_type)));
  check_n(weight_type, n, "gemv");
  if (row_end <= row_begin) return;
  const auto* first = static_cast<const uint8_t*>(weights) + static_cast<size_t>(row_begin) * row_stride_bytes;
  if (kernels::f16_row_sums_in_half(dispatch().isa, weight_type, n)) {
    kernels::gemv_by_rows<kernels::dot_f16_half_accumulated>(n, first, row_stride_bytes, row_end - row_begin,
                                                            activations, out + row_begin);
    return;
  }
  dispatch().table.find(weight_type, order).gemv(n, first, row_stride_bytes, row_end - row_begin, activations,
                                                 out + row_begin);
}

void gemm(GgmlType weight_type, int64_t n, const void* weights, size_t row_stride_bytes, int64_t row_begin,
          int64_t row_end, const void* activations, size_t act_stride_bytes, int64_t n_tokens, float* out,
          size_t out_stride, DotOrder order) {
  if (!can_dot(weight_type)) throw Error(fmt::format("no dot product for weights of type {}", type_name(weight_type)));
  check_n(weight_type, n, "gemm");
  if (row_end <= row_begin || n_tokens <= 0) return;
  const auto* first = static_cast<const uint8_t*>(weights) + static_cast<size_t>(row_begin) * row_stride_bytes;
  const kernels::Kernels& kernels = dispatch().table.find(weight_type, order);
  const bool half_sums = kernels::f16_row_sums_in_half(dispatch().isa, weight_type, n);
  const kernels::Gemv gemv_rows =
      half_sums ? kernels::gemv_by_rows<kernels::dot_f16_half_accumulated> : kernels.gemv;
  // One token is a gemv, as in llama.cpp (where float rows then take another summation order).
  if (kernels.gemm && n_tokens > 1 && !half_sums) {
    kernels.gemm(n, first, row_stride_bytes, row_end - row_begin, activations, act_stride_bytes, n_tokens,
                 out + row_begin, out_stride);
    return;
  }
  // Blocks of rows small enough to stay in cache while every token passes over them.
  constexpr int64_t kRowBlock = 32;
  const auto* acts = static_cast<const uint8_t*>(activations);
  for (int64_t r = 0; r < row_end - row_begin; r += kRowBlock) {
    const int64_t rows = std::min(kRowBlock, row_end - row_begin - r);
    for (int64_t t = 0; t < n_tokens; ++t) {
      gemv_rows(n, first + static_cast<size_t>(r) * row_stride_bytes, row_stride_bytes, rows,
                acts + static_cast<size_t>(t) * act_stride_bytes,
                out + static_cast<size_t>(t) * out_stride + row_begin + r);
    }
  }
}

}  // namespace bantam::quant
