// The publisher and device commands end to end, as a user runs them: `bantam hub ...` builds a
// hub folder, a loopback server serves it, and `bantam pull/list/update/rollback/rm` use it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "hub_fixture.hpp"

namespace bantam::hub::testing {
namespace {

using ::testing::HasSubstr;

class HubCli : public ::testing::Test {
 protected:
  void SetUp() override {
    hub_dir = test::temp_dir() / "hub";
    keys = test::temp_dir() / "keys";
    store = (test::temp_dir() / "store").string();
    run_ok({"hub", "init", hub_dir.string(), "--keys", keys.string()});
    server = std::make_unique<test::LoopbackServer>(hub_dir);
    trust = test::temp_dir() / "root.json";
    fs::copy_file(hub_dir / "root.json", trust);
  }

  test::RunResult run_ok(const std::vector<std::string>& args) {
    auto r = test::run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << ::testing::PrintToString(args) << "\n" << r.err;
    return r;
  }
  test::RunResult run_fail(const std::vector<std::string>& args) {
    auto r = test::run_cli(args);
    EXPECT_EQ(r.exit_code, 1) << ::testing::PrintToString(args) << "\n" << r.out;
    return r;
  }
  void publish(const fs::path& gguf, const std::string& version, const std::string& rollout = "100",
               const std::string& notes = "") {
    run_ok({"hub", "add", hub_dir.string(), gguf.string(), "--name", "tiny", "--version", version,
            "--rollout", rollout, "--notes", notes, "--chunk-size", std::to_string(kTestChunk)});
    run_ok({"hub", "sign", hub_dir.string(), "--keys", keys.string()});
  }
  nlohmann::json list() { return nlohmann::json::parse(run_ok({"list", "--store", store, "--json"}).out); }

  fs::path hub_dir, keys, trust;
  std::string store;
  std::unique_ptr<test::LoopbackServer> server;
};

TEST_F(HubCli, KeysStayOutOfTheHubAndInitWritesEveryRole) {
  for (const char* file : {"1.root.json", "root.json", "1.targets.json", "1.snapshot.json", "timestamp.json"}) {
    EXPECT_TRUE(fs::exists(hub_dir / file)) << file;
  }
  for (const auto& path : fs::recursive_directory_iterator(hub_dir)) {
    EXPECT_NE(path.path().extension(), ".key") << path.path();
  }
  EXPECT_EQ(fs::status(keys / "root.key").permissions() & fs::perms::group_read, fs::perms::none);
  run_fail({"hub", "init", hub_dir.string(), "--keys", keys.string()});
}

TEST_F(HubCli, PullListUpdateRollbackRemove) {
  publish(stories(), "1.0", "100", "first release");
  const auto pulled = run_ok({"pull", "tiny", "--hub", server->url(), "--trust", trust.string(), "--store", store});
  EXPECT_THAT(pulled.out, HasSubstr("pulled tiny 1.0"));
  auto models = list();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0]["status"], "active");
  EXPECT_EQ(models[0]["sha256"], sha256_file(stories()));
  EXPECT_EQ(resolve_model("tiny", store), Store::open(store).blob_path(sha256_file(stories())));
  EXPECT_THAT(run_ok({"list", "--store", store}).out, HasSubstr("tiny"));

  // --trust is needed only once; the hub URL is remembered per model.
  EXPECT_THAT(run_ok({"update", "--store", store}).out, HasSubstr("tiny 1.0 is up to date"));
  publish(stories_q8(), "1.3", "100", "quantized to Q8_0");
  const auto check = run_ok({"update", "tiny", "--store", store, "--check"});
  EXPECT_THAT(check.out, HasSubstr("new version 1.3 of tiny available"));
  EXPECT_THAT(check.out, HasSubstr("quantized to Q8_0"));
  EXPECT_EQ(list()[0]["version"], "1.0");

