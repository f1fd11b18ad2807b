// Real data: tensors quantized by llama-quantize (no imatrix) in the synthetic models must
// dequantize close to the F16 originals, and re-quantizing those originals with our quantizers
// must be about as accurate (and for the deterministic legacy formats, byte-identical).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "format/gguf.hpp"
#include "quant/quant.hpp"
#include "quant_test_util.hpp"
#include "test_support.hpp"

namespace bantam::quant {
namespace {

struct TypeStats {
  double err_file = 0, err_ours = 0, signal = 0;
  size_t bytes = 0, identical_bytes = 0, tensors = 0;
};

std::vector<float> dequantize_tensor(const gguf::File& file, const gguf::TensorInfo& t) {
  std::vector<float> out(static_cast<size_t>(t.n_elements()));
  const auto data = file.tensor_data(t);
  const size_t stride = row_bytes(t.type, t.shape[0]);
  for (int64_t r = 0; r < t.n_rows(); ++r) {
    dequantize_row(t.type, data.data() + static_cast<size_t>(r) * stride, out.data() + r * t.shape[0], t.shape[0]);
  }
  return out;
}

// Relative RMSE bounds of llama-quantize's own output against the F16 weights (random weights:
// close to the gaussian case), to catch a misread layout.
double file_bound(GgmlType type) {
  switch (type) {
    case GgmlType::Q8_0: return 0.01;
    case GgmlType::Q6_K: return 0.03;
    case GgmlType::Q5_0: case GgmlType::Q5_1: case GgmlType::Q5_K: return 0.06;
    case GgmlType::Q4_0: case GgmlType::Q4_1: case GgmlType::Q4_K: return 0.12;
    case GgmlType::Q3_K: return 0.2;
    case GgmlType::Q2_K: return 0.4;
    default: return 0.5;
  }
}

class SyntheticModels : public ::testing::TestWithParam<std::string> {};

TEST_P(SyntheticModels, DequantizeMatchesF16AndRequantizeMatchesLlamaQuantize) {
  const std::string quant = GetParam();
  std::map<GgmlType, TypeStats> stats;
  for (const char* arch : {"gemma", "gemma2", "llama3", "nemo", "phi3", "qwen2"}) {
    const auto dir = std::string("models/synthetic/synth-") + arch;
    const auto original = gguf::File::open(bantam::test::shared(dir + "-f16.gguf").string());
    const auto quantized = gguf::File::open(bantam::test::shared(dir + "-" + quant + ".gguf").string());
    for (const auto& t : quantized.tensors()) {
      if (!type_info(t.type).quantized) continue;
      const gguf::TensorInfo* src = original.find_tensor(t.name);
      ASSERT_NE(src, nullptr) << t.name;
      ASSERT_EQ(src->shape, t.shape) << t.name;
      const auto reference = dequantize_tensor(original, *src);
      const auto from_file = dequantize_tensor(quantized, t);
      EXPECT_LT(test::relative_rmse(from_file, reference), file_bound(t.type)) << arch << " " << t.name;

      const auto ours = test::quantize(t.type, reference);
      const auto file_bytes = quantized.tensor_data(t);
      ASSERT_EQ(ours.size(), file_bytes.size()) << t.name;
      const auto ours_values = test::dequantize(t.type, ours, t.n_elements());
      auto& s = stats[t.type];
      for (size_t i = 0; i < reference.size(); ++i) {
        s.err_file += std::pow(static_cast<double>(from_file[i]) - reference[i], 2);
        s.err_ours += std::pow(static_cast<double>(ours_values[i]) - reference[i], 2);
        s.signal += static_cast<double>(reference[i]) * reference[i];
      }
      for (size_t i = 0; i < ours.size(); ++i) s.identical_bytes += ours[i] == file_bytes[i];
      s.bytes += ours.size();
      ++s.tensors;
    }
  }
  ASSERT_FALSE(stats.empty());
  for (const auto& [type, s] : stats) {
    const double ratio = std::sqrt(s.err_ours / s.err_file);
    const double identical = static_cast<double>(s.identical_bytes) / static_cast<double>(s.bytes);
    std::printf("%s %-5s tensors %3zu  rmse file %.5f ours %.5f  ratio %.4f  identical bytes %.4f\n",
                quant.c_str(), std::string(type_name(type)).c_str(), s.tensors, std::sqrt(s.err_file / s.signal),
                std::sqrt(s.err_ours / s.signal), ratio, identical);
    EXPECT_LT(ratio, 1.05) << type_name(type);
    // The legacy quantizers are deterministic and exactly llama-quantize's.
    if (type == GgmlType::Q8_0 || type == GgmlType::Q4_0 || type == GgmlType::Q5_0) {
      EXPECT_EQ(identical, 1.0) << type_name(type);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Files, SyntheticModels, ::testing::Values("Q8_0", "Q4_0", "Q4_K_M", "Q2_K"));

}  // namespace
}  // namespace bantam::quant
