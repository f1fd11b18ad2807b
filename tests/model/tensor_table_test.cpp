// The one tensor table and its users: a real file holds exactly the table's tensors, binding
// fills one field per entry, LoRA targets are the table's matrices, quantization mixes find the
// sensitive tensors by the table's names, and every name maps back to its role.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "bantam/error.hpp"
#include "format/gguf.hpp"
#include "model/config.hpp"
#include "model/lora.hpp"
#include "model/lora_synth.hpp"
#include "model/tensor_table.hpp"
#include "model/weights.hpp"
#include "quant/file_mix.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

const TensorDims kToyDims{.n_embd = 64, .n_vocab = 100, .n_ff = 96, .n_layer = 2, .n_rot = 16,
                          .q_width = 64, .k_width = 32, .v_width = 32, .attn_out_width = 64};

TEST(TensorTable, StoriesHoldsExactlyTheTablesTensorsAndAllBind) {
  const gguf::File file = gguf::File::open(test::shared("models/weights/stories260K.gguf").string());
  const ModelConfig config = ModelConfig::from_gguf(file);
  std::set<std::string> in_file, required, optional;
  for (const gguf::TensorInfo& info : file.tensors()) in_file.insert(info.name);
  for (const TensorEntry& e : architecture_tensors(config.traits, tensor_dims(config))) {
    (e.required ? required : optional).insert(e.name);
    if (in_file.contains(e.name)) {
      EXPECT_EQ(file.find_tensor(e.name)->shape, e.shape) << e.name;
    }
  }
  for (const std::string& name : required) EXPECT_TRUE(in_file.contains(name)) << name;
  for (const std::string& name : in_file) {
    EXPECT_TRUE(required.contains(name) || optional.contains(name)) << name << " is not in the table";
  }
  Weights weights = Weights::bind(file, config);
  for (const TensorEntry& e : architecture_tensors(config.traits, tensor_dims(config))) {
    if (!e.required) continue;
    if (const ops::Matrix* m = weights.matrix(e.role, e.layer)) {
      EXPECT_NE(m->data, nullptr) << e.name;
    } else {
      EXPECT_NE(*weights.vector(e.role, e.layer), nullptr) << e.name;
    }
  }
}

TEST(TensorTable, EveryEntryHasOneWeightsFieldAndANameThatMapsBack) {
  for (const std::string_view arch : supported_architectures()) {
    const ArchitectureTraits& traits = architecture_traits(arch);
    Weights weights;
    weights.layers.resize(static_cast<size_t>(kToyDims.n_layer));
    std::set<std::string> names;
    for (const TensorEntry& e : architecture_tensors(traits, kToyDims)) {
      EXPECT_TRUE(names.insert(e.name).second) << arch << ": " << e.name << " twice";
      EXPECT_EQ(tensor_role(e.name), e.role) << arch << ": " << e.name;
      EXPECT_EQ(tensor_name(e.role, e.layer), e.name);
      const bool is_matrix = weights.matrix(e.role, e.layer) != nullptr;
      EXPECT_NE(is_matrix, weights.vector(e.role, e.layer) != nullptr) << arch << ": " << e.name;
      EXPECT_EQ(is_matrix, e.shape.size() == 2) << arch << ": " << e.name;
      if (is_lora_target(e.role)) {
        EXPECT_TRUE(is_matrix) << e.name;
      }
    }
  }
  EXPECT_EQ(tensor_role("blk.12.ffn_down.weight"), TensorRole::FfnDown);
  EXPECT_EQ(tensor_role("blk.0.attn_q.bias"), TensorRole::AttnQBias);
  EXPECT_EQ(tensor_role("blk.0.attn_q.weight.lora_a"), std::nullopt);
  EXPECT_EQ(tensor_role("blk.0.ffn_down_exps.weight"), std::nullopt);
  EXPECT_EQ(role_of_kind("attn_v"), TensorRole::AttnV);
  EXPECT_EQ(role_of_kind("attn_vv"), std::nullopt);
}

TEST(TensorTable, LoraTargetsAreTheTablesMatrices) {
  const gguf::File file = gguf::File::open(test::shared("models/weights/stories260K.gguf").string());
  const ModelConfig config = ModelConfig::from_gguf(file);
  const Weights weights = Weights::bind(file, config);
  std::set<std::string> expected;
  for (const TensorEntry& e : architecture_tensors(config.traits, tensor_dims(config))) {
    if (is_lora_target(e.role) && file.find_tensor(e.name)) expected.insert(e.name);
  }
  std::set<std::string> targets;
  for (const auto& [name, matrix] : lora_targets(weights)) targets.insert(name);
  EXPECT_EQ(targets, expected);
}

TEST(TensorTable, LoraSynthRefusesAKindTheTableDoesNotAdapt) {
  LoraSynthOptions options;
  options.base = test::shared("models/weights/stories260K.gguf").string();
  options.output = (test::temp_dir() / "a.gguf").string();
  options.targets = {"attn_norm"};
  EXPECT_THAT([&] { synth_lora(options); }, testing::ThrowsMessage<Error>(testing::HasSubstr("attn_norm")));
}

TEST(TensorTable, QuantizationMixesFindTheSensitiveTensorsByTheTablesNames) {
  const quant::FileType q2 = *quant::file_type_from_name("Q2_K");
  const auto type_of = [&](TensorRole role) {
    return quant::tensor_type_for(q2, {.name = tensor_name(role, 0), .shape = {256, 256}, .n_layers = 8, .n_gqa = 1});
  };
  EXPECT_EQ(type_of(TensorRole::AttnV), GgmlType::Q3_K);
  EXPECT_EQ(type_of(TensorRole::FfnDown), GgmlType::Q3_K);
  EXPECT_EQ(type_of(TensorRole::AttnOutput), GgmlType::Q3_K);
  EXPECT_EQ(type_of(TensorRole::AttnQ), GgmlType::Q2_K);
  EXPECT_EQ(quant::tensor_type_for(q2, {.name = tensor_name(TensorRole::Output, -1), .shape = {256, 256}}),
            GgmlType::Q6_K);
}

}  // namespace
}  // namespace bantam
