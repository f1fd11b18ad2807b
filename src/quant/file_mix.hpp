// File types users ask for (Q4_K_M, Q8_0, ...) and the per-tensor type each one implies:
// sensitive tensors (attn_v, ffn_down, output) get more bits, as llama-quantize's mixes do.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "format/ggml_type.hpp"

namespace bantam::quant {

struct FileType {
  std::string_view name;   // "Q4_K_M"
  uint32_t llama_ftype;    // general.file_type value
  GgmlType base;           // type of the bulk of the matrices
};

std::optional<FileType> file_type_from_name(std::string_view name);  // case-insensitive
std::vector<std::string_view> file_type_names();

// What the quantizer knows about one tensor when choosing its type.
struct TensorPlacement {
  std::string name;              // e.g. "blk.3.ffn_down.weight"
  std::vector<int64_t> shape;
  int n_layers = 1;
  int n_gqa = 1;                 // n_head / n_head_kv
  bool has_output_tensor = true; // false when the embedding doubles as output (tied)
};

// The type a tensor gets in a file of type `ft`, before block-size fallback.
GgmlType tensor_type_for(const FileType& ft, const TensorPlacement& t);

// A compatible type when rows of `row_length` are not a multiple of `type`'s block size
// (returns `type` itself when they are).
GgmlType block_compatible_type(GgmlType type, int64_t row_length);

}  // namespace bantam::quant
