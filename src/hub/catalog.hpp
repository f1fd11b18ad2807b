// The store's SQLite catalog: which versions of which models are installed, which one is active,
// which one is kept for rollback, and the device's settings (its random id).
// Tables: settings, versions, models, and metrics (per-version measurements such as A/B
// baselines and monitoring, kept with the version and deleted with it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace bantam::hub {

struct InstalledVersion {
  int64_t id = 0;
  std::string name;
  std::string version;
  std::string sha256;
  uint64_t size = 0;
  std::string architecture;
  std::string gguf_type;
  std::string notes;
  std::string source;        // hub URL or hf:// address it came from
  int64_t installed_at = 0;  // unix seconds
};

struct InstalledModel {
  std::string name;
  InstalledVersion active;
  std::optional<InstalledVersion> previous;  // kept for `bantam rollback`
  std::string hub;                           // where `update` looks for new versions
  std::string rolled_back_from;              // version `update` skips after a rollback
};

class Catalog {
 public:
  // Opens (creating if needed) the database; safe when several processes do it at once.
  explicit Catalog(const std::filesystem::path& db_path);
  Catalog(Catalog&&) noexcept;
  Catalog& operator=(Catalog&&) noexcept;
  ~Catalog();

  std::string setting(const std::string& key) const;  // "" when absent
  // Sets the value only when the key is absent; returns the value now stored.
  std::string setting_or_insert(const std::string& key, const std::string& value);

  std::vector<InstalledModel> models() const;
  std::optional<InstalledModel> model(const std::string& name) const;
  std::vector<std::string> referenced_blobs() const;

  // Records `version` and makes it active; the active one becomes previous; older ones go.
  void activate(const InstalledVersion& version, const std::string& hub);
  // Swaps active and previous; remembers the version rolled back from.
  void rollback(const std::string& name);
  void remove(const std::string& name);

 private:
  void exec(const char* sql) const;
  InstalledVersion version_by_id(int64_t id) const;

  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace bantam::hub
