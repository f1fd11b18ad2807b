// Random LoRA adapters of a chosen rank for a model, in llama.cpp's adapter layout: for
// benchmarking the low-rank path (e.g. rank 8 on q/v of a synthetic llama-3.2-1b) without
// training one, as `bantam synth` does for base models.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "format/ggml_type.hpp"
#include "model/tensor_table.hpp"

namespace bantam {

struct LoraSynthOptions {
  std::string base;                   // the model the adapter is for
  std::string output;
  int rank = 8;
  float alpha = 16.0f;
  // Matrix kinds (tensor_table.hpp's role names), in every layer.
  std::vector<std::string> targets = {std::string(role_name(TensorRole::AttnQ)), std::string(role_name(TensorRole::AttnV))};
  GgmlType type = GgmlType::F16;      // of lora_a / lora_b
  uint64_t seed = 1;
};

struct LoraSynthReport {
  size_t pairs = 0;
  uint64_t bytes = 0;  // tensor data written
};

// Error when a target kind names no matrix of the model, or the rank or type is unusable.
LoraSynthReport synth_lora(const LoraSynthOptions& options);

}  // namespace bantam
