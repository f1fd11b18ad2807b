// Checkpoints: a round trip keeps every bit; other versions, files and inputs are refused clearly.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "bantam/error.hpp"
#include "format/gguf_writer.hpp"
#include "test_support.hpp"
#include "train/error_of.hpp"
#include "train/checkpoint.hpp"

namespace bantam::train {
namespace {

Checkpoint sample() {
  Checkpoint c;
  c.fingerprint = {.model_hash = 0x0123456789abcdefull, .data_hash = 42, .options = "rank=8 alpha=16 lr=0.0002"};
  c.cursor = {.epoch = 2, .next_example = 17, .optimizer_steps = 123, .rng_state = 0xfedcba9876543210ull,
              .tokens_trained = 99999};
  c.params = {NamedTensor{.name = "blk.0.attn_q.weight.lora_a", .shape = {4, 2}, .values = {1, 2, 3, 4, 5, 6, 7, 8}},
              NamedTensor{.name = "blk.0.attn_q.weight.lora_b", .shape = {2, 3}, .values = {-1e-30f, 0, 1e30f, 3, 4, 5}}};
  c.first_moments = c.params;
  c.second_moments = c.params;
  for (auto& t : c.first_moments) t.values[0] = 0.125f;
  for (auto& t : c.second_moments) t.values[1] = 1e-12f;
  return c;
}

bool same(const std::vector<NamedTensor>& a, const std::vector<NamedTensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].shape != b[i].shape) return false;
    if (std::memcmp(a[i].values.data(), b[i].values.data(), a[i].values.size() * sizeof(float)) != 0) return false;
  }
  return true;
}

TEST(Checkpoint, RoundTripKeepsEveryBit) {
  const auto path = (test::temp_dir() / "run.ckpt").string();
  const Checkpoint c = sample();
  write_checkpoint(path, c);
  const Checkpoint back = read_checkpoint(path);
  EXPECT_EQ(back.fingerprint.model_hash, c.fingerprint.model_hash);
  EXPECT_EQ(back.fingerprint.data_hash, c.fingerprint.data_hash);
  EXPECT_EQ(back.fingerprint.options, c.fingerprint.options);
  EXPECT_EQ(back.cursor.epoch, 2);
  EXPECT_EQ(back.cursor.next_example, 17u);
  EXPECT_EQ(back.cursor.optimizer_steps, 123);
  EXPECT_EQ(back.cursor.rng_state, c.cursor.rng_state);
  EXPECT_EQ(back.cursor.tokens_trained, 99999u);
  EXPECT_TRUE(same(back.params, c.params));
  EXPECT_TRUE(same(back.first_moments, c.first_moments));
  EXPECT_TRUE(same(back.second_moments, c.second_moments));
  EXPECT_NO_THROW(check_resumable(path, back, c.fingerprint));
}

TEST(Checkpoint, OtherInputsAreRefusedNamingWhatDiffers) {
  const Checkpoint c = sample();
  TrainFingerprint other = c.fingerprint;
  other.model_hash ^= 1;
  EXPECT_NE(error_of([&] { check_resumable("run.ckpt", c, other); }).find("another base model"), std::string::npos);
  other = c.fingerprint;
  other.data_hash ^= 1;
  EXPECT_NE(error_of([&] { check_resumable("run.ckpt", c, other); }).find("other data"), std::string::npos);
  other = c.fingerprint;
  other.options = "rank=4 alpha=16 lr=0.0002";
  const std::string error = error_of([&] { check_resumable("run.ckpt", c, other); });
  EXPECT_NE(error.find("run.ckpt: "), std::string::npos) << error;
  EXPECT_NE(error.find("rank was 8, now 4"), std::string::npos) << error;
  EXPECT_EQ(error.find("alpha"), std::string::npos) << error;
}

TEST(Checkpoint, OtherFilesAndVersionsAreRefused) {
  const auto dir = test::temp_dir();
  EXPECT_NE(error_of([&] { read_checkpoint(test::shared("models/adapters/stories260K-lora-qvd-r8-f32.gguf").string()); })
                .find("not a fine-tuning checkpoint"),
            std::string::npos);
  const std::string path = (dir / "future.ckpt").string();
  write_checkpoint(path, sample());
  {
    // The same file claiming a later version.
    gguf::Writer writer;
    const gguf::File file = gguf::File::open(path);
    writer.copy_metadata(file);
    writer.set("bantam.checkpoint.version", gguf::Value::u32(kCheckpointVersion + 1));
    for (const auto& t : file.tensors()) writer.add_tensor_view(t.name, t.type, t.shape, file.tensor_data(t));
    writer.write((dir / "v2.ckpt").string());
  }
  EXPECT_NE(error_of([&] { read_checkpoint((dir / "v2.ckpt").string()); }).find("version 2"), std::string::npos);
  test::write_file(dir / "junk.ckpt", "not a gguf at all");
  EXPECT_NE(error_of([&] { read_checkpoint((dir / "junk.ckpt").string()); }).find("junk.ckpt"), std::string::npos);
  EXPECT_NE(error_of([&] { read_checkpoint((dir / "absent.ckpt").string()); }).find("absent.ckpt"), std::string::npos);
}

TEST(Checkpoint, HashesSeeEveryByteAndStreamLikeOneCall) {
  std::string bytes(3 * 1024 * 1024 + 5, 'x');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 31 % 251);
  const auto path = test::temp_dir() / "blob";
  test::write_file(path, bytes);
  EXPECT_EQ(hash_file(path.string()), hash_bytes(bytes.data(), bytes.size()));
  std::string changed = bytes;
  changed[changed.size() - 1] ^= 1;
  EXPECT_NE(hash_bytes(changed.data(), changed.size()), hash_bytes(bytes.data(), bytes.size()));
  EXPECT_NE(hash_bytes(bytes.data(), bytes.size() - 1), hash_bytes(bytes.data(), bytes.size()));
  EXPECT_NE(hash_bytes("", 0), hash_bytes("\0", 1));
}

}  // namespace
}  // namespace bantam::train
