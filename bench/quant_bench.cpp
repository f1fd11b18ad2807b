// Micro-benchmarks of the quant dot kernels: vec_dot on one row (cache-resident), gemv over a
// matrix as in decoding (weights larger than L2), and activation quantization, for every weight
// type at every ISA level this CPU has. Throughput is bytes of weights (or of float activations)
// per second. Run: build/bin/quant_bench [--benchmark_filter=gemv/Q4_0] [--benchmark_min_time=0.2]
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bench_data.hpp"
#include "format/ggml_type.hpp"
#include "quant/dot.hpp"
#include "quant/quant.hpp"

namespace bantam::quant {
namespace {

constexpr GgmlType kWeightTypes[] = {
    GgmlType::F32,  GgmlType::F16,  GgmlType::BF16,   GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0,
    GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::IQ4_NL, GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K,
    GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::IQ4_XS};
constexpr GgmlType kActivationTypes[] = {GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q8_1,
                                         GgmlType::Q8_K};

// A typical hidden size of small models; 1024 rows of it make a 2-17 MB matrix depending on type.
constexpr int64_t kCols = 4096;
constexpr int64_t kRows = 1024;

using bench::gaussian;
using bench::quantized;

std::vector<uint8_t> activations(GgmlType weight_type, int64_t cols) {
  const GgmlType act_type = vec_dot_type(weight_type);
  const auto x = gaussian(static_cast<size_t>(cols), 7);
  std::vector<uint8_t> out(activation_bytes(act_type, cols));
  quantize_activations(act_type, x.data(), out.data(), cols);
  return out;
}

void bench_vec_dot(benchmark::State& state, GgmlType type, Isa isa) {
  set_isa_for_testing(isa);
  const auto w = quantized(type, 1, kCols, 1);
  const auto a = activations(type, kCols);
  for (auto _ : state) {
    benchmark::DoNotOptimize(vec_dot(type, kCols, w.data(), a.data()));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(w.size()));
}

void bench_gemv(benchmark::State& state, GgmlType type, Isa isa, DotOrder order) {
  set_isa_for_testing(isa);
  const auto w = quantized(type, kRows, kCols, 2);
  const auto a = activations(type, kCols);
  std::vector<float> out(kRows);
  for (auto _ : state) {
    gemv(type, kCols, w.data(), row_bytes(type, kCols), 0, kRows, a.data(), out.data(), order);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(w.size()));
}

// Activation quantization is scalar (ISA-independent); bytes are the float inputs.
void bench_quantize_activations(benchmark::State& state, GgmlType act_type) {
  const auto x = gaussian(static_cast<size_t>(kCols), 3);
  std::vector<uint8_t> out(activation_bytes(act_type, kCols));
  for (auto _ : state) {
    quantize_activations(act_type, x.data(), out.data(), kCols);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kCols * static_cast<int64_t>(sizeof(float)));
}

// Registers every benchmark before benchmark_main runs; names are kind/type/isa.
const bool registered = [] {
  for (GgmlType type : kWeightTypes) {
    for (Isa isa : available_isas()) {
      const std::string suffix = std::string(type_name(type)) + "/" + std::string(isa_name(isa));
      benchmark::RegisterBenchmark(("vec_dot/" + suffix).c_str(), bench_vec_dot, type, isa);
      benchmark::RegisterBenchmark(("gemv/" + suffix).c_str(), bench_gemv, type, isa, DotOrder::VecDot);
      // Q4_0 matrices with rows % 8 == 0 (nearly all of them) sum in llama.cpp's repacked order.
      if (dot_order(type, kRows) != DotOrder::VecDot) {
        benchmark::RegisterBenchmark(("gemv_interleaved8/" + suffix).c_str(), bench_gemv, type, isa,
                                     dot_order(type, kRows));
      }
    }
  }
  for (GgmlType act_type : kActivationTypes) {
    benchmark::RegisterBenchmark(("quantize_activations/" + std::string(type_name(act_type))).c_str(),
                                 bench_quantize_activations, act_type);
  }
  return true;
}();

}  // namespace
}  // namespace bantam::quant
