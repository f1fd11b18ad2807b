#include "hybrid/audit_log.hpp"

#include <gtest/gtest.h>

#include "bantam/error.hpp"
#include "test_support.hpp"

namespace bantam::hybrid {
namespace {

AuditEntry entry(const std::string& route, const std::string& rule, int64_t bytes) {
  return AuditEntry{1700000000000, route, rule, route == "cloud" ? "EMAIL" : "", 12, 34, 56.5,
                    bytes, "my secret prompt"};
}

TEST(AuditLog, RecordsOneRowPerDecisionWithoutPromptText) {
  std::string path = (test::temp_dir() / "audit.sqlite").string();
  {
    AuditLog log(path, false);
    log.record(entry("local", "policy", 0));
    log.record(entry("cloud", "low-confidence", 900));
  }
  AuditLog reopened(path, false);  // survives reopening
  std::vector<AuditEntry> rows = reopened.recent(10);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].route, "cloud");
  EXPECT_EQ(rows[0].rule, "low-confidence");
  EXPECT_EQ(rows[0].sensitive, "EMAIL");
  EXPECT_EQ(rows[0].tokens_in, 12);
  EXPECT_EQ(rows[0].tokens_out, 34);
  EXPECT_DOUBLE_EQ(rows[0].latency_ms, 56.5);
  EXPECT_EQ(rows[0].bytes_sent, 900);
  EXPECT_EQ(rows[0].time_ms, 1700000000000);
  EXPECT_EQ(rows[0].prompt, "");
  EXPECT_EQ(rows[1].route, "local");
  // The prompt never reached the file.
  EXPECT_EQ(test::read_file(path).find("my secret prompt"), std::string::npos);
  AuditSummary summary = reopened.summary();
  EXPECT_EQ(summary.local, 1);
  EXPECT_EQ(summary.cloud, 1);
  EXPECT_EQ(summary.bytes_sent, 900);
  EXPECT_EQ(reopened.recent(1).size(), 1u);
}

TEST(AuditLog, KeepsPromptsOnlyWhenEnabled) {
  AuditLog log(":memory:", true);
  log.record(entry("cloud", "cloud-alias", 10));
  EXPECT_EQ(log.recent(1).at(0).prompt, "my secret prompt");
  EXPECT_EQ(AuditLog(":memory:", true).summary().cloud, 0);
}

TEST(AuditLog, UnopenablePathIsAnError) {
  EXPECT_THROW(AuditLog((test::temp_dir() / "missing" / "dir" / "a.sqlite").string(), false), Error);
}

}  // namespace
}  // namespace bantam::hybrid
