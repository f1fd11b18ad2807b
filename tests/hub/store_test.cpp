// The device store: catalog versions (active, previous, rollback, removal), garbage collection,
// device id, and resolving `-m NAME` to a file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sqlite3.h>

#include "bantam/error.hpp"
#include "hub_fixture.hpp"

namespace bantam::hub::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

// Installs a copy of `gguf` as name:version, as a verified download would be.
InstalledVersion install_copy(Store& store, const fs::path& gguf, const std::string& name,
                              const std::string& version) {
  InstalledVersion v;
  v.name = name;
  v.version = version;
  v.sha256 = sha256_file(gguf);
  v.size = fs::file_size(gguf);
  v.architecture = "llama";
  v.source = "test";
  const fs::path partial = store.partial_path(v.sha256);
  fs::copy_file(gguf, partial, fs::copy_options::overwrite_existing);
  const auto lock = store.lock();
  store.install(partial, v, "http://127.0.0.1:1");
  return v;
}

TEST(Store, DeviceIdIsRandomPerStoreAndKept) {
  const fs::path a = test::temp_dir() / "a", b = test::temp_dir() / "b";
  const std::string id = Store::open(a).device_id();
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ(Store::open(a).device_id(), id);
  EXPECT_NE(Store::open(b).device_id(), id);
}

TEST(Store, KeepsActiveAndPreviousAndRollsBack) {
  Store store = Store::open(test::temp_dir() / "store");
  const auto v1 = install_copy(store, stories(), "tiny", "1.0");
  const auto v2 = install_copy(store, stories_q8(), "tiny", "1.1");
  auto model = store.find("tiny");
  ASSERT_TRUE(model && model->previous);
  EXPECT_EQ(model->active.version, "1.1");
  EXPECT_EQ(model->previous->version, "1.0");

  const auto lock = store.lock();
  model = store.rollback("tiny");
  EXPECT_EQ(model->active.version, "1.0");
  EXPECT_EQ(model->previous->version, "1.1");
  EXPECT_EQ(model->rolled_back_from, "1.1");
  EXPECT_EQ(resolve_model("tiny", store.dir()), store.blob_path(v1.sha256));
  EXPECT_EQ(resolve_model("tiny:1.1", store.dir()), store.blob_path(v2.sha256));
  EXPECT_THAT([&] { resolve_model("tiny:9", store.dir()); },
              ThrowsMessage<Error>(HasSubstr("tiny version 9 is not installed")));
}

TEST(Store, AThirdVersionDropsTheOldestAndGcDeletesItsFile) {
  Store store = Store::open(test::temp_dir() / "store");
  const auto v1 = install_copy(store, stories(), "tiny", "1.0");
  install_copy(store, stories_q8(), "tiny", "1.1");
  install_copy(store, tiny_llama(), "tiny", "1.2");
  const auto model = store.find("tiny");
  EXPECT_EQ(model->active.version, "1.2");
  EXPECT_EQ(model->previous->version, "1.1");
  const auto lock = store.lock();
  const auto gc = store.collect_garbage(kPartialMaxAge);
  EXPECT_EQ(gc.removed_blobs, std::vector<std::string>{v1.sha256});
  EXPECT_FALSE(fs::exists(store.blob_path(v1.sha256)));
}

TEST(Store, RollbackWithoutPreviousVersionSaysSo) {
  Store store = Store::open(test::temp_dir() / "store");
  install_copy(store, stories(), "tiny", "1.0");
  const auto lock = store.lock();
  EXPECT_THAT([&] { store.rollback("tiny"); },
              ThrowsMessage<Error>(HasSubstr("tiny has no previous version to roll back to (only 1.0 is installed)")));
}

TEST(Store, RollbackRefusesADamagedPreviousFile) {
  Store store = Store::open(test::temp_dir() / "store");
  const auto v1 = install_copy(store, stories(), "tiny", "1.0");
  install_copy(store, stories_q8(), "tiny", "1.1");
  fs::permissions(store.blob_path(v1.sha256), fs::perms::owner_write, fs::perm_options::add);
  test::write_file(store.blob_path(v1.sha256), "not a gguf");
  const auto lock = store.lock();
  EXPECT_THROW(store.rollback("tiny"), Error);
  EXPECT_EQ(store.find("tiny")->active.version, "1.1");
}

