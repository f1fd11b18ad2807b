#include "quant/quantize_file.hpp"

#include <algorithm>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "format/gguf.hpp"
#include "format/gguf_writer.hpp"
#include "quant/file_mix.hpp"
#include "quant/quant.hpp"

namespace bantam::quant {
namespace {

// Converts rows [begin, end) of `src` (type `from`) into `dst` (type `to`).
void convert_rows(GgmlType from, GgmlType to, int64_t row_length, const uint8_t* src,
                  uint8_t* dst, int64_t begin, int64_t end) {
  const size_t in_row = row_bytes(from, row_length), out_row = row_bytes(to, row_length);
  std::vector<float> values(static_cast<size_t>(row_length));
  for (int64_t r = begin; r < end; ++r) {
    dequantize_row(from, src + static_cast<size_t>(r) * in_row, values.data(), row_length);
    quantize_row(to, values.data(), dst + static_cast<size_t>(r) * out_row, row_length);
  }
}

int count_layers(const gguf::File& in) {
  const std::string arch = in.architecture();
  if (auto n = in.get_uint(arch + ".block_count")) return static_cast<int>(*n);
  return 1;
}

}  // namespace

QuantizeReport quantize_file(const QuantizeOptions& o) {
  const auto ft = file_type_from_name(o.file_type);
  if (!ft) {
    throw Error(fmt::format("unknown type '{}' (known: {})", o.file_type,
                            fmt::join(file_type_names(), ", ")));
  }
  if (!can_quantize(ft->base)) {
    throw Error(fmt::format("quantizing to {} is not supported", ft->name));
  }
  const auto in = gguf::File::open(o.input);
  const std::string arch = in.architecture();
  const int n_layers = count_layers(in);
  const auto heads = in.get_uint(arch + ".attention.head_count");
  const auto heads_kv = in.get_uint(arch + ".attention.head_count_kv");
  const int n_gqa = heads && heads_kv && *heads_kv > 0 ? static_cast<int>(*heads / *heads_kv) : 1;
  const bool has_output = in.find_tensor("output.weight") != nullptr;

  gguf::Writer w;
  w.copy_metadata(in);
  w.set("general.file_type", gguf::Value::u32(ft->llama_ftype));
  w.set("general.quantization_version", gguf::Value::u32(2));

  QuantizeReport report;
  std::vector<uint64_t> input_bytes_through;  // input bytes of tensors 0..i, for progress
  for (const auto& t : in.tensors()) {
    input_bytes_through.push_back((input_bytes_through.empty() ? 0 : input_bytes_through.back()) + t.nbytes);
    const bool is_float = t.type == GgmlType::F32 || t.type == GgmlType::F16 || t.type == GgmlType::BF16;
    GgmlType target = t.type;
    if (is_float) {
      const GgmlType wanted =
          tensor_type_for(*ft, {t.name, t.shape, n_layers, n_gqa, has_output});
      target = block_compatible_type(wanted, t.shape[0]);
      if (target != wanted) {
        ++report.fallbacks;
        if (o.notice) {
          o.notice(fmt::format("{}: rows of {} are not a multiple of the {} block of {}; using {}",
                               t.name, t.shape[0], type_name(wanted),
                               type_info(wanted).block_size, type_name(target)));
        }
      }
    } else if (t.shape.size() >= 2) {
      throw Error(fmt::format("{}: tensor '{}' is already {}; quantize from F32, F16 or BF16",
                              o.input, t.name, type_name(t.type)));
    }
    report.input_bytes += t.nbytes;
    report.output_bytes += row_bytes(target, t.shape[0]) * static_cast<uint64_t>(t.n_rows());
    ++report.tensors;
    if (target == t.type) {
      w.add_tensor_view(t.name, t.type, t.shape, in.tensor_data(t));
      continue;
    }
    const auto src = in.tensor_data(t);
    const GgmlType from = t.type;
    const int threads = std::max(1, o.threads);
    w.add_tensor_lazy(t.name, target, t.shape, [src, from, target, &t, threads] {
      const int64_t rows = t.n_rows();
      std::vector<uint8_t> out(row_bytes(target, t.shape[0]) * static_cast<size_t>(rows));
      const int n = static_cast<int>(std::min<int64_t>(threads, rows));
      std::vector<std::thread> pool;
      for (int k = 1; k < n; ++k) {
        pool.emplace_back(convert_rows, from, target, t.shape[0], src.data(), out.data(),
                          rows * k / n, rows * (k + 1) / n);
      }
      convert_rows(from, target, t.shape[0], src.data(), out.data(), 0, rows / n);
      for (auto& th : pool) th.join();
      return out;
    });
  }
  if (o.progress) {
    // The writer counts tensors; quantize's progress counts the input bytes they stand for.
    w.on_progress([&o, &input_bytes_through](size_t done, size_t, const std::string& tensor) {
      o.progress(input_bytes_through[done - 1], input_bytes_through.back(), tensor);
    });
  }
  w.write(o.output);
  return report;
}

}  // namespace bantam::quant
