// Writes trained LoRA pairs as a GGUF adapter in llama.cpp's layout (as ../shared/models/adapters
// and model/lora.hpp read it): general.architecture of the base, general.type "adapter",
// adapter.type "lora", adapter.lora.alpha, and per target matrix NAME the tensors NAME.lora_a
// (ggml shape [n_in, rank]) and NAME.lora_b ([rank, n_out]).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "format/ggml_type.hpp"

namespace bantam::train {

// One adapted matrix, row-major F32: a has `rank` rows of n_in values (A x is the rank-vector),
// b has n_out rows of `rank` values (B (A x) the output), i.e. ops::Matrix's rows x cols layout.
struct AdapterPair {
  std::string target;  // base tensor name, e.g. "blk.0.attn_q.weight"
  int64_t n_in = 0, n_out = 0, rank = 0;
  std::span<const float> a, b;
};

struct AdapterFileInfo {
  std::string architecture;  // the base model's general.architecture
  std::string name;          // general.name
  float alpha = 16.0f;
  GgmlType type = GgmlType::F32;  // of the stored tensors: F32 or F16
};

// Atomic write (temporary file, then rename); Error on a pair whose spans do not match its shape,
// an unsupported type, or I/O failure.
void write_lora_adapter(const std::string& path, const AdapterFileInfo& info, std::span<const AdapterPair> pairs);

}  // namespace bantam::train
