// The attacks TUF defends against, each over real HTTP on loopback: every one is refused with a
// clear error while the model installed before keeps working (active, intact, loadable).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "bantam/error.hpp"
#include "hub_fixture.hpp"

namespace bantam::hub::testing {
namespace {

using ::testing::HasSubstr;

class HubAttack : public ::testing::Test {
 protected:
  virtual InitOptions hub_options() const { return {}; }

  void SetUp() override {
    hub = std::make_unique<TestHub>(hub_options());
    v1 = hub->add(stories(), "tiny", "1.0", 100, "first");
    hub->sign();
    server = std::make_unique<test::LoopbackServer>(hub->dir);
    store_dir = test::temp_dir() / "store";
    trusted_root = test::temp_dir() / "root.json";
    fs::copy_file(hub->dir / "root.json", trusted_root);
    Store store = Store::open(store_dir);
    pull_from_hub(store, server->url(), "tiny", "", fast_client(trusted_root));
    expect_active(store_dir, "tiny", "1.0", v1.sha256);
  }

  ModelTarget publish_v2(const SignOptions& sign = {}) {
    const auto t = hub->add(stories_q8(), "tiny", "1.1", 100, "second");
    hub->sign(sign);
    return t;
  }

  // Targets with 1.1 added, as a publisher would sign them.
  json targets_with_v2() {
    json targets = hub->signed_part("targets.json");
    targets["models"].push_back(hub->add(stories_q8(), "tiny", "1.1").to_json());
    return targets;
  }

  // Tries to move to the newest version; expects `message` and 1.0 still active.
  void expect_rejected(const std::string& message, const std::string& active = "1.0") {
    Store store = Store::open(store_dir);
    const auto start = std::chrono::steady_clock::now();
    try {
      pull_from_hub(store, server->url(), "tiny", "", fast_client(trusted_root));
      ADD_FAILURE() << "the update was accepted";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr(message));
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
    expect_active(store_dir, "tiny", active, active == "1.0" ? v1.sha256 : v2_sha);
    for (const auto& m : store.list()) EXPECT_EQ(m.name, "tiny");
  }

