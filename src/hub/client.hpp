// The device's side of a hub: refresh the signed metadata (TUF client workflow), choose what to
// install (versions, staged rollout, minimum bantam version), download, verify and activate.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "hub/fetch.hpp"
#include "hub/metadata.hpp"
#include "hub/store.hpp"

namespace bantam::hub {

struct ClientOptions {
  FetchOptions fetch;
  // The root.json to trust the first time this store talks to a hub; later runs trust what
  // they verified before (following key rotations), so the file is not needed again.
  std::optional<std::filesystem::path> trusted_root_file;
};

// Whether this device is among the `rollout` percent offered a version of `model`. Fixed per
// (device, model), so widening a rollout only adds devices.
bool in_rollout_cohort(const std::string& device_id, const std::string& model, uint64_t rollout);

// Fetches and verifies root (walking N.root.json), timestamp, snapshot and targets; saves each
// verified file as the store's trusted state for `hub_url`; returns the verified targets.
TargetsMeta refresh_metadata(Store& store, const std::string& hub_url, const ClientOptions& options);

struct PullResult {
  ModelTarget target;
  bool already_active = false;
};
// `version` empty: the newest version this device may take (rollout, minimum bantam version).
PullResult pull_from_hub(Store& store, const std::string& hub_url, const std::string& name,
                         const std::string& version, const ClientOptions& options);

struct UpdateCheck {
  std::string name;
  std::string current_version;
  std::optional<ModelTarget> offer;   // the version `update` would install
  std::vector<std::string> notices;   // versions skipped, and why
};
// What `update` would do for an installed model, given freshly verified targets.
UpdateCheck check_update(const Store& store, const InstalledModel& model, const TargetsMeta& targets);

// Installs `check.offer`, which must come from targets verified for `hub_url`.
void apply_update(Store& store, const std::string& hub_url, const ModelTarget& offer,
                  const ClientOptions& options);

// A downloaded, verified model file not active yet: `file` is its blob when the store already
// had it, else its download in STORE/partial/, which `lock` keeps from other pulls until the
// file is activated or discarded.
struct StagedModel {
  fs::path file;
  InstalledVersion record;
  std::string update_hub;
  std::optional<FileLock> lock;
};

// Downloads (or reuses) the file `spec` describes and checks it is a valid GGUF (of
// record.architecture when set); `update_hub` is where `update` looks once it is active.
StagedModel stage_blob(Store& store, const BlobSpec& spec, InstalledVersion record, const std::string& update_hub,
                       const FetchOptions& options);
// stage_blob for a version offered by `check_update`, from targets verified for `hub_url`.
StagedModel stage_update(Store& store, const std::string& hub_url, const ModelTarget& offer,
                         const ClientOptions& options);
// Makes the staged file the active version of its model (the active one is kept for rollback).
InstalledVersion activate_staged(Store& store, StagedModel staged);
// Forgets the staged file: its download is deleted unless the store already holds it as a blob.
void discard_staged(const Store& store, StagedModel staged);

// stage_blob, then activate_staged. Returns the record as installed.
InstalledVersion install_blob(Store& store, const BlobSpec& spec, InstalledVersion record,
                              const std::string& update_hub, const FetchOptions& options);

// The hub URL without trailing slashes.
std::string normalize_hub_url(std::string url);

}  // namespace bantam::hub