  EXPECT_THAT(run_ok({"update", "--store", store}).out, HasSubstr("updated tiny from 1.0 to 1.3"));
  models = list();
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0]["version"], "1.3");
  EXPECT_EQ(models[0]["status"], "active");
  EXPECT_EQ(models[1]["version"], "1.0");
  EXPECT_EQ(models[1]["status"], "previous");
  expect_active(store, "tiny", "1.3", sha256_file(stories_q8()));

  EXPECT_THAT(run_ok({"rollback", "tiny", "--store", store}).out, HasSubstr("rolled back tiny from 1.3 to 1.0"));
  expect_active(store, "tiny", "1.0", sha256_file(stories()));
  // A rolled-back version is not offered again by `update`.
  const auto after = run_ok({"update", "--store", store, "--check"});
  EXPECT_THAT(after.out, HasSubstr("version 1.3 of tiny was rolled back on this device"));

  EXPECT_THAT(run_ok({"rm", "tiny", "--store", store}).out, HasSubstr("removed tiny (2 file(s) deleted)"));
  EXPECT_TRUE(list().empty());
  EXPECT_TRUE(files_in(fs::path(store) / "blobs" / "sha256").empty());
  EXPECT_THAT(run_fail({"rm", "tiny", "--store", store}).err, HasSubstr("no model named tiny is installed"));
  EXPECT_THAT(run_fail({"rollback", "tiny", "--store", store}).err, HasSubstr("no model named tiny"));
}

TEST_F(HubCli, PullNeedsATrustedRootTheFirstTimeAndAHub) {
  publish(stories(), "1.0");
  EXPECT_THAT(run_fail({"pull", "tiny", "--hub", server->url(), "--store", store}).err,
              HasSubstr("pass --trust ROOT.json"));
  EXPECT_THAT(run_fail({"pull", "tiny", "--store", store}).err, HasSubstr("no hub to pull tiny from"));
  EXPECT_THAT(run_fail({"pull", "nope", "--hub", server->url(), "--trust", trust.string(), "--store", store}).err,
              HasSubstr("has no model named nope (it has: tiny)"));
  // A hub that failed is not remembered.
  EXPECT_FALSE(fs::exists(fs::path(store) / "config.json"));
  // The hub may come from the store's config file.
  test::write_file(fs::path(store) / "config.json", nlohmann::json{{"hub", server->url()}}.dump());
  run_ok({"pull", "tiny:1.0", "--trust", trust.string(), "--store", store});
  EXPECT_THAT(run_ok({"pull", "tiny", "--store", store}).out, HasSubstr("already installed and active"));
}

TEST_F(HubCli, PullRemembersTheHubItWasGiven) {
  publish(stories(), "1.0");
  fs::create_directories(store);
  test::write_file(fs::path(store) / "config.json", nlohmann::json{{"note", "kept"}}.dump());
  run_ok({"pull", "tiny", "--hub", server->url(), "--trust", trust.string(), "--store", store});
  const auto config = nlohmann::json::parse(test::read_file(fs::path(store) / "config.json"));
  EXPECT_EQ(config["hub"], server->url());
  EXPECT_EQ(config["note"], "kept");
  EXPECT_THAT(run_ok({"pull", "tiny", "--store", store}).out, HasSubstr("already installed and active"));
  EXPECT_THAT(run_ok({"pull", "--help"}).out, HasSubstr("remembered as \"hub\" in STORE/config.json"));
}

