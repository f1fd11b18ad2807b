// SHA-256 digests and hex encoding for the hub (libsodium underneath).
#pragma once

#include <sodium.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bantam::hub {

// Initializes libsodium once; every hub entry point that uses it calls this.
void ensure_sodium();

std::string to_hex(std::span<const uint8_t> bytes);
// Throws Error naming `what` when `hex` is not an even-length lowercase/uppercase hex string.
std::vector<uint8_t> from_hex(std::string_view hex, std::string_view what);
// Standard base64 with padding (RFC 4648), as OpenAI's encoding_format "base64" sends.
std::string to_base64(std::span<const uint8_t> bytes);
bool is_sha256_hex(std::string_view text);  // exactly 64 lowercase hex digits

// Incremental SHA-256.
class Sha256 {
 public:
  Sha256();
  void update(std::span<const uint8_t> bytes);
  void update(std::string_view text);
  std::string hex_digest();  // finishes; the object must not be updated afterwards

 private:
  crypto_hash_sha256_state state_;
};

std::string sha256_hex(std::string_view bytes);
// Hashes `length` bytes of `path` starting at `offset`; throws Error if the file is shorter.
std::string sha256_file_range(const std::filesystem::path& path, uint64_t offset, uint64_t length);
std::string sha256_file(const std::filesystem::path& path);

// `n` random bytes as hex (device ids, temp names).
std::string random_hex(size_t n);

}  // namespace bantam::hub
