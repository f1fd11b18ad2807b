// A structured summary of a GGUF file: what `bantam inspect` prints.
#pragma once

#include <nlohmann/json.hpp>

#include "format/gguf.hpp"

namespace bantam {

struct InspectOptions {
  bool tensors = false;           // list every tensor
  size_t max_array_items = 8;     // longer arrays are summarized, not dumped
};

nlohmann::ordered_json inspect_gguf(const gguf::File& file, const InspectOptions& options = {});

// Human-readable form of the same summary.
std::string format_inspect_text(const nlohmann::ordered_json& summary);

// llama.cpp's general.file_type names (e.g. 15 -> "Q4_K_M").
std::string file_type_name(uint64_t file_type);
// general.file_type's name, or the type holding most bytes when the file does not say (bench's
// model label, ollama's quantization_level).
std::string file_type_label(const gguf::File& file);

// A metadata value as JSON, arrays longer than `max_items` summarized.
nlohmann::ordered_json value_to_json(const gguf::Value& value, size_t max_items);

}  // namespace bantam
