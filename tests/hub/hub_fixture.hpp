// Shared pieces of the hub tests: a signed test hub in a temp folder, served on loopback, and a
// device store pulling from it through the library.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "format/gguf.hpp"
#include "hub/client.hpp"
#include "hub/digest.hpp"
#include "hub/file_util.hpp"
#include "hub/publisher.hpp"
#include "hub/store.hpp"
#include "loopback_server.hpp"
#include "test_support.hpp"

namespace bantam::hub::testing {

namespace fs = std::filesystem;

inline fs::path stories() { return test::shared("models/weights/stories260K.gguf"); }
inline fs::path stories_q8() { return test::shared("models/weights/stories260K-Q8_0.gguf"); }
inline fs::path tiny_llama() { return test::shared("models/weights/llama-2-tiny-random.gguf"); }

// Small chunks, so a 1 MB model has many and chunk-level behavior shows.
inline constexpr uint64_t kTestChunk = 64 * 1024;

struct TestHub {
  fs::path dir;
  fs::path keys;

  explicit TestHub(const InitOptions& options = {})
      : dir(test::temp_dir() / "hub"), keys(test::temp_dir() / "keys") {
    init_hub(dir, keys, options);
  }
  ModelTarget add(const fs::path& gguf, const std::string& name, const std::string& version,
                  uint64_t rollout = 100, const std::string& notes = "") {
    AddOptions o;
    o.name = name;
    o.version = version;
    o.rollout = rollout;
    o.notes = notes;
    o.chunk_size = kTestChunk;
    return add_model(dir, gguf, o);
  }
  void sign(const SignOptions& options = {}) { sign_hub(dir, keys, options); }
  SigningKey key(const std::string& file) const { return SigningKey::load(keys / file); }
  json signed_part(const std::string& file) const {
    return json::parse(read_text_file(dir / file)).at("signed");
  }
  // Writes targets metadata signed by `signers` (maybe not the trusted ones), then a matching
  // snapshot and timestamp signed with the hub's real keys: an attacker who holds the online
  // snapshot/timestamp keys but not enough targets keys.
  void publish_targets_signed_by(json targets_signed, const std::vector<SigningKey>& signers) const {
    const uint64_t version = signed_part("targets.json").at("version").get<uint64_t>() + 1;
    targets_signed["version"] = version;
    const std::string targets_text = sign_envelope(targets_signed, signers).dump(2);
    write_file_atomic(dir / (std::to_string(version) + ".targets.json"), targets_text);
    write_file_atomic(dir / "targets.json", targets_text);

    json snapshot = signed_part("snapshot.json");
    const uint64_t snapshot_version = snapshot.at("version").get<uint64_t>() + 1;
    snapshot["version"] = snapshot_version;
    snapshot["meta"]["targets.json"] = {
        {"version", version}, {"length", targets_text.size()}, {"hashes", {{"sha256", sha256_hex(targets_text)}}}};
    const std::string snapshot_text = sign_envelope(snapshot, {key("snapshot.key")}).dump(2);
    write_file_atomic(dir / (std::to_string(snapshot_version) + ".snapshot.json"), snapshot_text);
    write_file_atomic(dir / "snapshot.json", snapshot_text);

    json timestamp = signed_part("timestamp.json");
    timestamp["version"] = timestamp.at("version").get<uint64_t>() + 1;
    timestamp["meta"]["snapshot.json"] = {{"version", snapshot_version},
                                          {"length", snapshot_text.size()},
                                          {"hashes", {{"sha256", sha256_hex(snapshot_text)}}}};
    write_file_atomic(dir / "timestamp.json", sign_envelope(timestamp, {key("timestamp.key")}).dump(2));
  }
};

// Fast failure on a bad network, so attack tests finish in seconds.
inline ClientOptions fast_client(const fs::path& trusted_root) {
  ClientOptions o;
  o.trusted_root_file = trusted_root;
  o.fetch.low_speed_limit = 1000;
  o.fetch.low_speed_time = std::chrono::seconds(1);
  o.fetch.connect_timeout = std::chrono::seconds(5);
  return o;
}

// The model is still installed and active at `version`, its blob intact and loadable.
inline void expect_active(const fs::path& store_dir, const std::string& name, const std::string& version,
                          const std::string& sha256) {
  const Store store = Store::open(store_dir);
  const auto model = store.find(name);
  ASSERT_TRUE(model.has_value()) << name << " is not installed";
  EXPECT_EQ(model->active.version, version);
  EXPECT_EQ(model->active.sha256, sha256);
  const fs::path blob = store.blob_path(sha256);
  ASSERT_TRUE(fs::exists(blob));
  EXPECT_EQ(sha256_file(blob), sha256);
  EXPECT_NO_THROW(gguf::File::open(blob.string()));
  EXPECT_EQ(resolve_model(name, store_dir), blob);
}

inline std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  return out;
}

// A stand-in for the Hugging Face Hub on loopback: `root` is served as the Hub's URL space, with
// stories260K.gguf as hf://owner/repo/stories260K.gguf.
class HuggingFace : public ::testing::Test {
 protected:
  void SetUp() override {
    root = test::temp_dir();
    const fs::path dir = root / "owner" / "repo" / "resolve" / "main";
    fs::create_directories(dir);
    fs::create_symlink(stories(), dir / "stories260K.gguf");
    server = std::make_unique<test::LoopbackServer>(root);
    store_dir = test::temp_dir() / "store";
    sha = sha256_file(stories());
  }
  FetchOptions fast() const {
    FetchOptions o;
    o.low_speed_limit = 1000;
    o.low_speed_time = std::chrono::seconds(1);
    return o;
  }
  fs::path root, store_dir;
  std::string sha;
  std::unique_ptr<test::LoopbackServer> server;
};

}  // namespace bantam::hub::testing
