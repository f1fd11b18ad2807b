// A device's model store: a folder any bantam process may share.
//   STORE/catalog.db          SQLite catalog (see catalog.hpp)
//   STORE/blobs/sha256/<hex>  verified GGUF files, content-addressed
//   STORE/partial/<hex>.part  downloads in progress (resumable; flock'ed by their downloader)
//   STORE/hubs/<id>/          the metadata last verified from each hub (TUF trusted state)
//   STORE/config.json         settings, e.g. {"hub": "https://..."}; `pull` records the hub and the
//                             Hugging Face endpoint it was last given there
//   STORE/lock                flock taken by anything that changes the catalog or deletes files
//   STORE/catalog.lock        flock held while opening (maybe creating) the catalog
// Readers using a blob (a server) hold a shared flock on it; garbage collection skips such blobs.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "hub/catalog.hpp"
#include "hub/file_util.hpp"

namespace bantam::hub {

namespace fs = std::filesystem;

// $XDG_DATA_HOME/bantam, else ~/.local/share/bantam.
fs::path default_store_dir();

struct GcReport {
  std::vector<std::string> removed_blobs;
  std::vector<std::string> removed_partials;
};

class Store {
 public:
  // Opens the store at `dir`, creating it (and this device's random id) when needed.
  static Store open(const fs::path& dir);

  const fs::path& dir() const { return dir_; }
  const std::string& device_id() const { return device_id_; }
  fs::path blob_path(const std::string& sha256) const;
  fs::path partial_path(const std::string& sha256) const;
  fs::path hub_state_dir(const std::string& hub_url) const;
  // The "hub" of STORE/config.json, if set.
  std::optional<std::string> configured_hub() const;
  // A string setting of STORE/config.json, if set (an error if it is there but not a string).
  std::optional<std::string> setting(const std::string& key) const;
  // Sets one string setting, keeping the others; the file is replaced atomically.
  void save_setting(const std::string& key, const std::string& value);

  std::vector<InstalledModel> list() const { return catalog_.models(); }
  std::optional<InstalledModel> find(const std::string& name) const { return catalog_.model(name); }
  // Measurements and events (see catalog.hpp); writing them needs no store lock.
  Catalog& catalog() { return catalog_; }
  const Catalog& catalog() const { return catalog_; }

  // Exclusive lock for changes; hold it around install/remove/rollback/collect_garbage.
  FileLock lock() const;

  // Moves the verified file into blobs/ (unless that blob is already there) and makes `version`
  // active in one catalog transaction; the previously active version is kept for rollback.
  void install(const fs::path& verified_file, const InstalledVersion& version, const std::string& hub);
  void remove(const std::string& name);
  void remove_version(const std::string& name, const std::string& version) { catalog_.remove_version(name, version); }
  InstalledModel rollback(const std::string& name);
  // Deletes blobs no catalog row references (unless in use) and partial downloads nobody is
  // writing that are older than `partial_max_age` or whose blob is already complete.
  GcReport collect_garbage(std::chrono::seconds partial_max_age);

 private:
  Store(fs::path dir, Catalog catalog, std::string device_id)
      : dir_(std::move(dir)), catalog_(std::move(catalog)), device_id_(std::move(device_id)) {}

  fs::path dir_;
  Catalog catalog_;
  std::string device_id_;
};

// Partial downloads older than this are abandoned and collected.
inline constexpr std::chrono::seconds kPartialMaxAge{7 * 24 * 3600};

// `-m NAME[:VERSION]` or `-m path/to/file.gguf` -> the file to load. A path (it contains '/' or
// ends in .gguf, and exists) is returned as is; a name is looked up in the store at `store_dir`
// and its active (or named) version's blob returned. Throws Error when there is no such model.
fs::path resolve_model(const std::string& name_or_path, const fs::path& store_dir = default_store_dir());

// A model file held open with a shared lock, so garbage collection never deletes it in use.
struct ModelLease {
  fs::path path;
  FileLock lock;
};
ModelLease lease_model(const std::string& name_or_path, const fs::path& store_dir = default_store_dir());

}  // namespace bantam::hub
