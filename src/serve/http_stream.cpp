#include "serve/http_stream.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "bantam/error.hpp"

namespace bantam::serve {

namespace {

// OpenSSL's reason for the last failure, and its error queue emptied for the next call.
std::string openssl_reason() {
  const unsigned long code = ERR_peek_error();  // the first, closest to the cause
  std::string reason = "unknown reason";
  if (code != 0) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    reason = text;
  }
  ERR_clear_error();
  return reason;
}

void check_readable(const std::string& path, const char* what) {
  std::ifstream file(path);
  if (!file) throw Error(fmt::format("cannot read the {} {}: {}", what, path, std::strerror(errno)));
}

// Encrypted keys would make OpenSSL ask for a passphrase on the terminal; a server refuses them.
int no_passphrase(char*, int, int, void*) { return 0; }

}  // namespace

std::unique_ptr<net::ssl::context> make_tls_context(const HttpTlsFiles& files) {
  constexpr const char* kCert = "TLS certificate (--tls-cert)";
  constexpr const char* kKey = "TLS private key (--tls-key)";
  check_readable(files.cert_file, kCert);
  check_readable(files.key_file, kKey);
  auto context = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
  SSL_CTX* ctx = context->native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, files.cert_file.c_str()) != 1) {
    throw Error(fmt::format("the {} {} holds no usable PEM certificate: {}", kCert, files.cert_file, openssl_reason()));
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(files.key_file.c_str(), "r"), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr) : nullptr, EVP_PKEY_free);
  if (!key) {
    throw Error(fmt::format("the {} {} holds no usable PEM private key (an encrypted key needs decrypting first): {}",
                            kKey, files.key_file, openssl_reason()));
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    throw Error(fmt::format("the {} {} does not match the {} {}: {}", kKey, files.key_file, kCert, files.cert_file,
                            openssl_reason()));
  }
  return context;
}

}  // namespace bantam::serve