TEST(Store, GarbageCollectionSparesBlobsInUseAndPartialsBeingWritten) {
  Store store = Store::open(test::temp_dir() / "store");
  const auto v1 = install_copy(store, stories(), "tiny", "1.0");
  const std::string orphan(64, 'e');
  test::write_file(store.blob_path(orphan), "orphan");
  const std::string busy_orphan(64, 'd');
  test::write_file(store.blob_path(busy_orphan), "in use");
  const FileLock reader(store.blob_path(busy_orphan), FileLock::Mode::shared);
  test::write_file(store.partial_path(std::string(64, 'a')), "stale");
  test::write_file(store.partial_path(std::string(64, 'b')), "being written");
  const FileLock writer(store.partial_path(std::string(64, 'b')), FileLock::Mode::exclusive);

  {
    const auto lock = store.lock();
    const auto fresh = store.collect_garbage(kPartialMaxAge);
    EXPECT_EQ(fresh.removed_blobs, std::vector<std::string>{orphan});
    EXPECT_TRUE(fresh.removed_partials.empty());  // young partials are kept for resuming
    const auto old = store.collect_garbage(std::chrono::seconds(0));
    EXPECT_EQ(old.removed_partials, std::vector<std::string>{std::string(64, 'a') + ".part"});
  }
  EXPECT_TRUE(fs::exists(store.blob_path(busy_orphan)));
  EXPECT_TRUE(fs::exists(store.blob_path(v1.sha256)));
  EXPECT_TRUE(fs::exists(store.partial_path(std::string(64, 'b'))));
}

TEST(Store, RemoveForgetsEveryVersion) {
  Store store = Store::open(test::temp_dir() / "store");
  install_copy(store, stories(), "tiny", "1.0");
  install_copy(store, stories_q8(), "tiny", "1.1");
  install_copy(store, stories(), "other", "7");
  const auto lock = store.lock();
  store.remove("tiny");
  store.collect_garbage(kPartialMaxAge);
  ASSERT_EQ(store.list().size(), 1u);
  EXPECT_EQ(store.list()[0].name, "other");
  // stories260K is still used by "other"; only the Q8_0 file goes.
  EXPECT_EQ(files_in(store.dir() / "blobs" / "sha256").size(), 1u);
  EXPECT_THAT([&] { store.remove("tiny"); }, ThrowsMessage<Error>(HasSubstr("no model named tiny is installed")));
}

TEST(Store, CatalogLeavesRoomForPerVersionMetrics) {
  Store store = Store::open(test::temp_dir() / "store");
  const auto v = install_copy(store, stories(), "tiny", "1.0");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((store.dir() / "catalog.db").c_str(), &db), SQLITE_OK);
  const std::string insert =
      "INSERT INTO metrics (version_id, metric, value, recorded_at) SELECT id, 'tokens_per_second', 42.5, 0 "
      "FROM versions WHERE name = 'tiny'";
  EXPECT_EQ(sqlite3_exec(db, insert.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
  EXPECT_EQ(store.find("tiny")->active.sha256, v.sha256);
}

TEST(ResolveModel, PathsPassThroughAndNamesNeedAStoreEntry) {
  const fs::path empty_store = test::temp_dir() / "none";
  EXPECT_EQ(resolve_model(stories().string(), empty_store), stories());
  EXPECT_THAT([&] { resolve_model("missing/model.gguf", empty_store); },
              ThrowsMessage<Error>(HasSubstr("missing/model.gguf: does not exist")));
  EXPECT_THAT([&] { resolve_model("tiny", empty_store); }, ThrowsMessage<Error>(HasSubstr("is empty (use `bantam pull`)")));
  Store store = Store::open(test::temp_dir() / "store");
  install_copy(store, stories(), "tiny", "1.0");
  EXPECT_THAT([&] { resolve_model("huge", store.dir()); }, ThrowsMessage<Error>(HasSubstr("no model named huge")));
  const ModelLease lease = lease_model("tiny", store.dir());
  EXPECT_TRUE(lease.lock.held());
  EXPECT_NO_THROW(gguf::File::open(lease.path.string()));
}

TEST(ResolveModel, DefaultStoreFollowsXdg) {
  const char* old = std::getenv("XDG_DATA_HOME");
  const std::string saved = old ? old : "";
  setenv("XDG_DATA_HOME", "/data/x", 1);
  EXPECT_EQ(default_store_dir(), fs::path("/data/x/bantam"));
  if (old) {
    setenv("XDG_DATA_HOME", saved.c_str(), 1);
  } else {
    unsetenv("XDG_DATA_HOME");
  }
}

}  // namespace
}  // namespace bantam::hub::testing
