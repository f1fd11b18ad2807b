// The adapter writer's files against llama.cpp's layout (the shared adapters) and bantam's loader.
#include <gtest/gtest.h>

#include "bantam/error.hpp"
#include "format/gguf.hpp"
#include "model/config.hpp"
#include "model/lora.hpp"
#include "test_support.hpp"
#include "train/adapter_writer.hpp"

namespace bantam::train {
namespace {

using test::shared;

struct Pairs {
  std::vector<std::vector<float>> storage;
  std::vector<AdapterPair> pairs;
};

// Pairs for the targets and types of a shared adapter, shaped from its tensors, filled with ramps.
Pairs pairs_like(const gguf::File& reference) {
  Pairs out;
  out.storage.reserve(reference.tensors().size());
  for (const gguf::TensorInfo& info : reference.tensors()) {
    if (!info.name.ends_with(".lora_a")) continue;
    const gguf::TensorInfo* b = reference.find_tensor(info.name.substr(0, info.name.size() - 7) + ".lora_b");
    AdapterPair pair{.target = info.name.substr(0, info.name.size() - 7), .n_in = info.shape[0], .n_out = b->shape[1],
                     .rank = info.shape[1], .a = {}, .b = {}};
    auto& a_values = out.storage.emplace_back(static_cast<size_t>(pair.rank * pair.n_in));
    for (size_t i = 0; i < a_values.size(); ++i) a_values[i] = 0.01f * static_cast<float>(i % 17);
    auto& b_values = out.storage.emplace_back(static_cast<size_t>(pair.n_out * pair.rank));
    for (size_t i = 0; i < b_values.size(); ++i) b_values[i] = -0.02f * static_cast<float>(i % 5);
    pair.a = a_values;
    pair.b = b_values;
    out.pairs.push_back(pair);
  }
  return out;
}

void expect_same_layout(const gguf::File& ours, const gguf::File& reference) {
  for (const char* key : {"general.architecture", "general.type", "adapter.type"}) {
    EXPECT_EQ(ours.get_string(key), reference.get_string(key)) << key;
  }
  EXPECT_EQ(ours.get_double("adapter.lora.alpha"), reference.get_double("adapter.lora.alpha"));
  EXPECT_EQ(ours.find("adapter.lora.alpha")->type(), reference.find("adapter.lora.alpha")->type());
  ASSERT_EQ(ours.tensors().size(), reference.tensors().size());
  for (const gguf::TensorInfo& theirs : reference.tensors()) {
    const gguf::TensorInfo* mine = ours.find_tensor(theirs.name);
    ASSERT_NE(mine, nullptr) << theirs.name;
    EXPECT_EQ(mine->shape, theirs.shape) << theirs.name;
    EXPECT_EQ(mine->type, theirs.type) << theirs.name;
  }
}

TEST(AdapterWriter, MatchesTheSharedAdaptersLayoutAndLoadsInBantam) {
  const gguf::File base = gguf::File::open(shared("models/weights/stories260K.gguf").string());
  const ModelConfig config = ModelConfig::from_gguf(base);
  const Weights weights = Weights::bind(base, config);
  const auto dir = test::temp_dir();
  for (const char* name : {"stories260K-lora-qvd-r8-f32.gguf", "stories260K-lora-kogu-r4-f16.gguf"}) {
    SCOPED_TRACE(name);
    const gguf::File reference = gguf::File::open(shared(std::string("models/adapters/") + name).string());
    const Pairs pairs = pairs_like(reference);
    const AdapterFileInfo info{.architecture = "llama", .name = "test adapter",
                               .alpha = static_cast<float>(*reference.get_double("adapter.lora.alpha")),
                               .type = reference.tensors()[0].type};
    const std::string path = (dir / name).string();
    write_lora_adapter(path, info, pairs.pairs);
    const gguf::File ours = gguf::File::open(path);
    expect_same_layout(ours, reference);

    const LoraAdapterFile loaded = LoraAdapterFile::load(path, "llama", weights);
    EXPECT_EQ(loaded.alpha, info.alpha);
    ASSERT_EQ(loaded.pairs.size(), pairs.pairs.size());
    // The values survive (exactly in F32): A's row r is the rank-vector's row, B's row o the output's.
    if (info.type == GgmlType::F32) {
      const LoraPair& first = loaded.pairs[0];
      const AdapterPair* written = nullptr;
      for (const AdapterPair& p : pairs.pairs) {
        if (p.target == first.target) written = &p;
      }
      ASSERT_NE(written, nullptr);
      const auto* a = reinterpret_cast<const float*>(first.a.data);
      const auto* b = reinterpret_cast<const float*>(first.b.data);
      EXPECT_EQ(first.a.rows, written->rank);
      EXPECT_EQ(a[first.a.cols + 3], written->a[static_cast<size_t>(written->n_in) + 3]);
      EXPECT_EQ(b[2 * first.b.cols + 1], written->b[2 * static_cast<size_t>(written->rank) + 1]);
    }
  }
}

TEST(AdapterWriter, RefusesMismatchedSpansAndUnsupportedTypes) {
  const std::vector<float> a(8), b(8);
  const AdapterPair pair{.target = "blk.0.attn_q.weight", .n_in = 4, .n_out = 4, .rank = 2, .a = a, .b = b};
  const auto dir = test::temp_dir();
  AdapterFileInfo q8;
  q8.type = GgmlType::Q8_0;
  EXPECT_THROW(write_lora_adapter((dir / "x.gguf").string(), q8, std::vector<AdapterPair>{pair}), Error);
  AdapterPair wrong = pair;
  wrong.rank = 3;
  EXPECT_THROW(write_lora_adapter((dir / "x.gguf").string(), AdapterFileInfo{}, std::vector<AdapterPair>{wrong}), Error);
  EXPECT_THROW(write_lora_adapter((dir / "x.gguf").string(), AdapterFileInfo{}, std::vector<AdapterPair>{}), Error);
}

}  // namespace
}  // namespace bantam::train
