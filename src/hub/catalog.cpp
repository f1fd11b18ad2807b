#include "hub/catalog.hpp"

#include <sqlite3.h>

#include <chrono>
#include <iterator>
#include <utility>

#include <fmt/format.h>

#include "bantam/error.hpp"

namespace bantam::hub {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS versions (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  size INTEGER NOT NULL,
  architecture TEXT NOT NULL,
  gguf_type TEXT NOT NULL,
  notes TEXT NOT NULL,
  source TEXT NOT NULL,
  installed_at INTEGER NOT NULL,
  UNIQUE (name, version)
);
CREATE TABLE IF NOT EXISTS models (
  name TEXT PRIMARY KEY,
  active_id INTEGER NOT NULL REFERENCES versions(id),
  previous_id INTEGER REFERENCES versions(id),
  hub TEXT NOT NULL,
  rolled_back_from TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS metrics (
  version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
  metric TEXT NOT NULL,
  value REAL NOT NULL,
  recorded_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_by_version ON metrics (version_id, metric);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY,
  version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  tasks_sha256 TEXT NOT NULL,
  quality_metric TEXT NOT NULL,
  recorded_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_version ON runs (version_id, kind);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY,
  model TEXT NOT NULL,
  message TEXT NOT NULL,
  recorded_at INTEGER NOT NULL
);
)sql";

// Schema changes after the first release, applied in order; PRAGMA user_version counts them.
constexpr const char* kMigrations[] = {
    // 1: metrics rows belong to a run (one gate evaluation, canary run or serving window).
    "ALTER TABLE metrics ADD COLUMN run_id INTEGER REFERENCES runs(id) ON DELETE CASCADE",
};

// One prepared statement; binds by position, steps, reads columns, finalizes on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql, const std::string& db_path) : db_(db), path_(db_path) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) fail("prepare");
  }
  Statement(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }

  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& bind_real(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  // True while a row is available.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail("step");
  }
  int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p)) : std::string();
  }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw Error(fmt::format("catalog {}: SQLite {} failed: {}", path_, what, sqlite3_errmsg(db_)));
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  const std::string& path_;
};

void exec_sql(sqlite3* db, const std::string& path, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string text = message ? message : sqlite3_errmsg(db);
    sqlite3_free(message);
    throw Error(fmt::format("catalog {}: {}", path, text));
  }
}

// BEGIN IMMEDIATE ... COMMIT, rolled back when an exception leaves the scope.
class Transaction {
 public:
  Transaction(sqlite3* db, const std::string& path) : db_(db), path_(path) {
    exec_sql(db_, path_, "BEGIN IMMEDIATE");
  }
  Transaction(const Transaction&) = delete;
  void commit() {
    exec_sql(db_, path_, "COMMIT");
    done_ = true;
  }
  ~Transaction() {
    // Errors are ignored here: the exception that got us here matters more.
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }

 private:
  sqlite3* db_;
  const std::string& path_;
  bool done_ = false;
};

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr const char* kVersionColumns =
    "id, name, version, sha256, size, architecture, gguf_type, notes, source, installed_at";

InstalledVersion read_version(const Statement& s) {
  InstalledVersion v;
  v.id = s.integer(0);
  v.name = s.text(1);
  v.version = s.text(2);
  v.sha256 = s.text(3);
  v.size = static_cast<uint64_t>(s.integer(4));
  v.architecture = s.text(5);
  v.gguf_type = s.text(6);
  v.notes = s.text(7);
  v.source = s.text(8);
  v.installed_at = s.integer(9);
  return v;
}

}  // namespace