TEST_F(HubCli, KeyRotationIsFollowed) {
  publish(stories(), "1.0");
  run_ok({"pull", "tiny", "--hub", server->url(), "--trust", trust.string(), "--store", store});

  // New root and targets keys; the old ones are retired.
  const SigningKey old_root = SigningKey::load(keys / "root.key");
  const SigningKey old_targets = SigningKey::load(keys / "targets.key");
  run_ok({"hub", "keygen", "--role", "root", "--out", (keys / "root-new.key").string()});
  run_ok({"hub", "keygen", "--role", "targets", "--out", (keys / "targets-new.key").string()});
  run_ok({"hub", "rotate", hub_dir.string(), "--role", "root", "--add-key", (keys / "root-new.key").string(),
          "--remove-key", old_root.public_key.id});
  run_ok({"hub", "rotate", hub_dir.string(), "--role", "targets", "--add-key",
          (keys / "targets-new.key").string(), "--remove-key", old_targets.public_key.id});
  run_ok({"hub", "sign", hub_dir.string(), "--keys", keys.string()});
  EXPECT_TRUE(fs::exists(hub_dir / "2.root.json"));
  // From now on the old keys are useless: sign without them.
  fs::remove(keys / "root.key");
  fs::remove(keys / "targets.key");
  publish(stories_q8(), "1.1");

  EXPECT_THAT(run_ok({"update", "--store", store}).out, HasSubstr("updated tiny from 1.0 to 1.1"));
  const Store s = Store::open(store);
  const auto trusted = parse_metadata_text(read_text_file(s.hub_state_dir(server->url()) / "root.json"), "root");
  EXPECT_EQ(trusted["signed"]["version"], 2);
  // A fresh device given the old root.json also walks to version 2.
  const std::string fresh = (test::temp_dir() / "fresh").string();
  run_ok({"pull", "tiny", "--hub", server->url(), "--trust", trust.string(), "--store", fresh});
  expect_active(fresh, "tiny", "1.1", sha256_file(stories_q8()));
}

TEST_F(HubCli, StagedRolloutSkipsThenTakesAVersion) {
  publish(stories(), "1.0");
  run_ok({"pull", "tiny", "--hub", server->url(), "--trust", trust.string(), "--store", store});
  publish(stories_q8(), "1.1", "0", "careful");
  const auto skipped = run_ok({"update", "--store", store});
  EXPECT_THAT(skipped.out, HasSubstr("version 1.1 of tiny is rolling out to 0% of devices; this device is not among them yet"));
  EXPECT_THAT(skipped.out, HasSubstr("tiny 1.0 is up to date"));
  expect_active(store, "tiny", "1.0", sha256_file(stories()));
  // Widening the rollout of the same version is just a re-add and a re-sign.
  publish(stories_q8(), "1.1", "100", "careful");
  EXPECT_THAT(run_ok({"update", "--store", store}).out, HasSubstr("updated tiny from 1.0 to 1.1"));
  // Re-publishing a version with other bytes is refused.
  EXPECT_THAT(run_fail({"hub", "add", hub_dir.string(), stories().string(), "--name", "tiny", "--version", "1.1"}).err,
              HasSubstr("already published with another file"));
}

TEST_F(HubCli, ModelsNeedingANewerBantamAreSkipped) {
  publish(stories(), "1.0");
  run_ok({"pull", "tiny", "--hub", server->url(), "--trust", trust.string(), "--store", store});
  run_ok({"hub", "add", hub_dir.string(), stories_q8().string(), "--name", "tiny", "--version", "2.0",
          "--min-bantam-version", "99.0"});
  run_ok({"hub", "sign", hub_dir.string(), "--keys", keys.string()});
  EXPECT_THAT(run_ok({"update", "--store", store}).out, HasSubstr("version 2.0 of tiny needs bantam 99.0 or newer"));
}

TEST_F(HubCli, ExpiredHubIsRefusedByTheCli) {
  publish(stories(), "1.0");
  run_ok({"hub", "sign", hub_dir.string(), "--keys", keys.string(), "--expires", "timestamp=-1h"});
  EXPECT_THAT(run_fail({"pull", "tiny", "--hub", server->url(), "--trust", trust.string(), "--store", store}).err,
              HasSubstr("timestamp.json expired at"));
  EXPECT_TRUE(list().empty());
}

}  // namespace
}  // namespace bantam::hub::testing
