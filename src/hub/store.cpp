#include "hub/store.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bantam/error.hpp"
#include "format/gguf.hpp"
#include "format/json_input.hpp"
#include "format/input_file.hpp"
#include "hub/digest.hpp"

namespace bantam::hub {
namespace {

bool looks_like_path(const std::string& s) {
  return s.find('/') != std::string::npos || (s.size() > 5 && s.ends_with(".gguf"));
}

fs::file_time_type::duration age_of(const fs::path& path) {
  std::error_code ec;
  const auto mtime = fs::last_write_time(path, ec);
  if (ec) return {};
  return fs::file_time_type::clock::now() - mtime;
}

InstalledVersion pick_version(const InstalledModel& model, const std::string& version,
                              const fs::path& store_dir) {
  if (version.empty() || model.active.version == version) return model.active;
  if (model.previous && model.previous->version == version) return *model.previous;
  throw Error(fmt::format("{} version {} is not installed in {} (active: {})", model.name, version,
                          store_dir.string(), model.active.version));
}

}  // namespace

fs::path default_store_dir() {
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) return fs::path(xdg) / "bantam";
  const char* home = std::getenv("HOME");
  if (!home || !*home) throw Error("cannot find the model store: neither XDG_DATA_HOME nor HOME is set");
  return fs::path(home) / ".local" / "share" / "bantam";
}

Store Store::open(const fs::path& dir) {
  std::error_code ec;
  for (const auto& sub : {dir / "blobs" / "sha256", dir / "partial", dir / "hubs"}) {
    fs::create_directories(sub, ec);
    if (ec) throw Error(fmt::format("cannot create model store {}: {}", dir.string(), ec.message()));
  }
  // SQLite's switch to WAL mode fails at once, busy timeout or not, while another connection is
  // writing (say, creating the schema): processes opening the catalog take turns. Not under
  // STORE/lock, whose holders may open the store themselves.
  const FileLock lock(dir / "catalog.lock", FileLock::Mode::exclusive);
  Catalog catalog(dir / "catalog.db");
  // The id only decides staged-rollout cohorts; it is random so it identifies nothing.
  std::string id = catalog.setting_or_insert("device_id", random_hex(16));
  return Store(fs::absolute(dir), std::move(catalog), std::move(id));
}

fs::path Store::blob_path(const std::string& sha256) const {
  if (!is_sha256_hex(sha256)) throw Error(fmt::format("'{}' is not a SHA-256 blob address", sha256));
  return dir_ / "blobs" / "sha256" / sha256;
}

fs::path Store::partial_path(const std::string& sha256) const {
  if (!is_sha256_hex(sha256)) throw Error(fmt::format("'{}' is not a SHA-256 blob address", sha256));
  return dir_ / "partial" / (sha256 + ".part");
}

fs::path Store::hub_state_dir(const std::string& hub_url) const {
  const fs::path dir = dir_ / "hubs" / sha256_hex(hub_url).substr(0, 16);
  fs::create_directories(dir);
  return dir;
}

std::optional<std::string> Store::configured_hub() const { return setting("hub"); }

std::optional<std::string> Store::setting(const std::string& key) const {
  const fs::path path = dir_ / "config.json";
  if (!fs::exists(path)) return std::nullopt;
  const nlohmann::json config = read_json_file(path);
  if (!config.is_object() || !config.contains(key)) return std::nullopt;
  if (!config[key].is_string()) throw Error(fmt::format("{}: \"{}\" must be a string", path.string(), key));
  return config[key].get<std::string>();
}

void Store::save_setting(const std::string& key, const std::string& value) {
  const fs::path path = dir_ / "config.json";
  nlohmann::json config = fs::exists(path) ? read_json_file(path) : nlohmann::json::object();
  if (!config.is_object()) throw Error(fmt::format("{}: expected a JSON object of settings", path.string()));
  if (config.contains(key) && config[key] == value) return;
  config[key] = value;
  write_file_atomic(path, config.dump(2) + "\n");
}