  std::unique_ptr<TestHub> hub;
  std::unique_ptr<test::LoopbackServer> server;
  ModelTarget v1;
  std::string v2_sha;
  fs::path store_dir, trusted_root;
};

TEST_F(HubAttack, UntamperedUpdateIsAccepted) {
  const auto v2 = publish_v2();
  Store store = Store::open(store_dir);
  const auto result = pull_from_hub(store, server->url(), "tiny", "", fast_client(trusted_root));
  EXPECT_EQ(result.target.version, "1.1");
  expect_active(store_dir, "tiny", "1.1", v2.sha256);
}

TEST_F(HubAttack, TamperedBlobIsRefused) {
  const auto v2 = publish_v2();
  const fs::path blob = hub->dir / "blobs" / "sha256" / v2.sha256;
  std::fstream f(blob, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(100000);
  f.put('\x5a');
  f.close();
  expect_rejected("failed its SHA-256 check");
}

TEST_F(HubAttack, TamperedTargetsIsRefused) {
  publish_v2();
  const auto version = hub->signed_part("targets.json")["version"].get<uint64_t>();
  const fs::path file = hub->dir / (std::to_string(version) + ".targets.json");
  json doc = json::parse(read_text_file(file));
  // Same length, one hex digit changed: only the snapshot's hash can tell.
  std::string sha = doc["signed"]["models"][1]["sha256"];
  sha[0] = sha[0] == '0' ? '1' : '0';
  doc["signed"]["models"][1]["sha256"] = sha;
  write_file_atomic(file, doc.dump(2) + "\n");
  expect_rejected("does not match the SHA-256 that snapshot.json lists");
}

TEST_F(HubAttack, TargetsSignedByAnUntrustedKeyAreRefused) {
  hub->publish_targets_signed_by(targets_with_v2(), {SigningKey::generate("targets")});
  expect_rejected("targets.json: 0 valid signature(s) from trusted targets keys, 1 required");
}

TEST_F(HubAttack, TimestampSignedByAnUntrustedKeyIsRefused) {
  publish_v2();
  const json timestamp = hub->signed_part("timestamp.json");
  write_file_atomic(hub->dir / "timestamp.json",
                    sign_envelope(timestamp, {SigningKey::generate("timestamp")}).dump());
  expect_rejected("timestamp.json: 0 valid signature(s) from trusted timestamp keys");
}

class HubAttackThreshold : public HubAttack {
 protected:
  InitOptions hub_options() const override { return {.thresholds = {{"targets", 2}}}; }
};

TEST_F(HubAttackThreshold, OneOfTwoRequiredSignaturesIsRefused) {
  hub->publish_targets_signed_by(targets_with_v2(), {hub->key("targets.key")});
  expect_rejected("targets.json: 1 valid signature(s) from trusted targets keys, 2 required");
}

TEST_F(HubAttackThreshold, TheSameSignatureTwiceCountsOnce) {
  json targets = targets_with_v2();
  targets["version"] = hub->signed_part("targets.json")["version"].get<uint64_t>() + 1;
  json doc = sign_envelope(targets, {hub->key("targets.key")});
  doc["signatures"].push_back(doc["signatures"][0]);
  const auto signers = valid_signers(doc, {hub->key("targets.key").public_key, hub->key("targets-2.key").public_key});
  EXPECT_EQ(signers.size(), 1u);
}

TEST_F(HubAttackThreshold, BothRequiredSignaturesAreAccepted) {
  hub->publish_targets_signed_by(targets_with_v2(), {hub->key("targets.key"), hub->key("targets-2.key")});
  Store store = Store::open(store_dir);
  EXPECT_EQ(pull_from_hub(store, server->url(), "tiny", "", fast_client(trusted_root)).target.version, "1.1");
}

TEST_F(HubAttackThreshold, PublisherRefusesToSignWithTooFewKeys) {
  fs::remove(hub->keys / "targets-2.key");
  hub->add(stories_q8(), "tiny", "1.1");
  try {
    hub->sign();
    ADD_FAILURE() << "signed with 1 of 2 targets keys";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("holds 1 of the 2 targets key(s) needed"));
  }
}

TEST_F(HubAttack, RollbackToOlderMetadataIsRefused) {
  const fs::path old_hub = test::temp_dir() / "old-hub";
  fs::copy(hub->dir, old_hub, fs::copy_options::recursive);
  const auto v2 = publish_v2();
  v2_sha = v2.sha256;
  Store store = Store::open(store_dir);
  pull_from_hub(store, server->url(), "tiny", "", fast_client(trusted_root));
  server->set_root(old_hub);  // replay the hub as it was before 1.1
  expect_rejected("is older than the trusted version", "1.1");
}

TEST_F(HubAttack, ExpiredTimestampIsRefused) {
  publish_v2({.expires_in = {{"timestamp", std::chrono::hours(-1)}}});
  expect_rejected("timestamp.json expired at");
}

TEST_F(HubAttack, ExpiredTargetsAreRefused) {
  publish_v2({.expires_in = {{"targets", std::chrono::seconds(-60)}}});
  expect_rejected("targets.json expired at");
}

TEST_F(HubAttack, MixAndMatchSnapshotIsRefused) {
  publish_v2();
  const auto version = hub->signed_part("snapshot.json")["version"].get<uint64_t>();
  // An older, validly signed snapshot served in place of the one the timestamp names.
  fs::copy_file(hub->dir / (std::to_string(version - 1) + ".snapshot.json"),
                hub->dir / (std::to_string(version) + ".snapshot.json"), fs::copy_options::overwrite_existing);
  expect_rejected("does not match the SHA-256 that timestamp.json lists");
}

TEST_F(HubAttack, EndlessMetadataIsCut) {
  publish_v2();
  server->set_behavior("/timestamp.json", {.endless = true});
  expect_rejected("larger than the 65536 bytes allowed");
}

TEST_F(HubAttack, EndlessBlobIsCutAtTheSignedSize) {
  publish_v2();
  server->set_behavior("/blobs/", {.endless = true});
  expect_rejected("server sent more than the signed size");
}

TEST_F(HubAttack, SlowRetrievalIsAbandoned) {
  publish_v2();
  server->set_behavior("/blobs/", {.stall = true});
  expect_rejected("slow retrieval attack?");
}

TEST_F(HubAttack, PathTraversalInTargetNamesIsRefused) {
  for (const std::string name : {"../../evil", "/etc/passwd", "a/b", "..", "x\x01y", "C:\\evil"}) {
    SCOPED_TRACE(name);
    json targets = targets_with_v2();
    targets["models"][1]["name"] = name;
    hub->publish_targets_signed_by(targets, {hub->key("targets.key")});
    expect_rejected("is unsafe");
  }
  json targets = targets_with_v2();
  targets["models"][1]["version"] = "../1.1";
  hub->publish_targets_signed_by(targets, {hub->key("targets.key")});
  expect_rejected("is unsafe");
  EXPECT_FALSE(fs::exists(store_dir.parent_path() / "evil"));
}

TEST_F(HubAttack, RootSignedOnlyByANewKeyIsRefused) {
  RootMeta next = RootMeta::from_json(hub->signed_part("root.json"));
  const SigningKey attacker = SigningKey::generate("root");
  next.version = 2;
  next.keys.emplace(attacker.public_key.id, attacker.public_key);
  next.roles["root"] = {{attacker.public_key.id}, 1};
  write_file_atomic(hub->dir / "2.root.json", sign_envelope(next.to_json(), {attacker}).dump());
  publish_v2();
  expect_rejected("2.root.json (keys of root version 1): 0 valid signature(s)");
}

}  // namespace
}  // namespace bantam::hub::testing
