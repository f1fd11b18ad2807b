#include "hub/client.hpp"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "format/gguf.hpp"
#include "hub/digest.hpp"
#include "hub/file_util.hpp"
#include "hub/verify.hpp"

#ifndef BANTAM_VERSION
#define BANTAM_VERSION "0.0.0"
#endif

namespace bantam::hub {
namespace {

constexpr uint64_t kMaxRootBytes = 1 << 20;
constexpr uint64_t kMaxTimestampBytes = 64 << 10;
constexpr uint64_t kMaxRootVersionsPerRefresh = 1024;

std::string fetch_metadata(const std::string& url, uint64_t max_bytes, const FetchOptions& options) {
  const HttpResponse r = http_get(url, max_bytes, options);
  if (r.status != 200) throw Error(fmt::format("{}: HTTP status {}", url, r.status));
  return r.body;
}

template <class Meta>
std::optional<Meta> load_trusted(const fs::path& path) {
  if (!fs::exists(path)) return std::nullopt;
  return Meta::from_json(parse_metadata_text(read_text_file(path), path.string()).at("signed"));
}

bool same_keys(const RootMeta& a, const RootMeta& b, const char* role) {
  return a.role(role).keyids == b.role(role).keyids && a.role(role).threshold == b.role(role).threshold;
}

RootMeta update_root(const fs::path& state, const std::string& hub_url, const ClientOptions& options) {
  const fs::path trusted_path = state / "root.json";
  RootMeta root;
  if (fs::exists(trusted_path)) {
    root = load_initial_root(parse_metadata_text(read_text_file(trusted_path), trusted_path.string()),
                             trusted_path.string());
  } else if (options.trusted_root_file) {
    const std::string text = read_text_file(*options.trusted_root_file);
    root = load_initial_root(parse_metadata_text(text, options.trusted_root_file->string()),
                             options.trusted_root_file->string());
    write_file_atomic(trusted_path, text);
  } else {
    throw Error(fmt::format("this store trusts no root for hub {} yet; pass --trust ROOT.json (the hub's "
                            "root.json, obtained safely) the first time",
                            hub_url));
  }
  const RootMeta before = root;
  for (uint64_t i = 0; i < kMaxRootVersionsPerRefresh; ++i) {
    const std::string name = fmt::format("{}.root.json", root.version + 1);
    const HttpResponse r = http_get(hub_url + "/" + name, kMaxRootBytes, options.fetch);
    if (r.status == 404) break;
    if (r.status != 200) throw Error(fmt::format("{}/{}: HTTP status {}", hub_url, name, r.status));
    root = verify_next_root(root, parse_metadata_text(r.body, name), name);
    write_file_atomic(trusted_path, r.body);
  }
  check_not_expired(root.expires, now_seconds(), "root.json");
  // After a rotation of these keys, old trusted versions may come from a compromised key: forget
  // them so the new keys can start over (TUF's fast-forward recovery).
  if (!same_keys(before, root, "timestamp") || !same_keys(before, root, "snapshot")) {
    fs::remove(state / "timestamp.json");
    fs::remove(state / "snapshot.json");
  }
  return root;
}

bool needs_newer_bantam(const ModelTarget& t) {
  return !t.min_bantam_version.empty() && compare_versions(BANTAM_VERSION, t.min_bantam_version) < 0;
}

std::vector<const ModelTarget*> versions_newest_first(const TargetsMeta& targets, const std::string& name) {
  std::vector<const ModelTarget*> out;
  for (const auto& m : targets.models) {
    if (m.name == name) out.push_back(&m);
  }
  std::sort(out.begin(), out.end(), [](const ModelTarget* a, const ModelTarget* b) {
    return compare_versions(a->version, b->version) > 0;
  });
  return out;
}

std::string too_old_notice(const ModelTarget& t) {
  return fmt::format("version {} of {} needs bantam {} or newer (this is {})", t.version, t.name,
                     t.min_bantam_version, BANTAM_VERSION);
}

std::string cohort_notice(const ModelTarget& t) {
  return fmt::format("version {} of {} is rolling out to {}% of devices; this device is not among them yet",
                     t.version, t.name, t.rollout);
}

bool same_file(int fd, const fs::path& path) {
  struct stat by_fd {}, by_path {};
  return ::fstat(fd, &by_fd) == 0 && ::stat(path.c_str(), &by_path) == 0 && by_fd.st_ino == by_path.st_ino &&
         by_fd.st_dev == by_path.st_dev;
}

void check_free_space(const Store& store, const BlobSpec& target, const fs::path& partial) {
  struct statvfs fs_info {};
  if (::statvfs(store.dir().c_str(), &fs_info) != 0) return;
  std::error_code ec;
  const uint64_t have = fs::exists(partial) ? fs::file_size(partial, ec) : 0;
  const uint64_t needed = target.size > have ? target.size - have : 0;
  const uint64_t available = static_cast<uint64_t>(fs_info.f_bavail) * fs_info.f_frsize;
  if (needed > available) {
    throw Error(fmt::format("not enough free space in {} for {}: {} bytes needed, {} free",
                            store.dir().string(), target.label, needed, available));
  }
}

BlobSpec target_blob(const std::string& hub_url, const ModelTarget& target) {
  return {hub_url + "/blobs/sha256/" + target.sha256, target.label(), target.sha256,
          target.size, target.chunk_size, target.chunks};
}

InstalledVersion target_record(const std::string& hub_url, const ModelTarget& target) {
  InstalledVersion record;
  record.name = target.name;
  record.version = target.version;
  record.sha256 = target.sha256;
  record.size = target.size;
  record.architecture = target.architecture;
  record.gguf_type = target.gguf_type;
  record.notes = target.notes;
  record.source = hub_url;
  return record;
}

void install_target(Store& store, const std::string& hub_url, const ModelTarget& target,
                    const ClientOptions& options) {
  install_blob(store, target_blob(hub_url, target), target_record(hub_url, target), hub_url, options.fetch);
}

}  // namespace

std::string normalize_hub_url(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (!url.starts_with("http://") && !url.starts_with("https://")) {
    throw Error(fmt::format("hub URL '{}' must start with http:// or https://", url));
  }
  return url;
}

bool in_rollout_cohort(const std::string& device_id, const std::string& model, uint64_t rollout) {
  const auto digest = from_hex(sha256_hex(device_id + "/" + model).substr(0, 16), "cohort hash");
  uint64_t bucket = 0;
  for (const uint8_t b : digest) bucket = bucket << 8 | b;
  return bucket % 100 < rollout;
}

TargetsMeta refresh_metadata(Store& store, const std::string& hub_url_in, const ClientOptions& options) {
  const std::string hub_url = normalize_hub_url(hub_url_in);
  const fs::path state = store.hub_state_dir(hub_url);
  // One refresh at a time per store, so trusted versions only move forward.
  const FileLock lock(state / "lock", FileLock::Mode::exclusive);
  const RootMeta root = update_root(state, hub_url, options);
  const auto now = now_seconds();

  const std::string timestamp_text =
      fetch_metadata(hub_url + "/timestamp.json", kMaxTimestampBytes, options.fetch);
  const TimestampMeta timestamp =
      verify_timestamp(root, parse_metadata_text(timestamp_text, "timestamp.json"),
                       load_trusted<TimestampMeta>(state / "timestamp.json"), now);
  write_file_atomic(state / "timestamp.json", timestamp_text);

  const std::string snapshot_text =
      fetch_metadata(fmt::format("{}/{}.snapshot.json", hub_url, timestamp.snapshot.version),
                     timestamp.snapshot.length, options.fetch);
  const SnapshotMeta snapshot =
      verify_snapshot(root, snapshot_text, timestamp, load_trusted<SnapshotMeta>(state / "snapshot.json"), now);
  write_file_atomic(state / "snapshot.json", snapshot_text);

  const std::string targets_text =
      fetch_metadata(fmt::format("{}/{}.targets.json", hub_url, snapshot.targets.version),
                     snapshot.targets.length, options.fetch);
  TargetsMeta targets =
      verify_targets(root, targets_text, snapshot, load_trusted<TargetsMeta>(state / "targets.json"), now);
  write_file_atomic(state / "targets.json", targets_text);
  return targets;
}

PullResult pull_from_hub(Store& store, const std::string& hub_url_in, const std::string& name,
                         const std::string& version, const ClientOptions& options) {
  const std::string hub_url = normalize_hub_url(hub_url_in);
  check_safe_name(name, "model name");
  if (!version.empty()) check_safe_name(version, "version");
  const TargetsMeta targets = refresh_metadata(store, hub_url, options);
  const auto versions = versions_newest_first(targets, name);
  if (versions.empty()) {
    std::string names;
    for (const auto& m : targets.models) {
      if (names.find(m.name) == std::string::npos) names += (names.empty() ? "" : ", ") + m.name;
    }
    throw Error(fmt::format("hub {} has no model named {} (it has: {})", hub_url, name,
                            names.empty() ? "none" : names));
  }
  const ModelTarget* chosen = nullptr;
  std::vector<std::string> notices;
  for (const ModelTarget* t : versions) {
    if (!version.empty() && t->version != version) continue;
    if (needs_newer_bantam(*t)) {
      notices.push_back(too_old_notice(*t));
    } else if (version.empty() && !in_rollout_cohort(store.device_id(), name, t->rollout)) {
      notices.push_back(cohort_notice(*t));
    } else {
      chosen = t;
      break;
    }
  }
  if (!chosen) {
    if (!version.empty() && notices.empty()) {
      throw Error(fmt::format("hub {} has no version {} of {} (newest: {})", hub_url, version, name,
                              versions.front()->version));
    }
    std::string why;
    for (const auto& n : notices) why += (why.empty() ? "" : "; ") + n;
    throw Error(fmt::format("no version of {} on {} can be installed here: {}", name, hub_url, why));
  }
  const auto installed = store.find(name);
  if (installed && installed->active.version == chosen->version &&
      installed->active.sha256 == chosen->sha256 && fs::exists(store.blob_path(chosen->sha256))) {
    return {*chosen, true};
  }
  install_target(store, hub_url, *chosen, options);
  return {*chosen, false};
}

UpdateCheck check_update(const Store& store, const InstalledModel& model, const TargetsMeta& targets) {
  UpdateCheck check;
  check.name = model.name;
  check.current_version = model.active.version;
  for (const ModelTarget* t : versions_newest_first(targets, model.name)) {
    if (compare_versions(t->version, model.active.version) <= 0) break;
    if (t->version == model.rolled_back_from) {
      check.notices.push_back(fmt::format("version {} of {} was rolled back on this device; `bantam pull "
                                          "{}:{}` installs it anyway",
                                          t->version, t->name, t->name, t->version));
    } else if (needs_newer_bantam(*t)) {
      check.notices.push_back(too_old_notice(*t));
    } else if (!in_rollout_cohort(store.device_id(), t->name, t->rollout)) {
      check.notices.push_back(cohort_notice(*t));
    } else {
      check.offer = *t;
      break;
    }
  }
  return check;
}

StagedModel stage_blob(Store& store, const BlobSpec& spec, InstalledVersion record, const std::string& update_hub,
                       const FetchOptions& options) {
  const fs::path blob = store.blob_path(spec.sha256);
  const fs::path partial = store.partial_path(spec.sha256);
  if (fs::exists(blob) && sha256_file(blob) != spec.sha256) {
    const auto lock = store.lock();
    fs::remove(blob);  // damaged on disk: fetch it again
  }
  // Held until the file is installed, so a concurrent pull of the same file waits for us and then
  // finds the blob instead of a half-moved partial.
  std::optional<FileLock> partial_lock;
  for (;;) {
    partial_lock.emplace(partial, FileLock::Mode::exclusive);
    if (fs::exists(blob)) {
      fs::remove(partial);  // whatever is there duplicates a complete blob
      break;
    }
    if (same_file(partial_lock->fd(), partial)) break;
    // Another process moved the file we waited on into blobs/: look again.
  }
  fs::path file = blob;
  if (!fs::exists(blob)) {
    check_free_space(store, spec, partial);
    download_blob(spec, partial, options);
    file = partial;
  }
  try {
    const gguf::File model = gguf::File::open(file.string());
    if (!record.architecture.empty() && model.architecture() != record.architecture) {
      throw Error(fmt::format("architecture is '{}', the hub says '{}'", model.architecture(), record.architecture));
    }
    record.architecture = model.architecture();
    if (record.gguf_type.empty()) record.gguf_type = dominant_tensor_type(model);
  } catch (const Error& e) {
    if (file != blob) fs::remove(file);
    throw Error(fmt::format("{}: the verified file is not a usable model: {}", spec.label, e.what()));
  }
  return {file, std::move(record), update_hub, std::move(partial_lock)};
}

StagedModel stage_update(Store& store, const std::string& hub_url_in, const ModelTarget& offer,
                         const ClientOptions& options) {
  const std::string hub_url = normalize_hub_url(hub_url_in);
  return stage_blob(store, target_blob(hub_url, offer), target_record(hub_url, offer), hub_url, options.fetch);
}

InstalledVersion activate_staged(Store& store, StagedModel staged) {
  const auto lock = store.lock();
  store.install(staged.file, staged.record, staged.update_hub);
  store.collect_garbage(kPartialMaxAge);
  return staged.record;
}

void discard_staged(const Store& store, StagedModel staged) {
  if (staged.file != store.blob_path(staged.record.sha256)) fs::remove(staged.file);
}

InstalledVersion install_blob(Store& store, const BlobSpec& spec, InstalledVersion record,
                              const std::string& update_hub, const FetchOptions& options) {
  return activate_staged(store, stage_blob(store, spec, std::move(record), update_hub, options));
}

void apply_update(Store& store, const std::string& hub_url, const ModelTarget& offer,
                  const ClientOptions& options) {
  install_target(store, normalize_hub_url(hub_url), offer, options);
}

}  // namespace bantam::hub
