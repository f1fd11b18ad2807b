#include "hybrid/audit_log.hpp"

#include <sqlite3.h>

#include <fmt/format.h>

#include "bantam/error.hpp"

namespace bantam::hybrid {

namespace {

// A prepared statement, finalized on every path.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      throw Error(fmt::format("audit log: cannot prepare '{}': {}", sql, sqlite3_errmsg(db)));
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void bind(int index, int64_t value) { sqlite3_bind_int64(stmt_, index, value); }
  void bind(int index, double value) { sqlite3_bind_double(stmt_, index, value); }
  void bind(int index, const std::string& value) {
    sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  }
  void bind_null(int index) { sqlite3_bind_null(stmt_, index); }
  // true while rows come; throws on an error.
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw Error(fmt::format("audit log: {}", sqlite3_errmsg(db_)));
  }
  int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
  double real(int column) const { return sqlite3_column_double(stmt_, column); }
  std::string text(int column) const {
    const unsigned char* value = sqlite3_column_text(stmt_, column);
    return value ? std::string(reinterpret_cast<const char*>(value),
                               static_cast<size_t>(sqlite3_column_bytes(stmt_, column)))
                 : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace

AuditLog::AuditLog(const std::string& path, bool record_prompts) : record_prompts_(record_prompts) {
  if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
    std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw Error(fmt::format("audit log: cannot open {}: {}", path, message));
  }
  try {
    sqlite3_busy_timeout(db_, 2000);
    // One row per request: a write-ahead log without an fsync per row keeps recording off the
    // request's latency (a crash may lose the last rows, never corrupt the file).
    if (path != ":memory:") {
      exec("PRAGMA journal_mode=WAL");
      exec("PRAGMA synchronous=NORMAL");
    }
    exec("CREATE TABLE IF NOT EXISTS routing_decisions ("
         "id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, route TEXT NOT NULL, rule TEXT NOT NULL,"
         " sensitive TEXT NOT NULL, tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL,"
         " latency_ms REAL NOT NULL, bytes_sent INTEGER NOT NULL, prompt TEXT)");
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

AuditLog::~AuditLog() { sqlite3_close(db_); }

void AuditLog::exec(const char* sql) const {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message ? message : "unknown error";
    sqlite3_free(message);
    throw Error(fmt::format("audit log: '{}' failed: {}", sql, text));
  }
}

void AuditLog::record(const AuditEntry& entry) {
  std::lock_guard lock(mutex_);
  Statement insert(db_,
                   "INSERT INTO routing_decisions (time_ms, route, rule, sensitive, tokens_in,"
                   " tokens_out, latency_ms, bytes_sent, prompt) VALUES (?,?,?,?,?,?,?,?,?)");
  insert.bind(1, entry.time_ms);
  insert.bind(2, entry.route);
  insert.bind(3, entry.rule);
  insert.bind(4, entry.sensitive);
  insert.bind(5, entry.tokens_in);
  insert.bind(6, entry.tokens_out);
  insert.bind(7, entry.latency_ms);
  insert.bind(8, entry.bytes_sent);
  if (record_prompts_)
    insert.bind(9, entry.prompt);
  else
    insert.bind_null(9);
  insert.step();
}

std::vector<AuditEntry> AuditLog::recent(int limit) const {
  std::lock_guard lock(mutex_);
  Statement query(db_,
                  "SELECT time_ms, route, rule, sensitive, tokens_in, tokens_out, latency_ms,"
                  " bytes_sent, prompt FROM routing_decisions ORDER BY id DESC LIMIT ?");
  query.bind(1, static_cast<int64_t>(limit));
  std::vector<AuditEntry> out;
  while (query.step()) {
    out.push_back(AuditEntry{query.integer(0), query.text(1), query.text(2), query.text(3),
                             query.integer(4), query.integer(5), query.real(6), query.integer(7),
                             query.text(8)});
  }
  return out;
}

AuditSummary AuditLog::summary() const {
  std::lock_guard lock(mutex_);
  Statement query(db_,
                  "SELECT COALESCE(SUM(route = 'local'), 0), COALESCE(SUM(route = 'cloud'), 0),"
                  " COALESCE(SUM(bytes_sent), 0) FROM routing_decisions");
  AuditSummary out;
  if (query.step()) out = AuditSummary{query.integer(0), query.integer(1), query.integer(2)};
  return out;
}

}  // namespace bantam::hybrid
