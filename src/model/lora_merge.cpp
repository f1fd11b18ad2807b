#include "model/lora_merge.hpp"

#include <map>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "format/gguf_writer.hpp"
#include "model/config.hpp"
#include "model/lora.hpp"
#include "quant/file_mix.hpp"
#include "quant/quant.hpp"

namespace bantam {

namespace {

struct ScaledPair {
  const LoraPair* pair;
  const std::string* adapter_path;
  float scale;  // user scale * alpha / rank
};

// Rows of `m` as floats, one after another.
std::vector<float> dequantized(const ops::Matrix& m) {
  std::vector<float> values(static_cast<size_t>(m.rows * m.cols));
  for (int64_t r = 0; r < m.rows; ++r) quant::dequantize_row(m.type, m.row(r), values.data() + r * m.cols, m.cols);
  return values;
}

void check_readable(const std::string& path, const std::string& tensor, GgmlType type) {
  if (!quant::can_dequantize(type)) {
    throw Error(fmt::format("{}: tensor {}: type {} cannot be dequantized for merging", path, tensor, type_name(type)));
  }
}

void check_writable(const std::string& path, const std::string& tensor, GgmlType to) {
  if (!quant::can_quantize(to)) {
    throw Error(fmt::format("{}: tensor {}: cannot write merged rows as {}", path, tensor, type_name(to)));
  }
}

// W + sum of scale * B A, row by row, in `type`.
std::vector<uint8_t> merge_matrix(const ops::Matrix& base, const std::vector<ScaledPair>& pairs, GgmlType type) {
  std::vector<std::vector<float>> a_rows, b_rows;
  for (const ScaledPair& p : pairs) {
    a_rows.push_back(dequantized(p.pair->a));
    b_rows.push_back(dequantized(p.pair->b));
  }
  const size_t out_row_bytes = row_bytes(type, base.cols);
  std::vector<uint8_t> out(out_row_bytes * static_cast<size_t>(base.rows));
  std::vector<float> row(static_cast<size_t>(base.cols));
  for (int64_t r = 0; r < base.rows; ++r) {
    quant::dequantize_row(base.type, base.row(r), row.data(), base.cols);
    for (size_t i = 0; i < pairs.size(); ++i) {
      const int64_t rank = pairs[i].pair->a.rows;
      for (int64_t k = 0; k < rank; ++k) {
        const float weight = pairs[i].scale * b_rows[i][static_cast<size_t>(r * rank + k)];
        const float* a = a_rows[i].data() + k * base.cols;
        for (int64_t c = 0; c < base.cols; ++c) row[static_cast<size_t>(c)] += weight * a[c];
      }
    }
    quant::quantize_row(type, row.data(), out.data() + static_cast<size_t>(r) * out_row_bytes, base.cols);
  }
  return out;
}

}  // namespace

LoraMergeReport merge_lora(const LoraMergeOptions& o) {
  if (o.adapters.empty()) throw Error("lora merge: no adapter given");
  const gguf::File base = gguf::File::open(o.base);
  const ModelConfig config = ModelConfig::from_gguf(base);
  const Weights weights = Weights::bind(base, config);
  std::vector<LoraAdapterFile> adapters;
  for (const auto& [path, scale] : o.adapters) adapters.push_back(LoraAdapterFile::load(path, base.architecture(), weights));

  std::map<std::string, std::vector<ScaledPair>> by_target;
  for (size_t i = 0; i < adapters.size(); ++i) {
    const float scale = o.adapters[i].second;
    for (const LoraPair& pair : adapters[i].pairs) {
      const float factor = adapters[i].alpha != 0 ? scale * adapters[i].alpha / static_cast<float>(pair.a.rows) : scale;
      by_target[pair.target].push_back({&pair, &adapters[i].file.path(), factor});
    }
  }

  const auto targets = lora_targets(weights);
  gguf::Writer writer;
  writer.copy_metadata(base);
  if (o.type) writer.remove("general.file_type");  // the merged matrices may no longer fit it
  LoraMergeReport report;
  for (const gguf::TensorInfo& info : base.tensors()) {
    const auto merged = by_target.find(info.name);
    if (merged == by_target.end()) {
      writer.add_tensor_view(info.name, info.type, info.shape, base.tensor_data(info));
      continue;
    }
    const ops::Matrix& matrix = *targets.at(info.name);
    // Rows that are no whole number of the requested type's blocks get a compatible type, as
    // `bantam quantize` does (e.g. stories260K's 172-wide ffn_down: Q8_0 -> F16).
    const GgmlType wanted = o.type.value_or(info.type);
    const GgmlType type = quant::block_compatible_type(wanted, matrix.cols);
    if (type != wanted) report.fallbacks.push_back({info.name, wanted, type});
    check_readable(o.base, info.name, info.type);
    check_writable(o.output, info.name, type);
    for (const ScaledPair& p : merged->second) {
      check_readable(*p.adapter_path, p.pair->target + ".lora_a", p.pair->a.type);
      check_readable(*p.adapter_path, p.pair->target + ".lora_b", p.pair->b.type);
    }
    const std::vector<ScaledPair>& pairs = merged->second;
    writer.add_tensor_lazy(info.name, type, info.shape, [&matrix, &pairs, type] { return merge_matrix(matrix, pairs, type); });
    ++report.merged_tensors;
  }
  report.tensors = writer.tensor_count();
  if (o.progress) writer.on_progress(o.progress);
  writer.write(o.output);
  return report;
}

}  // namespace bantam