Catalog::Catalog(const std::filesystem::path& db_path) : path_(db_path.string()) {
  if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(fmt::format("cannot open catalog {}: {}", path_, message));
  }
  // Waits for other processes instead of failing with "database is locked".
  sqlite3_busy_timeout(db_, 30000);
  try {
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA foreign_keys=ON");
    Transaction tx(db_, path_);
    exec(kSchema);
    migrate();
    tx.commit();
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

Catalog::Catalog(Catalog&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}

Catalog& Catalog::operator=(Catalog&& other) noexcept {
  std::swap(db_, other.db_);
  std::swap(path_, other.path_);
  return *this;
}

Catalog::~Catalog() { sqlite3_close(db_); }

void Catalog::exec(const char* sql) const { exec_sql(db_, path_, sql); }

void Catalog::migrate() {
  Statement version(db_, "PRAGMA user_version", path_);
  const int64_t applied = version.step() ? version.integer(0) : 0;
  const auto known = static_cast<int64_t>(std::size(kMigrations));
  if (applied > known) {
    throw Error(fmt::format("catalog {} was written by a newer bantam (schema {}, this one knows {})", path_,
                            applied, known));
  }
  for (int64_t i = applied; i < known; ++i) exec(kMigrations[i]);
  if (applied < known) exec(fmt::format("PRAGMA user_version = {}", known).c_str());
}

std::string Catalog::setting(const std::string& key) const {
  Statement s(db_, "SELECT value FROM settings WHERE key = ?", path_);
  s.bind(1, key);
  return s.step() ? s.text(0) : std::string();
}

std::string Catalog::setting_or_insert(const std::string& key, const std::string& value) {
  Statement s(db_, "INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)", path_);
  s.bind(1, key).bind(2, value).step();
  return setting(key);
}

InstalledVersion Catalog::version_by_id(int64_t id) const {
  Statement s(db_, fmt::format("SELECT {} FROM versions WHERE id = ?", kVersionColumns).c_str(), path_);
  s.bind(1, id);
  if (!s.step()) throw Error(fmt::format("catalog {}: version row {} is missing", path_, id));
  return read_version(s);
}

std::vector<InstalledModel> Catalog::models() const {
  std::vector<InstalledModel> out;
  Statement s(db_, "SELECT name, active_id, previous_id, hub, rolled_back_from FROM models ORDER BY name",
              path_);
  while (s.step()) {
    InstalledModel m;
    m.name = s.text(0);
    m.active = version_by_id(s.integer(1));
    if (!s.is_null(2)) m.previous = version_by_id(s.integer(2));
    m.hub = s.text(3);
    m.rolled_back_from = s.text(4);
    out.push_back(std::move(m));
  }
  return out;
}

std::optional<InstalledModel> Catalog::model(const std::string& name) const {
  for (auto& m : models()) {
    if (m.name == name) return std::move(m);
  }
  return std::nullopt;
}

std::vector<std::string> Catalog::referenced_blobs() const {
  std::vector<std::string> out;
  Statement s(db_, "SELECT DISTINCT sha256 FROM versions", path_);
  while (s.step()) out.push_back(s.text(0));
  return out;
}

void Catalog::activate(const InstalledVersion& v, const std::string& hub) {
  Transaction tx(db_, path_);
  const auto current = model(v.name);
  int64_t id = 0;
  {
    Statement find(db_, "SELECT id, sha256 FROM versions WHERE name = ? AND version = ?", path_);
    find.bind(1, v.name).bind(2, v.version);
    if (find.step()) id = find.integer(0);
  }
  if (id != 0) {
    Statement update(db_,
                     "UPDATE versions SET sha256 = ?, size = ?, architecture = ?, gguf_type = ?, "
                     "notes = ?, source = ? WHERE id = ?",
                     path_);
    update.bind(1, v.sha256).bind(2, static_cast<int64_t>(v.size)).bind(3, v.architecture);
    update.bind(4, v.gguf_type).bind(5, v.notes).bind(6, v.source).bind(7, id).step();
  } else {
    Statement insert(db_,
                     "INSERT INTO versions (name, version, sha256, size, architecture, gguf_type, "
                     "notes, source, installed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     path_);
    insert.bind(1, v.name).bind(2, v.version).bind(3, v.sha256).bind(4, static_cast<int64_t>(v.size));
    insert.bind(5, v.architecture).bind(6, v.gguf_type).bind(7, v.notes).bind(8, v.source);
    insert.bind(9, unix_now()).step();
    id = sqlite3_last_insert_rowid(db_);
  }
  if (!current) {
    Statement insert(db_, "INSERT INTO models (name, active_id, previous_id, hub) VALUES (?, ?, NULL, ?)",
                     path_);
    insert.bind(1, v.name).bind(2, id).bind(3, hub).step();
  } else if (current->active.id != id) {
    Statement update(db_,
                     "UPDATE models SET previous_id = active_id, active_id = ?, hub = ?, "
                     "rolled_back_from = '' WHERE name = ?",
                     path_);
    update.bind(1, id).bind(2, hub).bind(3, v.name).step();
  } else {
    Statement update(db_, "UPDATE models SET hub = ?, rolled_back_from = '' WHERE name = ?", path_);
    update.bind(1, hub).bind(2, v.name).step();
  }
  // Only the active and the previous version are kept.
  Statement prune(db_,
                  "DELETE FROM versions WHERE name = ?1 AND id NOT IN (SELECT active_id FROM models "
                  "WHERE name = ?1 UNION SELECT previous_id FROM models WHERE name = ?1 AND "
                  "previous_id IS NOT NULL)",
                  path_);
  prune.bind(1, v.name).step();
  tx.commit();
}

void Catalog::rollback(const std::string& name) {
  Transaction tx(db_, path_);
  const auto current = model(name);
  if (!current) throw Error(fmt::format("no model named {} is installed", name));
  if (!current->previous) {
    throw Error(fmt::format("{} has no previous version to roll back to (only {} is installed)", name,
                            current->active.version));
  }
  Statement swap(db_,
                 "UPDATE models SET active_id = previous_id, previous_id = active_id, "
                 "rolled_back_from = ? WHERE name = ?",
                 path_);
  swap.bind(1, current->active.version).bind(2, name).step();
  tx.commit();
}

void Catalog::remove(const std::string& name) {
  Transaction tx(db_, path_);
  if (!model(name)) throw Error(fmt::format("no model named {} is installed", name));
  Statement drop_model(db_, "DELETE FROM models WHERE name = ?", path_);
  drop_model.bind(1, name).step();
  Statement drop_versions(db_, "DELETE FROM versions WHERE name = ?", path_);
  drop_versions.bind(1, name).step();
  tx.commit();
}

void Catalog::remove_version(const std::string& name, const std::string& version) {
  const auto current = model(name);
  if (!current) throw Error(fmt::format("no model named {} is installed", name));
  const bool is_active = current->active.version == version;
  const bool is_previous = current->previous && current->previous->version == version;
  if (!is_active && !is_previous) {
    throw Error(fmt::format("{} has no version {} (installed: {}{})", name, version, current->active.version,
                            current->previous ? ", " + current->previous->version : ""));
  }
  if (is_active && !current->previous) return remove(name);
  Transaction tx(db_, path_);
  const int64_t gone = is_active ? current->active.id : current->previous->id;
  Statement forget(db_,
                   is_active ? "UPDATE models SET active_id = previous_id, previous_id = NULL, rolled_back_from = '' "
                               "WHERE name = ?"
                             : "UPDATE models SET previous_id = NULL WHERE name = ?",
                   path_);
  forget.bind(1, name).step();
  Statement drop(db_, "DELETE FROM versions WHERE id = ?", path_);
  drop.bind(1, gone).step();
  tx.commit();
}

int64_t Catalog::record_run(int64_t version_id, const MetricRun& run) {
  Transaction tx(db_, path_);
  const int64_t at = run.recorded_at != 0 ? run.recorded_at : unix_now();
  Statement insert(db_,
                   "INSERT INTO runs (version_id, kind, tasks_sha256, quality_metric, recorded_at) "
                   "VALUES (?, ?, ?, ?, ?)",
                   path_);
  insert.bind(1, version_id).bind(2, run.kind).bind(3, run.tasks_sha256).bind(4, run.quality_metric);
  insert.bind(5, at).step();
  const int64_t run_id = sqlite3_last_insert_rowid(db_);
  for (const auto& [metric, value] : run.values) {
    Statement figure(db_,
                     "INSERT INTO metrics (version_id, metric, value, recorded_at, run_id) VALUES (?, ?, ?, ?, ?)",
                     path_);
    figure.bind(1, version_id).bind(2, metric).bind_real(3, value).bind(4, at).bind(5, run_id).step();
  }
  tx.commit();
  return run_id;
}

std::vector<MetricRun> Catalog::runs(int64_t version_id, const std::string& kind) const {
  std::vector<MetricRun> out;
  Statement s(db_,
              "SELECT id, kind, tasks_sha256, quality_metric, recorded_at FROM runs "
              "WHERE version_id = ? AND kind = ? ORDER BY recorded_at, id",
              path_);
  s.bind(1, version_id).bind(2, kind);
  while (s.step()) {
    MetricRun run;
    run.id = s.integer(0);
    run.kind = s.text(1);
    run.tasks_sha256 = s.text(2);
    run.quality_metric = s.text(3);
    run.recorded_at = s.integer(4);
    Statement figures(db_, "SELECT metric, value FROM metrics WHERE run_id = ?", path_);
    figures.bind(1, run.id);
    while (figures.step()) run.values[figures.text(0)] = figures.real(1);
    out.push_back(std::move(run));
  }
  return out;
}

std::optional<InstalledVersion> Catalog::find_version(const std::string& name, const std::string& version) const {
  Statement s(db_, fmt::format("SELECT {} FROM versions WHERE name = ? AND version = ?", kVersionColumns).c_str(),
              path_);
  s.bind(1, name).bind(2, version);
  if (!s.step()) return std::nullopt;
  return read_version(s);
}

void Catalog::log_event(const std::string& model, const std::string& message) {
  Statement s(db_, "INSERT INTO events (model, message, recorded_at) VALUES (?, ?, ?)", path_);
  s.bind(1, model).bind(2, message).bind(3, unix_now()).step();
}

std::vector<CatalogEvent> Catalog::events(const std::string& model) const {
  std::vector<CatalogEvent> out;
  Statement s(db_, "SELECT recorded_at, model, message FROM events WHERE model = ? ORDER BY id", path_);
  s.bind(1, model);
  while (s.step()) out.push_back({s.integer(0), s.text(1), s.text(2)});
  return out;
}

}  // namespace bantam::hub
