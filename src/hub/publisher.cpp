#include "hub/publisher.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "format/gguf.hpp"
#include "format/json_input.hpp"
#include "hub/digest.hpp"
#include "hub/file_util.hpp"
#include "hub/verify.hpp"

namespace bantam::hub {
namespace {

fs::path staging_dir(const fs::path& hub) { return hub / "staging"; }

void write_json(const fs::path& path, const json& doc) { write_file_atomic(path, doc.dump(2) + "\n"); }

std::vector<SigningKey> load_keys(const fs::path& key_dir) {
  std::vector<SigningKey> keys;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(key_dir, ec)) {
    if (entry.path().extension() == ".key") keys.push_back(SigningKey::load(entry.path()));
  }
  if (ec) throw Error(fmt::format("cannot read key folder {}: {}", key_dir.string(), ec.message()));
  return keys;
}

std::vector<SigningKey> keys_listed(const std::vector<SigningKey>& keys,
                                    const std::vector<std::string>& ids) {
  std::vector<SigningKey> out;
  for (const auto& key : keys) {
    if (std::find(ids.begin(), ids.end(), key.public_key.id) != ids.end()) out.push_back(key);
  }
  return out;
}

json sign_role(const json& signed_part, const std::string& role, const RootMeta& root,
               const std::vector<SigningKey>& keys, const fs::path& key_dir) {
  const RoleKeys& role_keys = root.role(role);
  const auto usable = keys_listed(keys, role_keys.keyids);
  if (usable.size() < role_keys.threshold) {
    throw Error(fmt::format("{} holds {} of the {} {} key(s) needed to sign {}.json", key_dir.string(),
                            usable.size(), role_keys.threshold, role, role));
  }
  return sign_envelope(signed_part, usable);
}

TimePoint expiry_for(const std::string& role, const SignOptions& options) {
  const auto it = options.expires_in.find(role);
  return now_seconds() + (it != options.expires_in.end() ? it->second : default_expiry(role));
}

RootMeta current_root(const fs::path& hub) {
  return RootMeta::from_json(read_json_file(hub / "root.json").at("signed"));
}

std::vector<ModelTarget> read_staged_models(const fs::path& hub) {
  const json list = read_json_file(staging_dir(hub) / "targets.json");
  if (!list.is_array()) throw Error("staging/targets.json: expected an array of models");
  std::vector<ModelTarget> models;
  for (size_t i = 0; i < list.size(); ++i) {
    models.push_back(ModelTarget::from_json(list[i], fmt::format("staging/targets.json[{}]", i)));
  }
  return models;
}

void write_staged_models(const fs::path& hub, const std::vector<ModelTarget>& models) {
  json list = json::array();
  for (const auto& m : models) list.push_back(m.to_json());
  write_json(staging_dir(hub) / "targets.json", list);
}

PublicKey read_public_key(const fs::path& path) {
  const json doc = read_json_file(path);
  if (!doc.is_object() || !doc.contains("public") || !doc["public"].is_string()) {
    throw Error(fmt::format("key file {}: no \"public\" field", path.string()));
  }
  return PublicKey::from_json(json{{"keytype", "ed25519"},
                                   {"scheme", "ed25519"},
                                   {"keyval", {{"public", doc["public"]}}}},
                              "key file " + path.string());
}

// Root, if staged or forced: version N+1 signed by the old root keys and the new ones.
bool sign_root(const fs::path& hub, const fs::path& key_dir, const std::vector<SigningKey>& keys,
               const SignOptions& options, RootMeta& root, std::vector<std::string>& written) {
  const fs::path staged = staging_dir(hub) / "root.json";
  const bool is_staged = fs::exists(staged);
  if (!is_staged && !options.expires_in.contains("root")) return false;
  RootMeta next = is_staged ? RootMeta::from_json(read_json_file(staged)) : root;
  next.version = root.version + 1;
  next.expires = expiry_for("root", options);
  std::vector<std::string> signer_ids = root.role("root").keyids;
  for (const auto& id : next.role("root").keyids) signer_ids.push_back(id);
  const json doc = sign_envelope(next.to_json(), keys_listed(keys, signer_ids));
  try {
    verify_next_root(root, doc, fmt::format("{}.root.json", next.version));
  } catch (const Error& e) {
    throw Error(fmt::format("cannot sign root version {} with the keys in {}: {}", next.version,
                            key_dir.string(), e.what()));
  }
  const std::string name = fmt::format("{}.root.json", next.version);
  write_json(hub / name, doc);
  write_json(hub / "root.json", doc);
  fs::remove(staged);
  written.push_back(name);
  root = next;
  return true;
}

}  // namespace

std::chrono::seconds default_expiry(const std::string& role) {
  using std::chrono::hours;
  if (role == "root") return hours(24 * 365);
  if (role == "targets") return hours(24 * 90);
  if (role == "snapshot") return hours(24 * 30);
  return hours(24 * 7);
}

