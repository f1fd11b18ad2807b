// The ggml tensor type table: block size and bytes per block for every type a GGUF file
// may hold, so any file is sized correctly even where a type is not yet computable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace bantam {

enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
  IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};

struct GgmlTypeInfo {
  GgmlType type;
  std::string_view name;
  int64_t block_size;    // elements per block
  size_t bytes_per_block;
  bool quantized;
};

// nullopt for ids that are not (or no longer) a ggml type.
std::optional<GgmlTypeInfo> ggml_type_info(uint32_t id);
// For a known type; throws Error otherwise.
const GgmlTypeInfo& type_info(GgmlType type);
std::string_view type_name(GgmlType type);
std::optional<GgmlType> type_from_name(std::string_view name);  // case-insensitive

// Bytes of one row of n elements; n must be a multiple of the block size.
size_t row_bytes(GgmlType type, int64_t n);

}  // namespace bantam
