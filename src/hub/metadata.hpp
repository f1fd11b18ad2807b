// The four signed metadata roles of a hub (TUF-style) and their JSON forms.
//   root.json      keys, and per role the key ids and signature threshold; expiry
//   targets.json   the models: name, version, sha256, size, chunk hashes, rollout, notes...
//   snapshot.json  version, length and sha256 of targets.json (stops mix-and-match)
//   timestamp.json version, length and sha256 of snapshot.json (short expiry stops freezes)
// from_json() parses the "signed" part strictly and throws Error naming the file and field.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "hub/signing.hpp"

namespace bantam::gguf {
class File;
}

namespace bantam::hub {

using TimePoint = std::chrono::sys_seconds;

inline constexpr std::string_view kRoleNames[] = {"root", "targets", "snapshot", "timestamp"};
bool is_role_name(std::string_view role);

std::string format_time(TimePoint t);  // 2026-07-26T12:00:00Z
TimePoint parse_time(std::string_view text, const std::string& where);
TimePoint now_seconds();

// Why `component` (a model name or version) is unsafe to use as a name, or "" when it is safe.
// Allowed: letters, digits and . _ - + ; not starting with '.' or '-'; no "..".
std::string unsafe_name_reason(std::string_view component);
void check_safe_name(std::string_view component, const std::string& what);

// Orders "1.9" < "1.10" < "2.0-rc1" < "2.0.1": numeric runs compare as numbers.
int compare_versions(std::string_view a, std::string_view b);

struct RoleKeys {
  std::vector<std::string> keyids;
  uint64_t threshold = 1;
};

struct RootMeta {
  uint64_t version = 1;
  TimePoint expires{};
  std::map<std::string, PublicKey> keys;     // by key id
  std::map<std::string, RoleKeys> roles;     // every name of kRoleNames

  std::vector<PublicKey> keys_for(std::string_view role) const;
  const RoleKeys& role(std::string_view role) const;
  json to_json() const;
  static RootMeta from_json(const json& signed_part);
};

// A reference from one role to another's file: timestamp -> snapshot, snapshot -> targets.
struct MetaFileRef {
  uint64_t version = 0;
  uint64_t length = 0;
  std::string sha256;
};

struct TimestampMeta {
  uint64_t version = 1;
  TimePoint expires{};
  MetaFileRef snapshot;
  json to_json() const;
  static TimestampMeta from_json(const json& signed_part);
};

struct SnapshotMeta {
  uint64_t version = 1;
  TimePoint expires{};
  MetaFileRef targets;
  json to_json() const;
  static SnapshotMeta from_json(const json& signed_part);
};

struct ModelTarget {
  std::string name;
  std::string version;
  std::string sha256;              // of the whole GGUF file, also its blob address
  uint64_t size = 0;
  std::string gguf_type;           // the tensor type holding most bytes, e.g. "Q8_0"
  std::string architecture;        // general.architecture
  std::string min_bantam_version;  // devices running an older bantam skip this version
  uint64_t rollout = 100;          // percentage of devices offered this version
  std::string notes;               // release notes
  uint64_t chunk_size = 0;
  std::vector<std::string> chunks; // sha256 of each chunk_size piece (the last may be shorter)

  std::string label() const { return name + ":" + version; }
  json to_json() const;
  static ModelTarget from_json(const json& value, const std::string& where);
};

struct TargetsMeta {
  uint64_t version = 1;
  TimePoint expires{};
  std::vector<ModelTarget> models;

  const ModelTarget* find(std::string_view name, std::string_view version) const;
  json to_json() const;
  static TargetsMeta from_json(const json& signed_part);
};

// The tensor type holding most bytes of a model, e.g. "Q4_0": what the hub lists as its type.
std::string dominant_tensor_type(const gguf::File& file);

// Parses metadata text from the network or disk into JSON, naming `file` on failure.
json parse_metadata_text(std::string_view text, const std::string& file);

}  // namespace bantam::hub