void init_hub(const fs::path& hub_dir, const fs::path& key_dir, const InitOptions& options) {
  if (fs::exists(hub_dir) && !fs::is_empty(hub_dir)) {
    throw Error(fmt::format("{} already exists and is not empty", hub_dir.string()));
  }
  for (const auto& [role, n] : options.thresholds) {
    if (!is_role_name(role)) throw Error(fmt::format("unknown role '{}' (root, targets, snapshot, timestamp)", role));
    if (n < 1 || n > 16) throw Error(fmt::format("threshold {} for {} is outside 1..16", n, role));
  }
  fs::create_directories(hub_dir / "blobs" / "sha256");
  fs::create_directories(staging_dir(hub_dir));
  fs::create_directories(key_dir);
  ::chmod(key_dir.c_str(), 0700);

  RootMeta root;
  root.version = 1;
  root.expires = now_seconds() + default_expiry("root");
  std::vector<SigningKey> root_keys;
  for (const auto role_sv : kRoleNames) {
    const std::string role(role_sv);
    const auto it = options.thresholds.find(role);
    const uint64_t n = it == options.thresholds.end() ? 1 : it->second;
    RoleKeys& role_keys = root.roles[role];
    role_keys.threshold = n;
    for (uint64_t i = 1; i <= n; ++i) {
      const fs::path file = key_dir / (i == 1 ? role + ".key" : fmt::format("{}-{}.key", role, i));
      const SigningKey key = generate_key_file(role, file);
      root.keys.emplace(key.public_key.id, key.public_key);
      role_keys.keyids.push_back(key.public_key.id);
      if (role == "root") root_keys.push_back(key);
    }
  }
  const json doc = sign_envelope(root.to_json(), root_keys);
  write_json(hub_dir / "1.root.json", doc);
  write_json(hub_dir / "root.json", doc);
  write_staged_models(hub_dir, {});
  sign_hub(hub_dir, key_dir);
}

ModelTarget add_model(const fs::path& hub_dir, const fs::path& gguf_path, const AddOptions& options) {
  check_safe_name(options.name, "model name");
  check_safe_name(options.version, "version");
  if (!options.min_bantam_version.empty()) check_safe_name(options.min_bantam_version, "minimum bantam version");
  if (options.rollout > 100) throw Error(fmt::format("rollout {} is over 100%", options.rollout));
  if (!fs::exists(hub_dir / "root.json")) {
    throw Error(fmt::format("{} is not a hub (no root.json; run `bantam hub init` first)", hub_dir.string()));
  }
  const gguf::File file = gguf::File::open(gguf_path.string());

  ModelTarget target;
  target.name = options.name;
  target.version = options.version;
  target.size = file.file_size();
  target.gguf_type = dominant_tensor_type(file);
  target.architecture = file.architecture();
  target.min_bantam_version = options.min_bantam_version;
  target.rollout = options.rollout;
  target.notes = options.notes;
  target.chunk_size = options.chunk_size;
  target.sha256 = sha256_file(gguf_path);
  for (uint64_t offset = 0; offset < target.size; offset += target.chunk_size) {
    target.chunks.push_back(
        sha256_file_range(gguf_path, offset, std::min(target.chunk_size, target.size - offset)));
  }
  // Round-trips through the parser so the publisher never stages what devices would refuse.
  target = ModelTarget::from_json(target.to_json(), "new target");

  auto models = read_staged_models(hub_dir);
  const auto same = std::find_if(models.begin(), models.end(), [&](const ModelTarget& m) {
    return m.name == target.name && m.version == target.version;
  });
  if (same != models.end() && same->sha256 != target.sha256) {
    throw Error(fmt::format("{} is already published with another file; publish a new version",
                            target.label()));
  }
  const fs::path blob = hub_dir / "blobs" / "sha256" / target.sha256;
  if (!fs::exists(blob)) copy_file_atomic(gguf_path, blob);
  if (same != models.end()) {
    *same = target;
  } else {
    models.push_back(target);
  }
  write_staged_models(hub_dir, models);
  return target;
}

