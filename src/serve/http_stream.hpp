// The byte stream under one HTTP connection: plain TCP, or TLS over it (`--tls-cert/--tls-key`,
// OpenSSL through Boost.Beast's ssl_stream). Deadlines are set on the TCP stream beneath either
// way, and the TLS layer's reads and writes are that stream's, so every total deadline of a
// connection (http_connection.hpp) bounds the TLS handshake and records too.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <memory>
#include <optional>

#include "serve/http_server.hpp"

namespace bantam::serve {

namespace net = boost::asio;
namespace beast = boost::beast;

// The server's TLS settings from the certificate chain and private key files (PEM): Error naming
// the file that cannot be read or parsed, or the pair when the key does not match the certificate.
std::unique_ptr<net::ssl::context> make_tls_context(const HttpTlsFiles& files);

class HttpStream {
 public:
  using executor_type = beast::tcp_stream::executor_type;

  // `tls`: null for plain HTTP; else it outlives the stream.
  HttpStream(net::ip::tcp::socket socket, net::ssl::context* tls) {
    if (tls) {
      tls_.emplace(beast::tcp_stream(std::move(socket)), *tls);
    } else {
      plain_.emplace(std::move(socket));
    }
  }

  // A TLS port: bytes are encrypted once encrypt() has been called (before the handshake), so
  // that a plain-HTTP client of this port can be answered in plain text.
  bool tls_port() const { return tls_.has_value(); }
  bool encrypting() const { return encrypting_; }
  beast::ssl_stream<beast::tcp_stream>& encrypt() {
    encrypting_ = true;
    return *tls_;
  }

  beast::tcp_stream& tcp() { return tls_ ? tls_->next_layer() : *plain_; }
  net::ip::tcp::socket& socket() { return tcp().socket(); }
  executor_type get_executor() { return tcp().get_executor(); }
  void expires_after(std::chrono::steady_clock::duration d) { tcp().expires_after(d); }
  void expires_at(std::chrono::steady_clock::time_point t) { tcp().expires_at(t); }
  void expires_never() { tcp().expires_never(); }
  void close() { tcp().close(); }

  // Asio's AsyncReadStream and AsyncWriteStream, for Beast's HTTP reads and the writes.
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    if (encrypting_) return tls_->async_read_some(buffers, std::forward<Token>(token));
    return tcp().async_read_some(buffers, std::forward<Token>(token));
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    if (encrypting_) return tls_->async_write_some(buffers, std::forward<Token>(token));
    return tcp().async_write_some(buffers, std::forward<Token>(token));
  }

 private:
  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
  bool encrypting_ = false;
};

}  // namespace bantam::serve
