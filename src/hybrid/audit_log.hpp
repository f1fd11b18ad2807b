// The audit trail of routing: one SQLite row per decision (when, where it went, which rule sent it
// there, what sensitive data it held, tokens, latency, bytes sent off the device). Prompt text is
// stored only when explicitly enabled.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

struct sqlite3;

namespace bantam::hybrid {

struct AuditEntry {
  int64_t time_ms = 0;    // Unix time of the decision
  std::string route;      // "local" or "cloud"
  std::string rule;       // the rule that fired, e.g. "low-confidence", "policy"
  std::string sensitive;  // classes found, e.g. "EMAIL,IBAN"; "" when none
  int64_t tokens_in = 0;
  int64_t tokens_out = 0;
  double latency_ms = 0;
  int64_t bytes_sent = 0;  // bytes that left the device (0 for local)
  std::string prompt;      // kept only when the log was opened with record_prompts
};

struct AuditSummary {
  int64_t local = 0;
  int64_t cloud = 0;
  int64_t bytes_sent = 0;
};

class AuditLog {
 public:
  // ":memory:" keeps the log in memory. Creates the table when missing.
  AuditLog(const std::string& path, bool record_prompts);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  void record(const AuditEntry& entry);  // thread-safe
  std::vector<AuditEntry> recent(int limit) const;  // newest first
  AuditSummary summary() const;

 private:
  void exec(const char* sql) const;

  sqlite3* db_ = nullptr;
  bool record_prompts_;
  mutable std::mutex mutex_;
};

}  // namespace bantam::hybrid