std::vector<std::string> sign_hub(const fs::path& hub_dir, const fs::path& key_dir,
                                  const SignOptions& options) {
  for (const auto& [role, _] : options.expires_in) {
    if (!is_role_name(role)) throw Error(fmt::format("unknown role '{}' (root, targets, snapshot, timestamp)", role));
  }
  const auto keys = load_keys(key_dir);
  RootMeta root = current_root(hub_dir);
  std::vector<std::string> written;
  const bool root_changed = sign_root(hub_dir, key_dir, keys, options, root, written);

  // Targets: re-signed when the staged list differs, or the root (maybe its keys) changed.
  const auto staged = read_staged_models(hub_dir);
  std::optional<TargetsMeta> current_targets;
  if (fs::exists(hub_dir / "targets.json")) {
    current_targets = TargetsMeta::from_json(read_json_file(hub_dir / "targets.json").at("signed"));
  }
  auto models_json = [](const std::vector<ModelTarget>& models) {
    json list = json::array();
    for (const auto& m : models) list.push_back(m.to_json());
    return list;
  };
  const bool targets_changed = root_changed || !current_targets ||
                               options.expires_in.contains("targets") ||
                               models_json(staged) != models_json(current_targets->models);
  if (targets_changed) {
    TargetsMeta next;
    next.version = current_targets ? current_targets->version + 1 : 1;
    next.expires = expiry_for("targets", options);
    next.models = staged;
    const json doc = sign_role(next.to_json(), "targets", root, keys, key_dir);
    const std::string name = fmt::format("{}.targets.json", next.version);
    write_json(hub_dir / name, doc);
    write_json(hub_dir / "targets.json", doc);
    written.push_back(name);
  }

  // Snapshot: pins the exact targets.json bytes.
  const std::string targets_text = read_text_file(hub_dir / "targets.json");
  const TargetsMeta signed_targets = TargetsMeta::from_json(parse_json(targets_text, "targets.json").at("signed"));
  std::optional<SnapshotMeta> current_snapshot;
  if (fs::exists(hub_dir / "snapshot.json")) {
    current_snapshot = SnapshotMeta::from_json(read_json_file(hub_dir / "snapshot.json").at("signed"));
  }
  if (targets_changed || root_changed || !current_snapshot || options.expires_in.contains("snapshot")) {
    SnapshotMeta next;
    next.version = current_snapshot ? current_snapshot->version + 1 : 1;
    next.expires = expiry_for("snapshot", options);
    next.targets = {signed_targets.version, targets_text.size(), sha256_hex(targets_text)};
    const json doc = sign_role(next.to_json(), "snapshot", root, keys, key_dir);
    const std::string name = fmt::format("{}.snapshot.json", next.version);
    write_json(hub_dir / name, doc);
    write_json(hub_dir / "snapshot.json", doc);
    written.push_back(name);
  }

  // Timestamp: always fresh, written last because devices read it first.
  const std::string snapshot_text = read_text_file(hub_dir / "snapshot.json");
  const SnapshotMeta signed_snapshot = SnapshotMeta::from_json(parse_json(snapshot_text, "snapshot.json").at("signed"));
  TimestampMeta timestamp;
  if (fs::exists(hub_dir / "timestamp.json")) {
    timestamp.version =
        TimestampMeta::from_json(read_json_file(hub_dir / "timestamp.json").at("signed")).version + 1;
  }
  timestamp.expires = expiry_for("timestamp", options);
  timestamp.snapshot = {signed_snapshot.version, snapshot_text.size(), sha256_hex(snapshot_text)};
  write_json(hub_dir / "timestamp.json", sign_role(timestamp.to_json(), "timestamp", root, keys, key_dir));
  written.push_back("timestamp.json");
  return written;
}

RootMeta stage_root_change(const fs::path& hub_dir, const RootChange& change) {
  if (!is_role_name(change.role)) {
    throw Error(fmt::format("unknown role '{}' (root, targets, snapshot, timestamp)", change.role));
  }
  const fs::path staged = staging_dir(hub_dir) / "root.json";
  RootMeta next = fs::exists(staged) ? RootMeta::from_json(read_json_file(staged)) : current_root(hub_dir);
  RoleKeys& role = next.roles[change.role];
  for (const auto& file : change.add_key_files) {
    const PublicKey key = read_public_key(file);
    next.keys.emplace(key.id, key);
    if (std::find(role.keyids.begin(), role.keyids.end(), key.id) == role.keyids.end()) {
      role.keyids.push_back(key.id);
    }
  }
  for (const auto& id : change.remove_keyids) {
    const auto it = std::find(role.keyids.begin(), role.keyids.end(), id);
    if (it == role.keyids.end()) throw Error(fmt::format("key {} is not a {} key", id, change.role));
    role.keyids.erase(it);
  }
  if (change.threshold) role.threshold = *change.threshold;
  // Drop keys no role uses any more, so a removed key stops being trusted entirely.
  std::set<std::string> used;
  for (const auto& [_, r] : next.roles) used.insert(r.keyids.begin(), r.keyids.end());
  std::erase_if(next.keys, [&](const auto& kv) { return !used.contains(kv.first); });
  next = RootMeta::from_json(next.to_json());  // validates thresholds against key counts
  write_json(staged, next.to_json());
  return next;
}

SigningKey generate_key_file(const std::string& role, const fs::path& out) {
  if (!is_role_name(role)) throw Error(fmt::format("unknown role '{}' (root, targets, snapshot, timestamp)", role));
  SigningKey key = SigningKey::generate(role);
  key.save(out);
  return key;
}

}  // namespace bantam::hub
