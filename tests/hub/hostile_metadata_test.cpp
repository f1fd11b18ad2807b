// Hub metadata nested absurdly deep: refused at parse time, before any signature is checked,
// with the trusted root left as it was and the store still updating from a sane hub afterwards.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hub_fixture.hpp"

namespace bantam::hub::testing {
namespace {

using ::testing::HasSubstr;

class HubHostileMetadata : public ::testing::Test {
 protected:
  void SetUp() override {
    hub = std::make_unique<TestHub>();
    hub->add(stories(), "tiny", "1.0", 100, "first");
    hub->sign();
    server = std::make_unique<test::LoopbackServer>(hub->dir);
    store_dir = test::temp_dir() / "store";
    const fs::path trusted = test::temp_dir() / "root.json";
    fs::copy_file(hub->dir / "root.json", trusted);
    Store store = Store::open(store_dir);
    pull_from_hub(store, server->url(), "tiny", "", fast_client(trusted));
    trusted_root = store.hub_state_dir(server->url()) / "root.json";
  }

  test::RunResult update_check() { return test::run_cli({"update", "tiny", "--store", store_dir.string(), "--check"}); }

  std::unique_ptr<TestHub> hub;
  std::unique_ptr<test::LoopbackServer> server;
  fs::path store_dir, trusted_root;
};

TEST_F(HubHostileMetadata, RootNestedDeepIsRefusedAndTheTrustedRootKept) {
  const std::string before = test::read_file(trusted_root);
  constexpr size_t kLevels = 450000;
  // Shaped like signed metadata, so only its depth is wrong.
  test::write_file(hub->dir / "2.root.json", R"({"signatures":[],"signed":{"keys":)" + std::string(kLevels, '[') +
                                                 std::string(kLevels, ']') + "}}");
  const auto r = update_check();
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.err, HasSubstr("2.root.json: JSON nested deeper than 128 levels (at signed.keys[0][0]"));
  EXPECT_EQ(test::read_file(trusted_root), before);

  fs::remove(hub->dir / "2.root.json");
  const auto after = update_check();
  EXPECT_EQ(after.exit_code, 0) << after.err;
  EXPECT_THAT(after.out, HasSubstr("up to date"));
}

TEST_F(HubHostileMetadata, DeepTimestampIsRefusedBeforeItsSignatures) {
  // Objects this time, small enough for the timestamp's size cap.
  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += "{\"a\":";
  deep += "1" + std::string(5000, '}');
  test::write_file(hub->dir / "timestamp.json", R"({"signatures":[],"signed":)" + deep + "}");
  const auto r = update_check();
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.err, HasSubstr("timestamp.json: JSON nested deeper than 128 levels (at signed.a.a.a"));
}

}  // namespace
}  // namespace bantam::hub::testing