FileLock Store::lock() const { return FileLock(dir_ / "lock", FileLock::Mode::exclusive); }

void Store::install(const fs::path& verified_file, const InstalledVersion& version, const std::string& hub) {
  const fs::path blob = blob_path(version.sha256);
  if (fs::exists(blob)) {
    if (verified_file != blob) fs::remove(verified_file);
  } else {
    std::error_code ec;
    fs::rename(verified_file, blob, ec);
    if (ec) throw Error(fmt::format("cannot move {} into the store: {}", verified_file.string(), ec.message()));
    ::chmod(blob.c_str(), 0444);  // blobs never change in place
    fsync_path(blob.parent_path());
  }
  catalog_.activate(version, hub);
}

void Store::remove(const std::string& name) { catalog_.remove(name); }

InstalledModel Store::rollback(const std::string& name) {
  const auto model = find(name);
  if (model && model->previous) {
    // Refuse to switch to a version whose file is gone or damaged.
    gguf::File::open(blob_path(model->previous->sha256).string());
  }
  catalog_.rollback(name);
  return *find(name);
}

GcReport Store::collect_garbage(std::chrono::seconds partial_max_age) {
  GcReport report;
  const auto referenced = catalog_.referenced_blobs();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_ / "blobs" / "sha256", ec)) {
    const std::string name = entry.path().filename().string();
    const bool is_blob = is_sha256_hex(name);
    if (is_blob && std::find(referenced.begin(), referenced.end(), name) != referenced.end()) continue;
    // Leftover temp files from an interrupted copy are collected once old enough.
    if (!is_blob && age_of(entry.path()) < partial_max_age) continue;
    const auto in_use = FileLock::try_lock(entry.path(), FileLock::Mode::exclusive);
    if (!in_use.held()) continue;
    if (fs::remove(entry.path(), ec)) report.removed_blobs.push_back(name);
  }
  for (const auto& entry : fs::directory_iterator(dir_ / "partial", ec)) {
    const std::string name = entry.path().filename().string();
    const std::string sha = name.substr(0, name.find('.'));
    const bool complete = is_sha256_hex(sha) && fs::exists(dir_ / "blobs" / "sha256" / sha);
    if (!complete && age_of(entry.path()) < partial_max_age) continue;
    const auto writer = FileLock::try_lock(entry.path(), FileLock::Mode::exclusive);
    if (!writer.held()) continue;
    if (fs::remove(entry.path(), ec)) report.removed_partials.push_back(name);
  }
  return report;
}

fs::path resolve_model(const std::string& name_or_path, const fs::path& store_dir) {
  if (looks_like_path(name_or_path)) {
    check_input_file(name_or_path);
    return name_or_path;
  }
  if (!fs::exists(store_dir / "catalog.db")) {
    throw Error(fmt::format("no model named {}: the store {} is empty (use `bantam pull`)", name_or_path,
                            store_dir.string()));
  }
  const auto colon = name_or_path.find(':');
  const std::string name = name_or_path.substr(0, colon);
  const std::string version = colon == std::string::npos ? "" : name_or_path.substr(colon + 1);
  const Store store = Store::open(store_dir);
  const auto model = store.find(name);
  if (!model) {
    throw Error(fmt::format("no model named {} in {} (`bantam list` shows what is installed)", name,
                            store_dir.string()));
  }
  const fs::path blob = store.blob_path(pick_version(*model, version, store_dir).sha256);
  if (!fs::is_regular_file(blob)) {
    throw Error(fmt::format("the file of {} is missing from {}; pull it again", name_or_path,
                            store_dir.string()));
  }
  return blob;
}

ModelLease lease_model(const std::string& name_or_path, const fs::path& store_dir) {
  fs::path path = resolve_model(name_or_path, store_dir);
  FileLock lock(path, FileLock::Mode::shared);
  // Garbage collection may have removed the file between the look-up and the lock.
  if (!fs::is_regular_file(path)) throw Error(fmt::format("{} was removed while opening it", name_or_path));
  return {std::move(path), std::move(lock)};
}

}  // namespace bantam::hub
