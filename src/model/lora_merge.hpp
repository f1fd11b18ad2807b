// Folds LoRA adapters into a copy of the base model: W' = W + scale * (alpha / rank) * B A for
// every adapted matrix (dequantized, summed in float, re-quantized); every other tensor and all
// metadata are copied as they are.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "format/ggml_type.hpp"

namespace bantam {

struct LoraMergeOptions {
  std::string base;
  std::vector<std::pair<std::string, float>> adapters;  // files and their scales
  std::string output;
  std::optional<GgmlType> type;  // of the merged matrices; default: each keeps its base type
  std::function<void(size_t done, size_t total, const std::string& tensor)> progress;
};

struct LoraMergeReport {
  struct Fallback {
    std::string tensor;
    GgmlType wanted, written;  // rows not a whole number of `wanted` blocks
  };
  size_t tensors = 0;         // in the output
  size_t merged_tensors = 0;  // of them, adapted
  std::vector<Fallback> fallbacks;
};

// Error naming the file and tensor for an adapter that does not fit, or a type that cannot hold
// a merged matrix.
LoraMergeReport merge_lora(const LoraMergeOptions& options);

}  // namespace bantam
