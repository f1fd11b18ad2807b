// Canonical JSON and Ed25519 keys/signatures for hub metadata.
// What is signed is canonical_json(envelope["signed"]): sorted keys, no whitespace, no floats,
// so publisher and device agree byte for byte on the signed message.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace bantam::hub {

using nlohmann::json;

// Throws Error on floating-point numbers (their text form is not canonical).
std::string canonical_json(const json& value);

struct PublicKey {
  std::string id;                    // sha256 of the canonical JSON of to_json()
  std::array<uint8_t, 32> bytes{};   // Ed25519 public key

  static PublicKey from_bytes(const std::array<uint8_t, 32>& bytes);
  // `where` names the metadata field in errors, e.g. "root.json keys[ab12...]".
  static PublicKey from_json(const json& value, const std::string& where);
  json to_json() const;  // {"keytype":"ed25519","keyval":{"public":HEX},"scheme":"ed25519"}
};

// A private key with the role it was made for; stored as a JSON file readable by its owner only.
struct SigningKey {
  std::string role;
  PublicKey public_key;
  std::array<uint8_t, 64> secret{};

  static SigningKey generate(const std::string& role);
  static SigningKey load(const std::filesystem::path& path);
  void save(const std::filesystem::path& path) const;  // refuses to overwrite an existing file
  std::string sign(std::string_view message) const;     // hex signature
};

bool verify_signature(const PublicKey& key, std::string_view message, std::string_view sig_hex);

// {"signatures":[{"keyid":..,"sig":..}...],"signed":signed_part}
json sign_envelope(const json& signed_part, const std::vector<SigningKey>& keys);

// Keys whose signature over envelope["signed"] verifies, among `trusted` (deduplicated by id).
std::vector<std::string> valid_signers(const json& envelope, const std::vector<PublicKey>& trusted);

}  // namespace bantam::hub
