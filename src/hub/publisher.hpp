// The publisher's side: builds a static hub directory that any web server can serve.
//   HUB/root.json, HUB/N.root.json        every root version (devices walk 1..N)
//   HUB/targets.json, HUB/N.targets.json  (N.* so a device never mixes files of two publishes)
//   HUB/snapshot.json, HUB/N.snapshot.json, HUB/timestamp.json
//   HUB/blobs/sha256/<hex>                 the GGUF files, content-addressed
//   HUB/staging/                           unsigned changes waiting for `hub sign`
// Private keys live in KEYDIR (one JSON file per key: ROLE.key, ROLE-2.key, ...), never in HUB.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "hub/metadata.hpp"

namespace bantam::hub {

namespace fs = std::filesystem;

inline constexpr uint64_t kDefaultChunkSize = 4ull << 20;

struct InitOptions {
  // role -> number of keys generated and signatures required (default 1 each).
  std::map<std::string, uint64_t> thresholds;
};
void init_hub(const fs::path& hub_dir, const fs::path& key_dir, const InitOptions& options = {});

struct AddOptions {
  std::string name;
  std::string version;
  uint64_t rollout = 100;
  std::string notes;
  std::string min_bantam_version;  // empty: any bantam may use it
  uint64_t chunk_size = kDefaultChunkSize;
};
// Validates the GGUF, copies it to HUB/blobs and stages its target entry. Re-adding the same
// name:version with the same file updates rollout and notes; with another file it is refused.
ModelTarget add_model(const fs::path& hub_dir, const fs::path& gguf_path, const AddOptions& options);

struct SignOptions {
  // Role -> lifetime of the new signature; naming a role also forces it to be re-signed.
  std::map<std::string, std::chrono::seconds> expires_in;
};
// Signs what changed (staged root, staged targets, then snapshot) and always a new timestamp;
// returns the files written, in order.
std::vector<std::string> sign_hub(const fs::path& hub_dir, const fs::path& key_dir,
                                  const SignOptions& options = {});

// Stages root version N+1 with `role` keys added/removed and optionally a new threshold;
// `hub sign` then signs it with the old root keys and the new ones.
struct RootChange {
  std::string role;
  std::vector<fs::path> add_key_files;  // key files (only their public half is read)
  std::vector<std::string> remove_keyids;
  std::optional<uint64_t> threshold;
};
RootMeta stage_root_change(const fs::path& hub_dir, const RootChange& change);

// Writes a new key file for `role`; returns it.
SigningKey generate_key_file(const std::string& role, const fs::path& out);

// Default lifetimes: root a year, targets 3 months, snapshot a month, timestamp a week.
std::chrono::seconds default_expiry(const std::string& role);

}  // namespace bantam::hub
