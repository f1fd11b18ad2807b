#include "train/adapter_writer.hpp"

#include <cstring>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "format/gguf_writer.hpp"
#include "quant/quant.hpp"

namespace bantam::train {

namespace {

// `rows` x `cols` F32 values stored as `type`, row by row.
std::vector<uint8_t> encode_rows(std::span<const float> values, int64_t rows, int64_t cols, GgmlType type) {
  const size_t bytes = row_bytes(type, cols);
  std::vector<uint8_t> out(bytes * static_cast<size_t>(rows));
  if (type == GgmlType::F32) {
    std::memcpy(out.data(), values.data(), out.size());
    return out;
  }
  for (int64_t r = 0; r < rows; ++r) {
    quant::quantize_row(type, values.data() + r * cols, out.data() + static_cast<size_t>(r) * bytes, cols);
  }
  return out;
}

}  // namespace

void write_lora_adapter(const std::string& path, const AdapterFileInfo& info, std::span<const AdapterPair> pairs) {
  if (info.type != GgmlType::F32 && info.type != GgmlType::F16) {
    throw Error(fmt::format("{}: adapters are written as F32 or F16, not {}", path, type_name(info.type)));
  }
  if (pairs.empty()) throw Error(fmt::format("{}: no LoRA pairs to write", path));
  gguf::Writer writer;
  writer.set("general.architecture", gguf::Value::string(info.architecture));
  writer.set("general.type", gguf::Value::string("adapter"));
  writer.set("adapter.type", gguf::Value::string("lora"));
  writer.set("adapter.lora.alpha", gguf::Value::f32(info.alpha));
  writer.set("general.name", gguf::Value::string(info.name));
  for (const AdapterPair& pair : pairs) {
    const auto a_size = static_cast<size_t>(pair.rank * pair.n_in);
    const auto b_size = static_cast<size_t>(pair.n_out * pair.rank);
    if (pair.rank < 1 || pair.n_in < 1 || pair.n_out < 1 || pair.a.size() != a_size || pair.b.size() != b_size) {
      throw Error(fmt::format("{}: {}: A has {} values and B {}, expected {} (rank {} x {}) and {} ({} x rank {})",
                              path, pair.target, pair.a.size(), pair.b.size(), a_size, pair.rank, pair.n_in, b_size,
                              pair.n_out, pair.rank));
    }
    writer.add_tensor(pair.target + ".lora_a", info.type, {pair.n_in, pair.rank},
                      encode_rows(pair.a, pair.rank, pair.n_in, info.type));
    writer.add_tensor(pair.target + ".lora_b", info.type, {pair.rank, pair.n_out},
                      encode_rows(pair.b, pair.n_out, pair.rank, info.type));
  }
  writer.write(path);
}

}  // namespace bantam::train
