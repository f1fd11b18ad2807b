// Processes starting at once on a store that does not exist yet all create the catalog, and none
// may fail with "database is locked": SQLite's switch to WAL mode fails at once, busy timeout or
// not, while another connection is writing, so the catalog is opened under a lock of its own.
#include <sqlite3.h>

#include <gtest/gtest.h>

#include <future>
#include <latch>
#include <thread>

#include "hub_fixture.hpp"

namespace bantam::hub::testing {
namespace {

TEST(FreshStore, OpeningWaitsForAProcessCreatingTheCatalog) {
  const fs::path dir = test::temp_dir() / "store";
  fs::create_directories(dir);
  // Another process halfway through creating the catalog: it holds the catalog lock and a write
  // transaction on the new database.
  std::optional<FileLock> creator_lock;
  creator_lock.emplace(dir / "catalog.lock", FileLock::Mode::exclusive);
  sqlite3* creator = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "catalog.db").c_str(), &creator), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(creator, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto opened = std::async(std::launch::async, [&] { return Store::open(dir).device_id(); });
  // Time for the open to reach the lock; before the fix it failed at once instead of waiting.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_EQ(sqlite3_exec(creator, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(creator);
  creator_lock.reset();
  std::string device_id;
  ASSERT_NO_THROW(device_id = opened.get());
  EXPECT_EQ(device_id, Store::open(dir).device_id());
}

TEST(FreshStore, ConcurrentPullsIntoANewStoreAllSucceed) {
  TestHub hub;
  const ModelTarget tiny = hub.add(stories(), "tiny", "1.0");
  const ModelTarget q8 = hub.add(stories_q8(), "tiny-q8", "1.0");
  hub.sign();
  test::LoopbackServer server(hub.dir);
  const fs::path trust = test::temp_dir() / "root.json";
  fs::copy_file(hub.dir / "root.json", trust);
  constexpr int kRounds = 10;
  constexpr int kPulls = 3;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const fs::path store_dir = test::temp_dir() / ("store" + std::to_string(round));
    std::latch start(kPulls);
    std::vector<test::RunResult> results(kPulls);
    std::vector<std::thread> pulls;
    for (int i = 0; i < kPulls; ++i) {
      pulls.emplace_back([&, i] {
        start.arrive_and_wait();  // the processes start together, racing to create the catalog
        results[i] = test::run_cli({"pull", i == 0 ? "tiny-q8" : "tiny", "--hub", server.url(), "--trust",
                                    trust.string(), "--store", store_dir.string()});
      });
    }
    for (auto& t : pulls) t.join();
    for (const auto& r : results) EXPECT_EQ(r.exit_code, 0) << r.err;
    expect_active(store_dir, "tiny", "1.0", tiny.sha256);
    expect_active(store_dir, "tiny-q8", "1.0", q8.sha256);
    EXPECT_TRUE(files_in(store_dir / "partial").empty());
  }
}

}  // namespace
}  // namespace bantam::hub::testing
