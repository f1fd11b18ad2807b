// A hub that trickles a model file faster than the plain low-speed limit but far slower than the
// file needs to arrive within the download deadline: the pull is dropped, saying why, and leaves
// the store as it was (a later pull resumes the partial file).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "bantam/error.hpp"
#include "hub_fixture.hpp"

namespace bantam::hub::testing {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kTrickle = 2048;  // bytes/s, as the reported hub

TEST(SlowHubDefaults, DropATrickleWhateverTheFileSize) {
  const FetchOptions defaults;
  EXPECT_GT(defaults.min_speed(0), kTrickle * 4);
  // A large file needs more than the floor to arrive within the deadline.
  const uint64_t large = uint64_t{8} << 30;
  EXPECT_GT(defaults.min_speed(large), defaults.low_speed_limit);
  EXPECT_GE(defaults.min_speed(large) * static_cast<uint64_t>(defaults.download_deadline.count()), large);
}

class SlowHub : public ::testing::Test {
 protected:
  void SetUp() override {
    v1 = hub.add(stories_q8(), "tiny", "1.0");
    hub.sign();
    server = std::make_unique<test::LoopbackServer>(hub.dir);
    store_dir = test::temp_dir() / "store";
    trust = test::temp_dir() / "root.json";
    fs::copy_file(hub.dir / "root.json", trust);
    Store store = Store::open(store_dir);
    pull_from_hub(store, server->url(), "tiny", "", fast_client(trust));
    v2 = hub.add(stories(), "tiny", "1.1");
    hub.sign();
    server->set_behavior("/blobs/", {.bytes_per_second = kTrickle});
  }

  // The trickle passes the floor; only the deadline (the file over 60 s) can drop it.
  ClientOptions trickle_client() const {
    ClientOptions o = fast_client(trust);
    o.fetch.low_speed_limit = kTrickle / 4;
    o.fetch.low_speed_time = std::chrono::seconds(2);
    o.fetch.download_deadline = std::chrono::seconds(60);
    return o;
  }

  // v1 is still active, v2 has no blob and no catalog row; only its partial download remains.
  void expect_store_unchanged() const {
    expect_active(store_dir, "tiny", "1.0", v1.sha256);
    const Store store = Store::open(store_dir);
    ASSERT_EQ(store.list().size(), 1u);
    EXPECT_FALSE(store.list()[0].previous.has_value());
    EXPECT_FALSE(fs::exists(store.blob_path(v2.sha256)));
  }

  TestHub hub;
  ModelTarget v1, v2;
  std::unique_ptr<test::LoopbackServer> server;
  fs::path store_dir, trust;
};

TEST_F(SlowHub, ATrickleFarBelowTheDeadlineIsDroppedAndTheStoreKept) {
  Store store = Store::open(store_dir);
  const auto start = std::chrono::steady_clock::now();
  try {
    pull_from_hub(store, server->url(), "tiny", "", trickle_client());
    ADD_FAILURE() << "the trickled download was accepted";
  } catch (const Error& e) {
    // 1185376 bytes in 60 s need 19757 bytes/s.
    EXPECT_THAT(e.what(), HasSubstr("downloading tiny:1.1: transfer slower than 19757 bytes/s for 2 s, too slow "
                                    "for 1185376 bytes within the download deadline of 60 s"));
    EXPECT_THAT(e.what(), HasSubstr("run again to resume"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  expect_store_unchanged();
  // The partial download is kept and resumed once the hub is fast again.
  const uint64_t partial = fs::file_size(store.partial_path(v2.sha256));
  EXPECT_GT(partial, 0u);
  server->clear_behaviors();
  pull_from_hub(store, server->url(), "tiny", "", trickle_client());
  expect_active(store_dir, "tiny", "1.1", v2.sha256);
  EXPECT_EQ(server->requests().back().range_start, static_cast<int64_t>(partial));
}

TEST_F(SlowHub, TheCliFlagsSetTheDeadline) {
  const auto start = std::chrono::steady_clock::now();
  const auto r = test::run_cli({"pull", "tiny", "--hub", server->url(), "--store", store_dir.string(),
                                "--low-speed-limit", "512", "--low-speed-time", "2", "--download-deadline", "60"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("transfer slower than 19757 bytes/s for 2 s"));
  EXPECT_THAT(r.err, HasSubstr("slow retrieval attack?"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  expect_store_unchanged();
}

}  // namespace
}  // namespace bantam::hub::testing
