#include "hub/verify.hpp"

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "hub/digest.hpp"

namespace bantam::hub {
namespace {

void check_reference(std::string_view text, const MetaFileRef& ref, const std::string& file,
                     const std::string& referrer) {
  if (text.size() != ref.length) {
    throw Error(fmt::format("{} is {} bytes but {} says {} (mix-and-match or tampering?)", file,
                            text.size(), referrer, ref.length));
  }
  if (sha256_hex(text) != ref.sha256) {
    throw Error(fmt::format("{} does not match the SHA-256 that {} lists (mix-and-match or tampering?)",
                            file, referrer));
  }
}

}  // namespace

void check_threshold(const json& doc, const RootMeta& root, std::string_view role,
                     const std::string& file) {
  const auto signers = valid_signers(doc, root.keys_for(role));
  const uint64_t threshold = root.role(role).threshold;
  if (signers.size() < threshold) {
    throw Error(fmt::format("{}: {} valid signature(s) from trusted {} keys, {} required", file,
                            signers.size(), role, threshold));
  }
}

void check_not_expired(TimePoint expires, TimePoint now, const std::string& file) {
  if (expires <= now) {
    throw Error(fmt::format("{} expired at {} (freeze attack or a stale hub?)", file,
                            format_time(expires)));
  }
}

RootMeta load_initial_root(const json& doc, const std::string& file) {
  RootMeta root = RootMeta::from_json(doc.at("signed"));
  check_threshold(doc, root, "root", file);
  return root;
}

RootMeta verify_next_root(const RootMeta& trusted, const json& doc, const std::string& file) {
  check_threshold(doc, trusted, "root", file + " (keys of root version " +
                                            std::to_string(trusted.version) + ")");
  RootMeta next = RootMeta::from_json(doc.at("signed"));
  if (next.version != trusted.version + 1) {
    throw Error(fmt::format("{} holds root version {}, expected {}", file, next.version,
                            trusted.version + 1));
  }
  check_threshold(doc, next, "root", file + " (its own root keys)");
  return next;
}

TimestampMeta verify_timestamp(const RootMeta& root, const json& doc,
                               const std::optional<TimestampMeta>& trusted, TimePoint now) {
  const std::string file = "timestamp.json";
  check_threshold(doc, root, "timestamp", file);
  TimestampMeta next = TimestampMeta::from_json(doc.at("signed"));
  if (trusted) {
    if (next.version < trusted->version) {
      throw Error(fmt::format("{}: version {} is older than the trusted version {} (rollback attack?)",
                              file, next.version, trusted->version));
    }
    if (next.snapshot.version < trusted->snapshot.version) {
      throw Error(fmt::format("{}: lists snapshot version {}, older than the trusted {} (rollback attack?)",
                              file, next.snapshot.version, trusted->snapshot.version));
    }
  }
  check_not_expired(next.expires, now, file);
  return next;
}

SnapshotMeta verify_snapshot(const RootMeta& root, std::string_view text,
                             const TimestampMeta& timestamp,
                             const std::optional<SnapshotMeta>& trusted, TimePoint now) {
  const std::string file = "snapshot.json";
  check_reference(text, timestamp.snapshot, file, "timestamp.json");
  const json doc = parse_metadata_text(text, file);
  check_threshold(doc, root, "snapshot", file);
  SnapshotMeta next = SnapshotMeta::from_json(doc.at("signed"));
  if (next.version != timestamp.snapshot.version) {
    throw Error(fmt::format("{}: version {} but timestamp.json lists {} (mix-and-match?)", file,
                            next.version, timestamp.snapshot.version));
  }
  if (trusted && next.targets.version < trusted->targets.version) {
    throw Error(fmt::format("{}: lists targets version {}, older than the trusted {} (rollback attack?)",
                            file, next.targets.version, trusted->targets.version));
  }
  check_not_expired(next.expires, now, file);
  return next;
}

TargetsMeta verify_targets(const RootMeta& root, std::string_view text, const SnapshotMeta& snapshot,
                           const std::optional<TargetsMeta>& trusted, TimePoint now) {
  const std::string file = "targets.json";
  check_reference(text, snapshot.targets, file, "snapshot.json");
  const json doc = parse_metadata_text(text, file);
  check_threshold(doc, root, "targets", file);
  TargetsMeta next = TargetsMeta::from_json(doc.at("signed"));
  if (next.version != snapshot.targets.version) {
    throw Error(fmt::format("{}: version {} but snapshot.json lists {} (mix-and-match?)", file,
                            next.version, snapshot.targets.version));
  }
  if (trusted && next.version < trusted->version) {
    throw Error(fmt::format("{}: version {} is older than the trusted version {} (rollback attack?)",
                            file, next.version, trusted->version));
  }
  check_not_expired(next.expires, now, file);
  return next;
}

}  // namespace bantam::hub
