// Canonical JSON, keys and signatures, metadata parsing, names, versions and rollout cohorts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "bantam/error.hpp"
#include "hub/client.hpp"
#include "hub/verify.hpp"
#include "hub_fixture.hpp"

namespace bantam::hub::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

TEST(CanonicalJson, SortsKeysDropsWhitespaceAndRefusesFloats) {
  const json doc = json::parse(R"({ "b": [1, {"z": true, "a": null}], "a": "é\n" })");
  EXPECT_EQ(canonical_json(doc), "{\"a\":\"é\\n\",\"b\":[1,{\"a\":null,\"z\":true}]}");
  EXPECT_THAT([] { canonical_json(json::parse(R"({"x": [0.5]})")); },
              ThrowsMessage<Error>(HasSubstr("floating-point numbers are not allowed")));
}

TEST(Signing, SignaturesVerifyOnlyForTheSignedBytesAndKey) {
  const SigningKey key = SigningKey::generate("targets");
  const SigningKey other = SigningKey::generate("targets");
  const std::string sig = key.sign("message");
  EXPECT_TRUE(verify_signature(key.public_key, "message", sig));
  EXPECT_FALSE(verify_signature(key.public_key, "messagE", sig));
  EXPECT_FALSE(verify_signature(other.public_key, "message", sig));
  EXPECT_FALSE(verify_signature(key.public_key, "message", "zz"));

  const json envelope = sign_envelope(json{{"k", 1}}, {key, other});
  EXPECT_EQ(valid_signers(envelope, {key.public_key}), std::vector<std::string>{key.public_key.id});
  json changed = envelope;
  changed["signed"]["k"] = 2;
  EXPECT_TRUE(valid_signers(changed, {key.public_key, other.public_key}).empty());
}

TEST(Signing, KeyFilesRoundTripAndAreNeverOverwritten) {
  const fs::path file = test::temp_dir() / "a.key";
  const SigningKey key = SigningKey::generate("snapshot");
  key.save(file);
  const SigningKey loaded = SigningKey::load(file);
  EXPECT_EQ(loaded.role, "snapshot");
  EXPECT_EQ(loaded.public_key.id, key.public_key.id);
  EXPECT_EQ(loaded.sign("x"), key.sign("x"));
  EXPECT_THAT([&] { key.save(file); }, ThrowsMessage<Error>(HasSubstr("cannot create key file")));
  json doc = json::parse(read_text_file(file));
  doc["public"] = to_hex(SigningKey::generate("x").public_key.bytes);
  test::write_file(file, doc.dump());
  EXPECT_THAT([&] { SigningKey::load(file); }, ThrowsMessage<Error>(HasSubstr("does not match the secret key")));
}

// Found by fuzz_hub_metadata: members of the wrong type are a refused key, not a JSON exception.
TEST(Signing, PublicKeyMembersOfTheWrongTypeAreRefused) {
  const json good = SigningKey::generate("root").public_key.to_json();
  EXPECT_NO_THROW(PublicKey::from_json(good, "root.json keys[k]"));
  for (const char* member : {"keytype", "scheme", "keyval"}) {
    json bad = good;
    bad[member] = json::array({"ed25519"});
    EXPECT_THROW(PublicKey::from_json(bad, "root.json keys[k]"), Error) << member;
  }
  json bad = good;
  bad["keyval"]["public"] = 7;
  EXPECT_THROW(PublicKey::from_json(bad, "root.json keys[k]"), Error);
}

TEST(Names, PathTraversalAndControlCharactersAreUnsafe) {
  for (const std::string ok : {"tiny", "llama-3.2-1b", "Qwen2.5_0.5B+q4", "1.0", "2024-05-01"}) {
    EXPECT_EQ(unsafe_name_reason(ok), "") << ok;
  }
  EXPECT_THAT(unsafe_name_reason("a/b"), HasSubstr("path separator"));
  EXPECT_THAT(unsafe_name_reason("/abs"), HasSubstr("path separator"));
  EXPECT_THAT(unsafe_name_reason("a\\b"), HasSubstr("path separator"));
  EXPECT_THAT(unsafe_name_reason("x..y"), HasSubstr("'..'"));
  EXPECT_THAT(unsafe_name_reason(".hidden"), HasSubstr("starts with"));
  EXPECT_THAT(unsafe_name_reason("-rf"), HasSubstr("starts with"));
  EXPECT_THAT(unsafe_name_reason("a\x1b[31m"), HasSubstr("control character"));
  EXPECT_THAT(unsafe_name_reason(""), HasSubstr("empty"));
  EXPECT_THAT(unsafe_name_reason("a:b"), HasSubstr("':'"));
  EXPECT_THAT(unsafe_name_reason(std::string(200, 'a')), HasSubstr("longer than"));
}

TEST(Versions, CompareNumericallyPartByPart) {
  EXPECT_LT(compare_versions("1.9", "1.10"), 0);
  EXPECT_GT(compare_versions("2.0", "1.99.9"), 0);
  EXPECT_EQ(compare_versions("1.02", "1.2"), 0);
  EXPECT_LT(compare_versions("1.0", "1.0.1"), 0);
  EXPECT_LT(compare_versions("1.0-rc1", "1.0"), 0);
  EXPECT_LT(compare_versions("1.0-rc1", "1.0-rc2"), 0);
  EXPECT_GT(compare_versions("0.1.0", "0.0.9"), 0);
}

TEST(Times, FormatAndParseRoundTrip) {
  const TimePoint t = parse_time("2026-07-26T12:34:56Z", "test");
  EXPECT_EQ(format_time(t), "2026-07-26T12:34:56Z");
  EXPECT_THAT([] { parse_time("2026-07-26 12:34", "f.json expires"); },
              ThrowsMessage<Error>(HasSubstr("f.json expires: '2026-07-26 12:34' is not a UTC time")));
}

