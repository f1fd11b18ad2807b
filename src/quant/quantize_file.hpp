// Model quantizer: `bantam quantize IN.gguf OUT.gguf TYPE`. Tensors are converted one at a time
// (never the whole model in memory), with the per-tensor mix the file type implies.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace bantam::quant {

struct QuantizeOptions {
  std::string input, output, file_type;
  int threads = 1;
  // Called with a message when a tensor falls back to another type (rows not a block multiple).
  std::function<void(const std::string&)> notice;
  // Called after each tensor is written: input bytes converted so far, of all, and its name.
  std::function<void(uint64_t done_bytes, uint64_t total_bytes, const std::string& tensor)> progress;
};

struct QuantizeReport {
  uint64_t input_bytes = 0, output_bytes = 0;
  size_t tensors = 0, fallbacks = 0;
};

QuantizeReport quantize_file(const QuantizeOptions& options);

}  // namespace bantam::quant
