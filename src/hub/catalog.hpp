// The store's SQLite catalog: which versions of which models are installed, which one is active,
// which one is kept for rollback, and the device's settings (its random id).
// Tables: settings, versions, models, runs and metrics (per-version measurements: A/B gate
// baselines, canary runs and serving windows, kept with the version and deleted with it), and
// events (why the device changed a model's active version on its own, e.g. an automatic rollback).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
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

// Names of the figures a run records (MetricRun::values).
namespace figure {
inline constexpr const char* kQuality = "quality";  // in the run's quality_metric
inline constexpr const char* kTtftP50 = "ttft_ms_p50";
inline constexpr const char* kTtftP95 = "ttft_ms_p95";
inline constexpr const char* kLatencyP95 = "latency_ms_p95";  // whole request/answer
inline constexpr const char* kTokensPerSecond = "tokens_per_s";
inline constexpr const char* kRequests = "requests";
inline constexpr const char* kErrors = "errors";
}  // namespace figure

// One measurement of one version: an A/B gate evaluation, a canary run or a serving window.
struct MetricRun {
  int64_t id = 0;
  std::string kind;            // "gate", "canary" or "serve"
  std::string tasks_sha256;    // the task set measured ("" for serving windows)
  std::string quality_metric;  // "perplexity", "exact", "rouge-l", "bleu", "chrf"; "" when none
  int64_t recorded_at = 0;     // unix seconds
  std::map<std::string, double> values;

  std::optional<double> value(const std::string& key) const {
    const auto it = values.find(key);
    return it == values.end() ? std::nullopt : std::optional<double>(it->second);
  }
};

struct CatalogEvent {
  int64_t recorded_at = 0;
  std::string model;
  std::string message;
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
  // Removes one version: the previous one is forgotten; when the active one goes, the previous
  // becomes active (or, without one, the model goes). Error naming the installed versions when
  // `version` is not one of them.
  void remove_version(const std::string& name, const std::string& version);

  // Stores `run` for the version with row id `version_id` (recorded_at 0: now); returns its id.
  int64_t record_run(int64_t version_id, const MetricRun& run);
  // The runs of one kind recorded for a version, oldest first.
  std::vector<MetricRun> runs(int64_t version_id, const std::string& kind) const;
  // The version row of NAME:VERSION, if installed.
  std::optional<InstalledVersion> find_version(const std::string& name, const std::string& version) const;

  void log_event(const std::string& model, const std::string& message);
  std::vector<CatalogEvent> events(const std::string& model) const;  // oldest first

 private:
  void migrate();
  void exec(const char* sql) const;
  InstalledVersion version_by_id(int64_t id) const;

  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace bantam::hub
