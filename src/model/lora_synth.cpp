#include "model/lora_synth.hpp"

#include <cmath>
#include <random>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "format/gguf_writer.hpp"
#include "model/config.hpp"
#include "model/lora.hpp"
#include "quant/quant.hpp"

namespace bantam {

namespace {

// rows x cols gaussian values of standard deviation `sigma`, rows quantized to `type`.
std::vector<uint8_t> random_matrix(int64_t rows, int64_t cols, float sigma, GgmlType type, std::mt19937_64& rng) {
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> row(static_cast<size_t>(cols));
  const size_t bytes = row_bytes(type, cols);
  std::vector<uint8_t> out(bytes * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : row) v = dist(rng);
    quant::quantize_row(type, row.data(), out.data() + static_cast<size_t>(r) * bytes, cols);
  }
  return out;
}

}  // namespace

LoraSynthReport synth_lora(const LoraSynthOptions& o) {
  if (o.rank < 1) throw Error(fmt::format("lora synth: rank {} must be at least 1", o.rank));
  if (!quant::can_quantize(o.type)) throw Error(fmt::format("lora synth: cannot write {} tensors", type_name(o.type)));
  if (o.targets.empty()) throw Error("lora synth: no target matrices given");
  const gguf::File base = gguf::File::open(o.base);
  const ModelConfig config = ModelConfig::from_gguf(base);
  const Weights weights = Weights::bind(base, config);
  const auto targets = lora_targets(weights);

  gguf::Writer writer;
  writer.set("general.architecture", gguf::Value::string(base.architecture()));
  writer.set("general.type", gguf::Value::string("adapter"));
  writer.set("general.name", gguf::Value::string(fmt::format("random rank-{} LoRA for {}", o.rank, o.base)));
  writer.set("adapter.type", gguf::Value::string("lora"));
  writer.set("adapter.lora.alpha", gguf::Value::f32(o.alpha));
  std::mt19937_64 rng(o.seed);
  LoraSynthReport report;
  for (const std::string& kind : o.targets) {
    const std::optional<TensorRole> role = role_of_kind(kind);
    if (!role || !is_lora_target(*role)) {
      std::vector<std::string_view> kinds;
      for (const TensorRole r : per_layer_lora_targets()) kinds.push_back(role_name(r));
      throw Error(fmt::format("lora synth: {} has no {} matrices; adapters target {}", o.base, kind,
                              fmt::join(kinds, ", ")));
    }
    size_t found = 0;
    for (int layer = 0; layer < config.n_layer; ++layer) {
      const std::string name = tensor_name(*role, layer);
      const auto it = targets.find(name);
      if (it == targets.end()) continue;
      const ops::Matrix& w = *it->second;
      if (w.cols % type_info(o.type).block_size != 0 || o.rank % type_info(o.type).block_size != 0) {
        throw Error(fmt::format("lora synth: {} rows do not fit {} blocks", name, type_name(o.type)));
      }
      // A: rank x n_in, B: n_out x rank (ggml shapes [n_in, rank] and [rank, n_out]); B small so
      // the adapted model stays close to the base, as trained adapters do.
      auto a = random_matrix(o.rank, w.cols, 1.0f / std::sqrt(static_cast<float>(w.cols)), o.type, rng);
      auto b = random_matrix(w.rows, o.rank, 0.02f, o.type, rng);
      report.bytes += a.size() + b.size();
      writer.add_tensor(name + ".lora_a", o.type, {w.cols, o.rank}, std::move(a));
      writer.add_tensor(name + ".lora_b", o.type, {o.rank, w.rows}, std::move(b));
      ++report.pairs;
      ++found;
    }
    if (found == 0) throw Error(fmt::format("lora synth: {} has no {} matrices", o.base, kind));
  }
  writer.write(o.output);
  return report;
}

}  // namespace bantam
