#include "hub/signing.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "format/json_input.hpp"
#include "hub/digest.hpp"

namespace bantam::hub {
namespace {

void reject_floats(const json& value) {
  if (value.is_number_float()) {
    throw Error("canonical JSON: floating-point numbers are not allowed in signed metadata");
  }
  if (value.is_structured()) {
    for (const auto& item : value) reject_floats(item);
  }
}

}  // namespace

std::string canonical_json(const json& value) {
  reject_floats(value);
  try {
    // nlohmann::json keeps objects in a std::map, so keys come out sorted bytewise.
    return value.dump();
  } catch (const json::exception& e) {
    throw Error(fmt::format("canonical JSON: {}", e.what()));
  }
}

PublicKey PublicKey::from_bytes(const std::array<uint8_t, 32>& bytes) {
  PublicKey key;
  key.bytes = bytes;
  key.id = sha256_hex(canonical_json(key.to_json()));
  return key;
}

PublicKey PublicKey::from_json(const json& value, const std::string& where) {
  // Checked member by member: json::value() throws its own exception on a member of another type.
  const auto is_ed25519 = [&](const char* name) {
    const auto it = value.find(name);
    return it != value.end() && it->is_string() && it->get<std::string>() == "ed25519";
  };
  if (!value.is_object() || !is_ed25519("keytype") || !is_ed25519("scheme") || !value.contains("keyval") ||
      !value["keyval"].is_object() || !value["keyval"].contains("public") ||
      !value["keyval"]["public"].is_string()) {
    throw Error(fmt::format("{}: not an ed25519 public key object", where));
  }
  const auto raw = from_hex(value["keyval"]["public"].get<std::string>(), where);
  if (raw.size() != 32) throw Error(fmt::format("{}: public key is not 32 bytes", where));
  std::array<uint8_t, 32> bytes{};
  std::copy(raw.begin(), raw.end(), bytes.begin());
  return from_bytes(bytes);
}

json PublicKey::to_json() const {
  return json{{"keytype", "ed25519"}, {"scheme", "ed25519"}, {"keyval", {{"public", to_hex(bytes)}}}};
}

SigningKey SigningKey::generate(const std::string& role) {
  ensure_sodium();
  SigningKey key;
  key.role = role;
  std::array<uint8_t, 32> pub{};
  crypto_sign_keypair(pub.data(), key.secret.data());
  key.public_key = PublicKey::from_bytes(pub);
  return key;
}

SigningKey SigningKey::load(const std::filesystem::path& path) {
  json doc;
  try {
    doc = read_json_file(path);
  } catch (const Error& e) {
    throw Error(fmt::format("key file {}", e.what()));
  }
  const std::string where = "key file " + path.string();
  if (!doc.is_object() || !doc.contains("role") || !doc["role"].is_string() ||
      !doc.contains("secret") || !doc["secret"].is_string()) {
    throw Error(where + ": expected {\"role\", \"keytype\", \"public\", \"secret\"}");
  }
  SigningKey key;
  key.role = doc["role"].get<std::string>();
  const auto secret = from_hex(doc["secret"].get<std::string>(), where);
  if (secret.size() != key.secret.size()) throw Error(where + ": secret key is not 64 bytes");
  std::copy(secret.begin(), secret.end(), key.secret.begin());
  std::array<uint8_t, 32> pub{};
  ensure_sodium();
  crypto_sign_ed25519_sk_to_pk(pub.data(), key.secret.data());
  key.public_key = PublicKey::from_bytes(pub);
  if (doc.contains("public") && doc["public"] != to_hex(pub)) {
    throw Error(where + ": public key does not match the secret key");
  }
  return key;
}

void SigningKey::save(const std::filesystem::path& path) const {
  const json doc{{"role", role},
                 {"keytype", "ed25519"},
                 {"keyid", public_key.id},
                 {"public", to_hex(public_key.bytes)},
                 {"secret", to_hex(secret)}};
  const std::string text = doc.dump(2) + "\n";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw Error(fmt::format("cannot create key file {}: {}", path.string(), std::strerror(errno)));
  }
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const bool closed = ::close(fd) == 0;
  if (!ok || !closed) throw Error(fmt::format("cannot write key file {}", path.string()));
}

std::string SigningKey::sign(std::string_view message) const {
  std::array<uint8_t, crypto_sign_BYTES> sig{};
  crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const uint8_t*>(message.data()),
                       message.size(), secret.data());
  return to_hex(sig);
}

bool verify_signature(const PublicKey& key, std::string_view message, std::string_view sig_hex) {
  ensure_sodium();
  std::vector<uint8_t> sig;
  try {
    sig = from_hex(sig_hex, "signature");
  } catch (const Error&) {
    return false;
  }
  if (sig.size() != crypto_sign_BYTES) return false;
  return crypto_sign_verify_detached(sig.data(), reinterpret_cast<const uint8_t*>(message.data()),
                                     message.size(), key.bytes.data()) == 0;
}

json sign_envelope(const json& signed_part, const std::vector<SigningKey>& keys) {
  const std::string message = canonical_json(signed_part);
  json signatures = json::array();
  std::set<std::string> seen;
  for (const auto& key : keys) {
    if (!seen.insert(key.public_key.id).second) continue;
    signatures.push_back({{"keyid", key.public_key.id}, {"sig", key.sign(message)}});
  }
  return json{{"signed", signed_part}, {"signatures", signatures}};
}

std::vector<std::string> valid_signers(const json& envelope, const std::vector<PublicKey>& trusted) {
  std::vector<std::string> signers;
  if (!envelope.is_object() || !envelope.contains("signed") || !envelope.contains("signatures") ||
      !envelope["signatures"].is_array()) {
    return signers;
  }
  const std::string message = canonical_json(envelope["signed"]);
  for (const auto& entry : envelope["signatures"]) {
    if (!entry.is_object() || !entry.contains("keyid") || !entry["keyid"].is_string() ||
        !entry.contains("sig") || !entry["sig"].is_string()) {
      continue;
    }
    const std::string keyid = entry["keyid"].get<std::string>();
    if (std::find(signers.begin(), signers.end(), keyid) != signers.end()) continue;
    const auto key = std::find_if(trusted.begin(), trusted.end(),
                                  [&](const PublicKey& k) { return k.id == keyid; });
    if (key != trusted.end() && verify_signature(*key, message, entry["sig"].get<std::string>())) {
      signers.push_back(keyid);
    }
  }
  return signers;
}

}  // namespace bantam::hub
