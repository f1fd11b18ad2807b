#include "hub/digest.hpp"

#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "bantam/error.hpp"

namespace bantam::hub {

void ensure_sodium() {
  static const int status = sodium_init();
  if (status < 0) throw Error("libsodium failed to initialize");
}

std::string to_hex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

std::vector<uint8_t> from_hex(std::string_view hex, std::string_view what) {
  auto nibble = [&](char c) -> uint8_t {
    if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<uint8_t>(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return static_cast<uint8_t>(c - 'A' + 10);
    throw Error(fmt::format("{}: '{}' is not a hex string", what, hex.substr(0, 80)));
  };
  if (hex.size() % 2 != 0) throw Error(fmt::format("{}: hex string of odd length", what));
  std::vector<uint8_t> out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  }
  return out;
}

bool is_sha256_hex(std::string_view text) {
  if (text.size() != 64) return false;
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Sha256::Sha256() {
  ensure_sodium();
  crypto_hash_sha256_init(&state_);
}

void Sha256::update(std::span<const uint8_t> bytes) {
  crypto_hash_sha256_update(&state_, bytes.data(), bytes.size());
}

void Sha256::update(std::string_view text) {
  update(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

std::string Sha256::hex_digest() {
  std::array<uint8_t, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256_final(&state_, digest.data());
  return to_hex(digest);
}

std::string sha256_hex(std::string_view bytes) {
  Sha256 h;
  h.update(bytes);
  return h.hex_digest();
}

std::string sha256_file_range(const std::filesystem::path& path, uint64_t offset, uint64_t length) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw Error(fmt::format("cannot open {} to hash it", path.string()));
  if (fseeko(file.get(), static_cast<off_t>(offset), SEEK_SET) != 0) {
    throw Error(fmt::format("cannot seek to byte {} of {}", offset, path.string()));
  }
  Sha256 h;
  std::vector<uint8_t> buffer(1 << 16);
  uint64_t left = length;
  while (left > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(left, buffer.size()));
    const size_t got = std::fread(buffer.data(), 1, want, file.get());
    if (got == 0) {
      throw Error(fmt::format("{} ends before byte {}", path.string(), offset + length));
    }
    h.update(std::span(buffer.data(), got));
    left -= got;
  }
  return h.hex_digest();
}

std::string sha256_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(fmt::format("cannot read {}: {}", path.string(), ec.message()));
  return sha256_file_range(path, 0, size);
}

std::string random_hex(size_t n) {
  ensure_sodium();
  std::vector<uint8_t> bytes(n);
  randombytes_buf(bytes.data(), bytes.size());
  return to_hex(bytes);
}

}  // namespace bantam::hub
