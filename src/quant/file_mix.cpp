#include "quant/file_mix.hpp"

#include <array>
#include <cctype>
#include <regex>

#include "model/tensor_table.hpp"

namespace bantam::quant {
namespace {

constexpr std::array kFileTypes = {
    FileType{"F32", 0, GgmlType::F32},       FileType{"F16", 1, GgmlType::F16},
    FileType{"BF16", 32, GgmlType::BF16},    FileType{"Q8_0", 7, GgmlType::Q8_0},
    FileType{"Q4_0", 2, GgmlType::Q4_0},     FileType{"Q4_1", 3, GgmlType::Q4_1},
    FileType{"Q5_0", 8, GgmlType::Q5_0},     FileType{"Q5_1", 9, GgmlType::Q5_1},
    FileType{"Q2_K", 10, GgmlType::Q2_K},    FileType{"Q3_K_S", 11, GgmlType::Q3_K},
    FileType{"Q3_K_M", 12, GgmlType::Q3_K},  FileType{"Q3_K_L", 13, GgmlType::Q3_K},
    FileType{"Q4_K_S", 14, GgmlType::Q4_K},  FileType{"Q4_K_M", 15, GgmlType::Q4_K},
    FileType{"Q5_K_S", 16, GgmlType::Q5_K},  FileType{"Q5_K_M", 17, GgmlType::Q5_K},
    FileType{"Q6_K", 18, GgmlType::Q6_K},    FileType{"IQ4_NL", 25, GgmlType::IQ4_NL},
    FileType{"IQ4_XS", 30, GgmlType::IQ4_XS},
};

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) !=
        std::toupper(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Layers at both ends and every third in between carry more of the model's sensitivity.
bool use_more_bits(int layer, int n_layers) {
  return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

int layer_of(const std::string& name) {
  static const std::regex kLayer(R"(^blk\.(\d+)\.)");
  std::smatch m;
  return std::regex_search(name, m, kLayer) ? std::stoi(m[1]) : -1;
}

}  // namespace

std::optional<FileType> file_type_from_name(std::string_view name) {
  for (const auto& ft : kFileTypes) {
    if (equal_ignoring_case(ft.name, name)) return ft;
  }
  return std::nullopt;
}

std::vector<std::string_view> file_type_names() {
  std::vector<std::string_view> names;
  for (const auto& ft : kFileTypes) names.push_back(ft.name);
  return names;
}

GgmlType tensor_type_for(const FileType& ft, const TensorPlacement& t) {
  // Vectors (norms, biases, rope factors) stay in F32; float file types keep everything.
  if (t.shape.size() < 2) return GgmlType::F32;
  if (!type_info(ft.base).quantized) return ft.base;
  const std::string_view name = ft.name;
  const int layer = layer_of(t.name);
  const std::optional<TensorRole> role = tensor_role(t.name);
  const bool is_output = role == TensorRole::Output || (!t.has_output_tensor && role == TensorRole::TokenEmbd);
  if (is_output) {
    if (t.shape[0] % 256 != 0) return GgmlType::Q8_0;
    return ft.base == GgmlType::Q8_0 ? GgmlType::Q8_0 : GgmlType::Q6_K;
  }
  if (role == TensorRole::AttnV) {
    if (name == "Q2_K") return t.n_gqa >= 4 ? GgmlType::Q4_K : GgmlType::Q3_K;
    if (name == "Q3_K_M") return layer < 2 ? GgmlType::Q5_K : GgmlType::Q4_K;
    if (name == "Q3_K_L") return GgmlType::Q5_K;
    if (name == "Q4_K_S" && layer < 4) return GgmlType::Q5_K;
    if ((name == "Q4_K_M" || name == "Q5_K_M") && use_more_bits(layer, t.n_layers)) {
      return GgmlType::Q6_K;
    }
    return ft.base;
  }
  if (role == TensorRole::FfnDown) {
    if (name == "Q2_K") return GgmlType::Q3_K;
    if (name == "Q3_K_M") {
      return layer < t.n_layers / 16 ? GgmlType::Q5_K : GgmlType::Q4_K;
    }
    if (name == "Q3_K_L") return GgmlType::Q5_K;
    if (name == "Q4_K_S" && layer < t.n_layers / 8) return GgmlType::Q5_K;
    if ((name == "Q4_K_M" || name == "Q5_K_M") && use_more_bits(layer, t.n_layers)) {
      return GgmlType::Q6_K;
    }
    return ft.base;
  }
  if (role == TensorRole::AttnOutput) {
    if (name == "Q2_K") return GgmlType::Q3_K;
    if (name == "Q3_K_M") return GgmlType::Q4_K;
    if (name == "Q3_K_L") return GgmlType::Q5_K;
    return ft.base;
  }
  if (role == TensorRole::AttnQkv) {
    if (name == "Q3_K_M" || name == "Q3_K_L") return GgmlType::Q4_K;
    if (name == "Q4_K_M") return GgmlType::Q5_K;
    if (name == "Q5_K_M") return GgmlType::Q6_K;
  }
  return ft.base;
}

GgmlType block_compatible_type(GgmlType type, int64_t row_length) {
  if (row_length % type_info(type).block_size == 0) return type;
  GgmlType fallback;
  switch (type) {
    case GgmlType::Q2_K: case GgmlType::Q3_K: case GgmlType::IQ4_XS: fallback = GgmlType::IQ4_NL; break;
    case GgmlType::Q4_K: fallback = GgmlType::Q5_0; break;
    case GgmlType::Q5_K: fallback = GgmlType::Q5_1; break;
    case GgmlType::Q6_K: fallback = GgmlType::Q8_0; break;
    default: fallback = GgmlType::F16; break;
  }
  return row_length % type_info(fallback).block_size == 0 ? fallback : GgmlType::F16;
}

}  // namespace bantam::quant
