// The checks a device makes on each new piece of hub metadata before trusting it (TUF client
// workflow, no network here): role signature thresholds with keys from the trusted root,
// versions that never go back, expiry, and the hash/length/version links
// timestamp -> snapshot -> targets. Every failure throws Error saying which file and why.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "hub/metadata.hpp"

namespace bantam::hub {

// Throws unless `doc` carries valid signatures from at least the role's threshold of its keys.
void check_threshold(const json& doc, const RootMeta& root, std::string_view role,
                     const std::string& file);
void check_not_expired(TimePoint expires, TimePoint now, const std::string& file);

// A root trusted from a file the user named: it must at least be signed by its own root keys.
RootMeta load_initial_root(const json& doc, const std::string& file);

// Root version `trusted.version + 1`: signed by the threshold of the old root's root keys AND
// of its own (so a rotation needs both the old and the new keys).
RootMeta verify_next_root(const RootMeta& trusted, const json& doc, const std::string& file);

TimestampMeta verify_timestamp(const RootMeta& root, const json& doc,
                               const std::optional<TimestampMeta>& trusted, TimePoint now);

// `text` is the raw file, hashed before it is parsed.
SnapshotMeta verify_snapshot(const RootMeta& root, std::string_view text,
                             const TimestampMeta& timestamp,
                             const std::optional<SnapshotMeta>& trusted, TimePoint now);

TargetsMeta verify_targets(const RootMeta& root, std::string_view text, const SnapshotMeta& snapshot,
                           const std::optional<TargetsMeta>& trusted, TimePoint now);

}  // namespace bantam::hub
