// Prompt-sized matmuls on one thread: the int8 GEMM against the per-type multi-token kernels
// (quant::gemm), for a 1024-wide and an FFN-down-sized (qwen2-0.5b) matrix and 512 tokens.
// Items are multiply-adds, so items/s is MAC/s. Run: build-bench/bin/gemm_bench
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bench_data.hpp"
#include "format/ggml_type.hpp"
#include "quant/dot.hpp"
#include "quant/int8_gemm.hpp"
#include "quant/quant.hpp"

namespace bantam::quant {
namespace {

constexpr GgmlType kTypes[] = {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K,
                               GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::IQ4_XS};
constexpr int64_t kRows = 896;
constexpr int64_t kTokens = 512;

using bench::gaussian;
using bench::quantized;

void bench_int8_gemm(benchmark::State& state, GgmlType type, int64_t cols) {
  const auto w = quantized(type, kRows, cols, 1);
  const auto x = gaussian(static_cast<size_t>(kTokens * cols), 2);
  Int8Activations acts;
  std::vector<float> out(static_cast<size_t>(kTokens * kRows));
  for (auto _ : state) {
    reserve_int8_activations(type, cols, kTokens, acts);
    quantize_int8_activations(type, x.data(), 0, kTokens, acts);
    int8_gemm(type, w.data(), row_bytes(type, cols), 0, kRows, acts, out.data(), kRows);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kRows * cols * kTokens);
}

void bench_type_gemm(benchmark::State& state, GgmlType type, int64_t cols) {
  const auto w = quantized(type, kRows, cols, 1);
  const auto x = gaussian(static_cast<size_t>(kTokens * cols), 2);
  const DotOrder order = dot_order(type, kRows);
  const size_t act_bytes = activation_bytes(vec_dot_type(type), cols);
  std::vector<uint8_t> acts(act_bytes * kTokens);
  std::vector<float> out(static_cast<size_t>(kTokens * kRows));
  for (auto _ : state) {
    quantize_activation_rows(type, order, x.data(), cols, kTokens, acts.data());
    gemm(type, cols, w.data(), row_bytes(type, cols), 0, kRows, acts.data(), act_bytes, kTokens, out.data(), kRows,
         order);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kRows * cols * kTokens);
}

const bool registered = [] {
  for (GgmlType type : kTypes) {
    for (int64_t cols : {int64_t{1024}, int64_t{4864}}) {
      const std::string suffix = std::string(type_name(type)) + "/" + std::to_string(cols);
      if (int8_gemm_supports(type)) {
        benchmark::RegisterBenchmark(("int8_gemm/" + suffix).c_str(), bench_int8_gemm, type, cols)
            ->Unit(benchmark::kMillisecond);
      }
      benchmark::RegisterBenchmark(("type_gemm/" + suffix).c_str(), bench_type_gemm, type, cols)
          ->Unit(benchmark::kMillisecond);
    }
  }
  return true;
}();

}  // namespace
}  // namespace bantam::quant
