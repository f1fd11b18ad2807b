#include "model/lora.hpp"

#include <cmath>
#include <map>

#include <fmt/format.h>

#include "bantam/error.hpp"

namespace bantam {

namespace {

constexpr std::string_view kSuffixA = ".lora_a";
constexpr std::string_view kSuffixB = ".lora_b";

std::string shape_of(const ops::Matrix& w) { return fmt::format("[{}, {}]", w.cols, w.rows); }

ops::Matrix to_matrix(const gguf::File& file, const gguf::TensorInfo& info) {
  if (info.shape.size() != 2) {
    throw Error(fmt::format("{}: tensor {}: expected 2 dimensions, got shape {}", file.path(), info.name,
                            info.shape_string()));
  }
  if (!ops::matmul_supports(info.type)) {
    throw Error(fmt::format("{}: tensor {}: type {} is not supported for matrix products", file.path(), info.name,
                            type_name(info.type)));
  }
  const int64_t cols = info.shape[0];
  const int64_t rows = info.shape[1];
  if (cols < 1 || rows < 1) {
    throw Error(fmt::format("{}: tensor {}: empty shape {}", file.path(), info.name, info.shape_string()));
  }
  return ops::Matrix{.type = info.type, .cols = cols, .rows = rows, .data = file.tensor_data(info).data(),
                     .row_bytes = row_bytes(info.type, cols)};
}

// Error unless `pair` fits `base`: A reads the base's input, B writes its output, ranks agree.
void check_fit(const std::string& path, const LoraPair& pair, const ops::Matrix& base) {
  const std::string a_name = pair.target + std::string(kSuffixA);
  const std::string b_name = pair.target + std::string(kSuffixB);
  if (pair.a.cols != base.cols) {
    throw Error(fmt::format("{}: tensor {}: shape [{}, {}] does not fit {} of shape {} (expected [{}, rank])", path,
                            a_name, pair.a.cols, pair.a.rows, pair.target, shape_of(base), base.cols));
  }
  if (pair.b.rows != base.rows) {
    throw Error(fmt::format("{}: tensor {}: shape [{}, {}] does not fit {} of shape {} (expected [rank, {}])", path,
                            b_name, pair.b.cols, pair.b.rows, pair.target, shape_of(base), base.rows));
  }
  if (pair.a.rows != pair.b.cols) {
    throw Error(fmt::format("{}: tensor {}: rank {} differs from the rank {} of {}", path, b_name, pair.b.cols,
                            pair.a.rows, a_name));
  }
}

}  // namespace

std::unordered_map<std::string, const ops::Matrix*> lora_targets(const Weights& weights) {
  std::unordered_map<std::string, const ops::Matrix*> targets;
  if (weights.output.data != weights.token_embd.data) targets.emplace(tensor_name(TensorRole::Output, -1), &weights.output);
  for (size_t il = 0; il < weights.layers.size(); ++il) {
    const int layer = static_cast<int>(il);
    for (const TensorRole role : per_layer_lora_targets()) {
      const ops::Matrix* w = weights.matrix(role, layer);
      if (w->data) targets.emplace(tensor_name(role, layer), w);
    }
  }
  return targets;
}

LoraAdapterFile LoraAdapterFile::load(const std::string& path, const std::string& architecture,
                                      const Weights& weights) {
  LoraAdapterFile adapter{.file = gguf::File::open(path), .alpha = 0, .pairs = {}};
  const gguf::File& file = adapter.file;
  const std::string type = file.get_string("general.type").value_or("");
  if (type != "adapter") {
    throw Error(fmt::format("{}: not an adapter (general.type is \"{}\", expected \"adapter\")", path, type));
  }
  const std::string adapter_type = file.get_string("adapter.type").value_or("");
  if (adapter_type != "lora") {
    throw Error(fmt::format("{}: not a LoRA adapter (adapter.type is \"{}\", expected \"lora\")", path, adapter_type));
  }
  if (file.architecture() != architecture) {
    throw Error(fmt::format("{}: adapter architecture \"{}\" differs from the model's \"{}\"", path,
                            file.architecture(), architecture));
  }
  const double alpha = file.get_double("adapter.lora.alpha").value_or(0.0);
  if (!std::isfinite(alpha)) throw Error(fmt::format("{}: adapter.lora.alpha is not finite", path));
  adapter.alpha = static_cast<float>(alpha);

  // Pair the tensors by target name (ordered, so pairs and errors come in a stable order).
  std::map<std::string, std::pair<const gguf::TensorInfo*, const gguf::TensorInfo*>> by_target;
  for (const gguf::TensorInfo& info : file.tensors()) {
    const std::string_view name = info.name;
    const bool is_a = name.ends_with(kSuffixA);
    if (!is_a && !name.ends_with(kSuffixB)) {
      throw Error(fmt::format("{}: tensor {}: not a LoRA tensor (names end in .lora_a or .lora_b)", path, name));
    }
    auto& slot = by_target[std::string(name.substr(0, name.size() - kSuffixA.size()))];
    (is_a ? slot.first : slot.second) = &info;
  }
  if (by_target.empty()) throw Error(fmt::format("{}: the adapter holds no LoRA tensors", path));

  const auto targets = lora_targets(weights);
  for (const auto& [target, tensors] : by_target) {
    const auto [a, b] = tensors;
    if (!a || !b) {
      throw Error(fmt::format("{}: tensor {}{}: its partner {}{} is missing", path, target, a ? kSuffixA : kSuffixB,
                              target, a ? kSuffixB : kSuffixA));
    }
    const auto base = targets.find(target);
    if (base == targets.end()) {
      throw Error(fmt::format("{}: tensor {}: the model has no matrix {} to adapt", path, a->name, target));
    }
    LoraPair pair{.target = target, .a = to_matrix(file, *a), .b = to_matrix(file, *b)};
    check_fit(path, pair, *base->second);
    adapter.pairs.push_back(std::move(pair));
  }
  return adapter;
}

void LoraSet::add(const LoraAdapterFile& adapter, float scale, const Weights& weights) {
  const auto targets = lora_targets(weights);
  for (const LoraPair& pair : adapter.pairs) {
    const auto base = targets.find(pair.target);
    if (base == targets.end()) {
      throw Error(fmt::format("{}: tensor {}{}: the model has no matrix {} to adapt", adapter.file.path(),
                              pair.target, kSuffixA, pair.target));
    }
    check_fit(adapter.file.path(), pair, *base->second);
    const float rank = static_cast<float>(pair.a.rows);
    const float factor = adapter.alpha != 0 ? scale * adapter.alpha / rank : scale;
    terms_[base->second->data].push_back(ops::LoraTerm{.a = pair.a, .b = pair.b, .scale = factor});
  }
}

std::span<const ops::LoraTerm> LoraSet::terms(const ops::Matrix& w) const {
  const auto it = terms_.find(w.data);
  if (it == terms_.end()) return {};
  return it->second;
}

}  // namespace bantam
