// Fuzzes hub metadata as it arrives from a hub: bounded parse, then every role's reading,
// canonical JSON (what signatures cover) and the signature walk against a trusted key set.
// Anything may be refused with an error; nothing may crash, hang or grow without bound.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "bantam/error.hpp"
#include "hub/metadata.hpp"
#include "hub/signing.hpp"

namespace {

template <class F>
void refused_or_read(F&& read) {
  try {
    read();
  } catch (const bantam::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace bantam::hub;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  json doc;
  try {
    doc = parse_metadata_text(text, "fuzz.json");
  } catch (const bantam::Error&) {
    return 0;
  }
  static const std::vector<PublicKey> trusted = [] {
    std::vector<PublicKey> keys;
    keys.push_back(SigningKey::generate("root").public_key);
    return keys;
  }();
  refused_or_read([&] { canonical_json(doc); });
  refused_or_read([&] { PublicKey::from_json(doc, "fuzz.json").to_json(); });
  refused_or_read([&] { valid_signers(doc, trusted); });
  const json& signed_part = doc.is_object() && doc.contains("signed") ? doc["signed"] : doc;
  refused_or_read([&] { RootMeta::from_json(signed_part).to_json(); });
  refused_or_read([&] { TimestampMeta::from_json(signed_part).to_json(); });
  refused_or_read([&] { SnapshotMeta::from_json(signed_part).to_json(); });
  refused_or_read([&] { TargetsMeta::from_json(signed_part).to_json(); });
  return 0;
}
