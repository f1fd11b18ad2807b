// LoRA adapters: GGUF files (general.type "adapter", adapter.type "lora") holding, for a base
// matrix W named NAME, the pair NAME.lora_a (ggml shape [n_in, rank]) and NAME.lora_b
// ([rank, n_out]). An adapted product is W x + scale * (alpha / rank) * B (A x), computed beside
// the base product (ops/lora.hpp), never as a merged copy.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "format/gguf.hpp"
#include "model/weights.hpp"
#include "ops/lora.hpp"

namespace bantam {

struct LoraPair {
  std::string target;  // the base tensor, e.g. "blk.0.attn_q.weight"
  ops::Matrix a, b;
};

struct LoraAdapterFile {
  gguf::File file;
  float alpha = 0;  // 0: none given, the user's scale applies as is (as in llama.cpp)
  std::vector<LoraPair> pairs;

  // Reads the file and checks every pair against the base model (architecture, target names,
  // shapes, ranks, types): Error naming the adapter file and the tensor.
  static LoraAdapterFile load(const std::string& path, const std::string& architecture, const Weights& weights);
};

// The adapters of one session, grouped by the base matrix they adapt (keyed by its data).
class LoraSet {
 public:
  // Adds every pair of `adapter` at `scale`; Error when a pair does not fit `weights` (an adapter
  // loaded for another model).
  void add(const LoraAdapterFile& adapter, float scale, const Weights& weights);
  bool empty() const { return terms_.empty(); }
  // The terms adapting `w`: empty when none.
  std::span<const ops::LoraTerm> terms(const ops::Matrix& w) const;

 private:
  std::unordered_map<const uint8_t*, std::vector<ops::LoraTerm>> terms_;
};

// The model's matrices a LoRA pair may adapt, by tensor name (the output head only when it is
// its own tensor, not the tied embeddings).
std::unordered_map<std::string, const ops::Matrix*> lora_targets(const Weights& weights);

}  // namespace bantam
