// The memory roofline decode is compared with: a plain streaming read of a 1 GiB buffer (far beyond
// the caches), summed so the loads cannot be dropped. `--benchmark_filter=Read` with 1 and 2
// threads; bytes_per_second is the figure bench/RESULTS.md quotes.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <numeric>
#include <vector>

namespace {

constexpr size_t kFloats = size_t{256} << 20;  // 1 GiB

const std::vector<float>& buffer() {
  static const std::vector<float> data(kFloats, 1.0f);
  return data;
}

void ReadBandwidth(benchmark::State& state) {
  const std::vector<float>& data = buffer();
  // Each thread streams its own share.
  const size_t share = kFloats / static_cast<size_t>(state.threads());
  const float* begin = data.data() + share * static_cast<size_t>(state.thread_index());
  for (auto _ : state) {
    float sums[16] = {};
    for (size_t i = 0; i < share; i += 16) {
      for (int l = 0; l < 16; ++l) sums[l] += begin[i + static_cast<size_t>(l)];
    }
    benchmark::DoNotOptimize(std::accumulate(sums, sums + 16, 0.0f));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(share * sizeof(float)));
}
BENCHMARK(ReadBandwidth)->Threads(1)->Threads(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
