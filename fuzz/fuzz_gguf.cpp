// Fuzzes the GGUF reader and the inspect summary: any input must parse or throw bantam::Error.
#include <cstddef>
#include <cstdint>

#include "bantam/error.hpp"
#include "format/gguf.hpp"
#include "format/inspect.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto file = bantam::gguf::File::parse({data, size}, "fuzz");
    const auto summary = bantam::inspect_gguf(file, {.tensors = true});
    (void)summary.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    (void)bantam::format_inspect_text(summary);
    for (const auto& t : file.tensors()) (void)file.tensor_data(t);
  } catch (const bantam::Error&) {
  }
  return 0;
}
