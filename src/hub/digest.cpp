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
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
  out.pop_back();  // the terminating NUL
  return out;
}

std::vector<uint8_t> from_hex(std::string_view hex, std::string_view what) {
  if (hex.size() % 2 != 0) throw Error(fmt::format("{}: hex string of odd length", what));
  std::vector<uint8_t> out(hex.size() / 2);
  size_t length = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &length, &end) != 0 ||
      end != hex.data() + hex.size() || length != out.size()) {
    throw Error(fmt::format("{}: '{}' is not a hex string", what, hex.substr(0, 80)));
  }
  return out;
}

std::string to_base64(std::span<const uint8_t> bytes) {
  ensure_sodium();
  const int variant = sodium_base64_VARIANT_ORIGINAL;
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), variant);
  out.pop_back();  // the terminating NUL
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