TEST(Rollout, CohortsAreDeterministicProportionalAndOnlyGrow) {
  int in_at_30 = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string device = random_hex(16);
    const bool at30 = in_rollout_cohort(device, "tiny", 30);
    EXPECT_EQ(at30, in_rollout_cohort(device, "tiny", 30));
    if (at30) {
      ++in_at_30;
      EXPECT_TRUE(in_rollout_cohort(device, "tiny", 60));
    }
    EXPECT_FALSE(in_rollout_cohort(device, "tiny", 0));
    EXPECT_TRUE(in_rollout_cohort(device, "tiny", 100));
  }
  EXPECT_NEAR(in_at_30, 600, 120);
  // The cohort depends on the model too, so one unlucky device is not last for every model.
  int differs = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string device = random_hex(16);
    differs += in_rollout_cohort(device, "a", 50) != in_rollout_cohort(device, "b", 50);
  }
  EXPECT_GT(differs, 40);
}

json valid_target() {
  return ModelTarget{.name = "tiny", .version = "1.0", .sha256 = std::string(64, 'a'), .size = 3000,
                     .gguf_type = "F32", .architecture = "llama", .min_bantam_version = "", .rollout = 100,
                     .notes = "", .chunk_size = 1024,
                     .chunks = {std::string(64, 'b'), std::string(64, 'c'), std::string(64, 'd')}}
      .to_json();
}

TEST(Metadata, TargetsAreParsedStrictly) {
  EXPECT_NO_THROW(ModelTarget::from_json(valid_target(), "t"));
  auto broken = [](const char* key, json value) {
    json t = valid_target();
    if (value.is_discarded()) {
      t.erase(key);
    } else {
      t[key] = value;
    }
    return t;
  };
  const json gone = json(json::value_t::discarded);
  EXPECT_THAT([&] { ModelTarget::from_json(broken("sha256", gone), "t"); },
              ThrowsMessage<Error>(HasSubstr("missing field 'sha256'")));
  EXPECT_THAT([&] { ModelTarget::from_json(broken("sha256", "ABC"), "t"); },
              ThrowsMessage<Error>(HasSubstr("not a lowercase hex SHA-256")));
  EXPECT_THAT([&] { ModelTarget::from_json(broken("size", -1), "t"); },
              ThrowsMessage<Error>(HasSubstr("'size' must be a non-negative integer")));
  EXPECT_THAT([&] { ModelTarget::from_json(broken("rollout", 101), "t"); },
              ThrowsMessage<Error>(HasSubstr("over 100%")));
  EXPECT_THAT([&] { ModelTarget::from_json(broken("size", 5000), "t"); },
              ThrowsMessage<Error>(HasSubstr("3 chunk hashes for 5000 bytes")));
  json twice = TargetsMeta{}.to_json();
  twice["models"] = {valid_target(), valid_target()};
  EXPECT_THAT([&] { TargetsMeta::from_json(twice); }, ThrowsMessage<Error>(HasSubstr("tiny:1.0 is listed twice")));
}

TEST(Metadata, RootThresholdsMustBeReachable) {
  TestHub hub;
  json root = hub.signed_part("root.json");
  root["roles"]["targets"]["threshold"] = 2;
  EXPECT_THAT([&] { RootMeta::from_json(root); }, ThrowsMessage<Error>(HasSubstr("threshold 2 with 1 keys")));
  root["roles"]["targets"]["threshold"] = 0;
  EXPECT_THAT([&] { RootMeta::from_json(root); }, ThrowsMessage<Error>(HasSubstr("threshold 0 with 1 keys")));
  root = hub.signed_part("root.json");
  root["roles"]["targets"]["keyids"] = {std::string(64, 'f')};
  EXPECT_THAT([&] { RootMeta::from_json(root); }, ThrowsMessage<Error>(HasSubstr("is not among the root's keys")));
}

TEST(Verify, NewerTrustedStateRefusesOlderMetadata) {
  TestHub hub;
  hub.add(stories(), "tiny", "1.0");
  hub.sign();
  const RootMeta root = RootMeta::from_json(hub.signed_part("root.json"));
  const auto now = now_seconds();
  const json timestamp_doc = json::parse(read_text_file(hub.dir / "timestamp.json"));
  const TimestampMeta timestamp = verify_timestamp(root, timestamp_doc, std::nullopt, now);
  TimestampMeta newer = timestamp;
  newer.version += 1;
  EXPECT_THAT([&] { verify_timestamp(root, timestamp_doc, newer, now); },
              ThrowsMessage<Error>(HasSubstr("older than the trusted version")));

  const std::string snapshot_text = read_text_file(hub.dir / "snapshot.json");
  const SnapshotMeta snapshot = verify_snapshot(root, snapshot_text, timestamp, std::nullopt, now);
  SnapshotMeta ahead = snapshot;
  ahead.targets.version += 1;
  EXPECT_THAT([&] { verify_snapshot(root, snapshot_text, timestamp, ahead, now); },
              ThrowsMessage<Error>(HasSubstr("lists targets version 2, older than the trusted 3")));
  const std::string targets_text = read_text_file(hub.dir / "targets.json");
  EXPECT_EQ(verify_targets(root, targets_text, snapshot, std::nullopt, now).models.size(), 1u);
  EXPECT_THAT([&] { verify_targets(root, targets_text, snapshot, std::nullopt, now + std::chrono::hours(24 * 400)); },
              ThrowsMessage<Error>(HasSubstr("targets.json expired at")));
}

}  // namespace
}  // namespace bantam::hub::testing
