// The trainer's adapter as inference sees it: trained pairs written by the adapter writer, read by
// model/lora's loader and applied by the Decoder beside the weights give the loss the trainer
// computed for them (so layout, alpha / rank scale and the fused tensors agree end to end).
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "format/gguf.hpp"
#include "model/decoder.hpp"
#include "model/kv_cache.hpp"
#include "model/lora.hpp"
#include "test_support.hpp"
#include "train/adapter_writer.hpp"
#include "train/lora_trainer.hpp"

namespace bantam {
namespace {

struct Case {
  std::string file;
  std::vector<std::string> targets;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.file; }

class TrainedAdapter : public testing::TestWithParam<Case> {};

TEST_P(TrainedAdapter, InferenceLossEqualsTrainerLoss) {
  const auto file = gguf::File::open(test::shared("models/" + GetParam().file).string());
  const ModelConfig config = ModelConfig::from_gguf(file);
  const Weights weights = Weights::bind(file, config);
  train::LoraTrainer trainer(config, weights, {.targets = GetParam().targets, .rank = 4, .alpha = 8});
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> d(-0.05f, 0.05f);
  for (float& p : trainer.parameters()) p = d(rng);

  std::vector<train::AdapterPair> pairs;
  for (const train::LoraTensor& t : trainer.tensors()) {
    pairs.push_back({.target = t.target, .n_in = t.n_in, .n_out = t.n_out, .rank = t.rank,
                     .a = trainer.parameters().subspan(t.a_offset, static_cast<size_t>(t.rank * t.n_in)),
                     .b = trainer.parameters().subspan(t.b_offset, static_cast<size_t>(t.n_out * t.rank))});
  }
  const std::string path = (test::temp_dir() / "adapter.gguf").string();
  train::write_lora_adapter(path, {.architecture = std::string(file.architecture()), .name = "test",
                                   .alpha = trainer.alpha()}, pairs);
  const LoraAdapterFile adapter = LoraAdapterFile::load(path, std::string(file.architecture()), weights);
  LoraSet set;
  set.add(adapter, 1.0f, weights);

  const std::vector<int32_t> tokens = {1, 45, 200, 17, 300, 88, 5, 411, 23, 140, 9, 77};
  ops::ThreadPool pool(2);
  Decoder decoder(config, weights);
  KvCache cache(config, 32, 32, KvRowTypes{GgmlType::F32, GgmlType::F32});
  ForwardBuffers buffers;
  std::vector<float> logits;
  const DecodeSegment segment{.tokens = tokens, .first_pos = 0, .cache = &cache, .lora = &set};
  decoder.forward({&segment, 1}, buffers, pool, ForwardOutput::AllLogits, logits);
  double expected = 0;
  for (size_t t = 0; t + 1 < tokens.size(); ++t) {
    const float* row = logits.data() + t * static_cast<size_t>(config.n_vocab);
    double mx = row[0], total = 0;
    for (int v = 0; v < config.n_vocab; ++v) mx = std::max<double>(mx, row[v]);
    for (int v = 0; v < config.n_vocab; ++v) total += std::exp(row[v] - mx);
    expected += mx + std::log(total) - row[tokens[t + 1]];
  }
  // F16 files: inference rounds activations to F16 (and GELU through its F16 table): 1e-3.
  EXPECT_NEAR(trainer.evaluate(tokens, {}, pool).loss_sum, expected, 1e-3 * expected);
}

INSTANTIATE_TEST_SUITE_P(
    Models, TrainedAdapter,
    testing::Values(Case{"weights/stories260K.gguf", {"attn_q", "attn_v", "attn_output", "ffn_down"}},
                    Case{"synthetic/synth-phi3-f16.gguf", {"attn_qkv", "ffn_up"}},
                    Case{"synthetic/synth-gemma2-f16.gguf", {"attn_k", "ffn_gate"}}),
    [](const testing::TestParamInfo<Case>& info) {
      const std::string& f = info.param.file;
      const size_t slash = f.find('/') + 1;
      std::string name = f.substr(slash, f.find_first_of("-.", f.find('-', slash) + 1) - slash);
      for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

}  // namespace
}  // namespace bantam
