#include "serve/http_connection.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <optional>
#include <system_error>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <fmt/format.h>

namespace bantam::serve {

namespace http = beast::http;
using Clock = std::chrono::steady_clock;

namespace {

// Bounds the header block and, as the size of the read buffer, a chunk-size line and the trailer
// section, which Beast's parser leaves to the buffer.
constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr auto kLinger = std::chrono::seconds(2);
constexpr size_t kMaxLingerBytes = 1 << 20;
// Answer bytes a handler may have waiting for a slow reader before its writes block.
constexpr size_t kMaxQueuedBytes = 1 << 20;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// The first byte of every TLS connection: a handshake record.
constexpr unsigned char kTlsHandshakeRecord = 0x16;

auto redirect(beast::error_code& ec) { return net::redirect_error(net::use_awaitable, ec); }

// Beast 1.74 has its own string_view.
std::string_view view(beast::string_view s) { return {s.data(), s.size()}; }
beast::string_view view(std::string_view s) { return {s.data(), s.size()}; }

std::string lower(beast::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

HttpRequest to_request(http::request<http::string_body>&& message) {
  HttpRequest request;
  request.method = std::string(message.method_string());
  const std::string_view target = view(message.target());
  const size_t q = target.find('?');
  request.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) request.query = std::string(target.substr(q + 1));
  for (const auto& field : message) {
    const std::string_view value = view(field.value());
    const auto [it, inserted] = request.headers.emplace(lower(field.name_string()), value);
    if (!inserted) it->second.append(", ").append(value);
  }
  request.body = std::move(message.body());
  return request;
}

// RFC 9112 6.3: a request whose last transfer coding is not chunked has no knowable length (400);
// chunked after another coding asks for one this server does not implement (501).
std::pair<int, std::string> transfer_coding_refusal(const http::request_parser<http::string_body>& parser) {
  const auto& message = parser.get();
  const auto it = message.find(http::field::transfer_encoding);
  if (it == message.end()) return {0, {}};
  if (!parser.chunked()) return {400, "the request's Transfer-Encoding does not end with chunked"};
  if (!beast::iequals(it->value(), "chunked")) return {501, "only the chunked transfer coding is supported"};
  return {0, {}};
}

std::string response_head(int status, std::string_view content_type, std::optional<size_t> length,
                          const std::vector<std::pair<std::string, std::string>>& extra_headers, bool keep_alive) {
  http::response_header<> head;
  head.version(11);
  head.result(static_cast<unsigned>(status));
  // RFC 9110 8.6: a 204 has no content and no Content-Length (a CORS preflight's answer).
  if (status != 204) {
    head.set(http::field::content_type, view(content_type));
    if (length) {
      head.set(http::field::content_length, std::to_string(*length));
    } else {
      head.set(http::field::transfer_encoding, "chunked");
    }
  }
  for (const auto& [name, value] : extra_headers) head.insert(name, value);
  head.set(http::field::connection, keep_alive ? "keep-alive" : "close");
  http::fields::writer writer(head, head.version(), head.result_int());
  return beast::buffers_to_string(writer.get());
}

// The status and message answering a failed read, or status 0 for none (the peer left).
std::pair<int, std::string> read_failure(const beast::error_code& ec, bool headers, size_t max_body_bytes) {
  if (ec == http::error::partial_message) return {400, "the connection ended before the whole request arrived"};
  if (ec == http::error::header_limit || (headers && ec == http::error::buffer_overflow)) {
    return {431, fmt::format("the request headers exceed {} bytes", kMaxHeaderBytes)};
  }
  if (ec == http::error::body_limit) {
    return {413, fmt::format("the request body exceeds the limit of {} bytes", max_body_bytes)};
  }
  if (ec == http::error::buffer_overflow) {
    return {400, fmt::format("a chunk-size line or the trailer section exceeds {} bytes", kMaxHeaderBytes)};
  }
  // end_of_stream: the peer left between requests. A deadline (beast::error::timeout) has closed
  // the socket, as have resets and stop(): nothing to answer.
  const bool parse_error = ec.category() == http::make_error_code(http::error::end_of_stream).category();
  if (ec == http::error::end_of_stream || !parse_error) {
    return {0, {}};
  }
  return {400, fmt::format("malformed HTTP request: {}", ec.message())};
}

}  // namespace

ParsedHttpRequest parse_http_request(std::string_view bytes, size_t max_body_bytes) {
  if (bytes.empty()) return {{}, 400, "no request"};
  http::request_parser<http::string_body> parser;
  parser.header_limit(kMaxHeaderBytes);
  parser.body_limit(max_body_bytes);
  parser.eager(true);
  beast::error_code ec;
  bool header_checked = false;
  while (!parser.is_done()) {
    if (bytes.empty()) {
      parser.put_eof(ec);
      break;
    }
    // At most what the connection's read buffer holds at once.
    const size_t window = std::min(bytes.size(), kMaxHeaderBytes);
    const size_t used = parser.put(net::buffer(bytes.data(), window), ec);
    bytes.remove_prefix(used);
    if (ec == http::error::need_more && used == 0) {
      ec = {};
      if (window == kMaxHeaderBytes) {
        ec = http::error::buffer_overflow;  // the read buffer is full and the parser needs more
      } else {
        parser.put_eof(ec);  // the rest of the input cannot complete the element
      }
      break;
    }
    if (ec == http::error::need_more) ec = {};
    if (ec) break;
    if (parser.is_header_done() && !header_checked) {
      header_checked = true;
      if (auto [status, message] = transfer_coding_refusal(parser); status != 0) return {{}, status, message};
    }
  }
  if (ec) {
    auto [status, message] = read_failure(ec, !parser.is_header_done(), max_body_bytes);
    return {{}, status == 0 ? 400 : status, status == 0 ? "the request ends early" : message};
  }
  return {to_request(parser.release()), 0, {}};
}

std::string HttpRequest::header(const std::string& lower_name) const {
  const auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

HttpResponse::HttpResponse(std::shared_ptr<HttpConnection> connection, bool head_only)
    : connection_(std::move(connection)), head_only_(head_only) {}

void HttpResponse::add_header(std::string name, std::string value) {
  extra_headers_.emplace_back(std::move(name), std::move(value));
}

bool HttpResponse::write_bytes(std::string bytes) {
  if (failed_) return false;
  if (!connection_->send(std::move(bytes))) failed_ = true;
  return !failed_;
}

bool HttpResponse::send(int status, std::string_view content_type, std::string_view body) {
  started_ = true;
  status_ = status;
  std::string out = response_head(status, content_type, body.size(), extra_headers_, keep_alive);
  if (!head_only_) out.append(body);
  return write_bytes(std::move(out));
}

bool HttpResponse::begin_stream(int status, std::string_view content_type) {
  started_ = true;
  status_ = status;
  add_header("Cache-Control", "no-cache");
  return write_bytes(response_head(status, content_type, std::nullopt, extra_headers_, keep_alive));
}

bool HttpResponse::write(std::string_view data) {
  if (data.empty() || head_only_) return !failed_;
  return write_bytes(fmt::format("{:x}\r\n{}\r\n", data.size(), data));
}

bool HttpResponse::end_stream() { return head_only_ ? !failed_ : write_bytes("0\r\n\r\n"); }

bool HttpResponse::client_gone() const { return failed_ || connection_->peer_gone(); }

HttpConnection::HttpConnection(net::ip::tcp::socket socket, const HttpContext& context)
    : stream_(std::move(socket), context.tls.get()),
      buffer_(kMaxHeaderBytes),
      context_(context),
      handler_done_signal_(stream_.get_executor()),
      accepted_at_(Clock::now()),
      fd_(stream_.socket().native_handle()),
      tls_(stream_.tls_port()) {}

net::awaitable<bool> HttpConnection::start_tls() {
  beast::error_code ec;
  stream_.expires_at(accepted_at_ + context_.limits.header_timeout);
  const size_t n = co_await stream_.async_read_some(buffer_.prepare(kMaxHeaderBytes), redirect(ec));
  if (ec) co_return false;
  buffer_.commit(n);
  if (*static_cast<const unsigned char*>(buffer_.data().data()) != kTlsHandshakeRecord) {
    // Most likely an http:// URL for this https:// port: say so in plain text, as a browser shows it.
    co_await answer_error(400, "this port speaks HTTPS: use an https:// URL");
    co_return false;
  }
  // The bytes already read are the start of the handshake. None of them is plain text: any the
  // TLS engine did not take (beyond its input buffer) would be lost, so the connection ends.
  const size_t used = co_await stream_.encrypt().async_handshake(net::ssl::stream_base::server, buffer_.data(),
                                                                 redirect(ec));
  const bool all_taken = used == buffer_.size();
  buffer_.consume(buffer_.size());
  stream_.expires_never();
  co_return !ec && all_taken;
}

net::awaitable<void> HttpConnection::serve() {
  const HttpLimits& limits = context_.limits;
  // Each co_await a statement of its own: GCC 12 miscompiles one in a branch of || or && that
  // does not run (the refused-connection path crashed that way).
  bool secured = true;
  if (tls_) secured = co_await start_tls();
  if (!secured) {
    co_await linger_close();
    co_return;
  }
  for (bool first = true;; first = false) {
    // A new connection's first request must be complete within the header timeout of the accept.
    Clock::time_point header_deadline = accepted_at_ + limits.header_timeout;
    if (!first) {
      if (context_.stopping.load()) break;
      if (buffer_.size() == 0) {
        beast::error_code ec;
        stream_.expires_after(limits.idle_timeout);
        const size_t n = co_await stream_.async_read_some(buffer_.prepare(kMaxHeaderBytes), redirect(ec));
        if (ec) break;
        buffer_.commit(n);
      }
      header_deadline = Clock::now() + limits.header_timeout;
    }
    http::request_parser<http::string_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(limits.max_body_bytes);
    beast::error_code ec;
    // Total deadlines: a peer that trickles bytes gains nothing (a closed connection, no answer).
    stream_.expires_at(header_deadline);
    co_await http::async_read_header(stream_, buffer_, parser, redirect(ec));
    if (ec) {
      const auto [status, message] = read_failure(ec, true, context_.limits.max_body_bytes);
      if (status != 0) co_await answer_error(status, message);
      break;
    }
    if (const auto [status, message] = transfer_coding_refusal(parser); status != 0) {
      co_await answer_error(status, message);
      break;
    }
    interim_allowed_ = parser.get().version() >= 11;
    if (!parser.is_done()) {
      if (interim_allowed_ && beast::iequals(parser.get()[http::field::expect], "100-continue") &&
          !co_await write_all(kContinue)) {
        break;
      }
      stream_.expires_after(limits.body_timeout);
      co_await http::async_read(stream_, buffer_, parser, redirect(ec));
      if (ec) {
        const auto [status, message] = read_failure(ec, false, context_.limits.max_body_bytes);
        if (status != 0) co_await answer_error(status, message);
        break;
      }
    }
    stream_.expires_never();
    http::request<http::string_body> message = parser.release();
    const bool head_only = message.method() == http::verb::head;
    const bool keep_alive = message.keep_alive() && !context_.stopping.load();
    handling_ = true;
    handler_done_ = false;
    {
      std::lock_guard lock(queue_mutex_);
      response_started_ = false;
      probed_ = false;
    }
    if (!start_handler(to_request(std::move(message)), head_only, keep_alive)) {
      handling_ = false;
      co_await answer_error(503, "the server cannot start a thread for the request");
      break;
    }
    while (!handler_done_ || draining_) {
      handler_done_signal_.expires_at(Clock::time_point::max());
      co_await handler_done_signal_.async_wait(redirect(ec));
    }
    handling_ = false;
    if (!handler_keep_alive_ || write_failed() || !stream_.socket().is_open()) break;
  }
  co_await linger_close();
}

net::awaitable<void> HttpConnection::refuse(int status, std::string message) {
  bool secured = true;
  if (tls_) secured = co_await start_tls();  // not in a condition: see serve()
  if (secured) co_await answer_error(status, message);
  co_await linger_close();
}

void HttpConnection::close_unless_handling() {
  if (!handling_) stream_.close();
}

net::awaitable<bool> HttpConnection::write_all(std::string_view bytes) {
  beast::error_code ec;
  while (!bytes.empty() && !ec) {
    // Per write: the deadline is on progress, so a large answer to a slow reader is not cut.
    stream_.expires_after(context_.limits.send_timeout);
    bytes.remove_prefix(co_await stream_.async_write_some(net::buffer(bytes.data(), bytes.size()), redirect(ec)));
  }
  stream_.expires_never();
  co_return !ec;
}

net::awaitable<void> HttpConnection::answer_error(int status, const std::string& message) {
  const std::string body = context_.error_body(status, message);
  co_await write_all(response_head(status, "application/json", body.size(), {}, false) + body);
}

net::awaitable<void> HttpConnection::linger_close() {
  if (!stream_.socket().is_open()) co_return;
  beast::error_code ec;
  stream_.expires_after(kLinger);  // for the close_notify exchange and the draining together
  if (stream_.encrypting()) {
    // TLS's close_notify first, so that the client knows the answer was not cut. The wait for
    // the peer's own ends early with an error when the peer is still sending its request.
    co_await stream_.encrypt().async_shutdown(redirect(ec));
    ec = {};
    if (!stream_.socket().is_open()) co_return;
  }
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
  // From the TCP stream beneath: what the client still sends is discarded, encrypted or not.
  std::array<char, 4096> sink;
  for (size_t drained = 0; !ec && drained < kMaxLingerBytes;) {
    drained += co_await stream_.tcp().async_read_some(net::buffer(sink), redirect(ec));
  }
  stream_.close();
}

bool HttpConnection::start_handler(HttpRequest request, bool head_only, bool keep_alive) {
  try {
    std::thread(run_handler, shared_from_this(), std::move(request), head_only, keep_alive).detach();
    return true;
  } catch (const std::system_error&) {
    return false;
  }
}

void HttpConnection::run_handler(std::shared_ptr<HttpConnection> self, HttpRequest request, bool head_only,
                                 bool keep_alive) {
  HttpConnection& connection = *self;
  {
    HttpResponse response(self, head_only);
    response.keep_alive = keep_alive;
    connection.context_.handler(request, response);
    if (!response.started()) {
      response.send(500, "application/json", connection.context_.error_body(500, "the handler sent no response"));
    }
    keep_alive = response.keep_alive;
  }
  // The last touch of the connection from this thread: the I/O thread takes it from here.
  net::post(connection.stream_.get_executor(), [self = std::move(self), keep_alive] {
    self->handler_keep_alive_ = keep_alive;
    self->handler_done_ = true;
    self->handler_done_signal_.cancel();
  });
}

bool HttpConnection::send(std::string bytes) {
  std::unique_lock lock(queue_mutex_);
  // A reader slower than the answer: wait (the send timeout bounds it) rather than buffer it all.
  queue_drained_.wait(lock, [&] { return queued_bytes_ <= kMaxQueuedBytes || write_failed_; });
  if (write_failed_) return false;
  response_started_ = true;
  if (queued_bytes_ == 0 && !tls_) {
    // Nothing is waiting on the I/O thread, which leaves the socket alone meanwhile: write here
    // while the socket takes the bytes, as a blocking server would, without a thread switch.
    size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        write_failed_ = true;
        return false;
      }
      break;  // the socket is full
    }
    if (sent == bytes.size()) return true;
    bytes.erase(0, sent);
  }
  // The rest goes to the I/O thread, whose writes have the send timeout.
  queued_bytes_ += bytes.size();
  lock.unlock();
  net::post(stream_.get_executor(), [self = shared_from_this(), bytes = std::move(bytes)]() mutable {
    self->pending_writes_.push_back(std::move(bytes));
    if (!self->draining_) {
      self->draining_ = true;
      net::co_spawn(self->stream_.get_executor(), drain_writes(self), net::detached);
    }
  });
  return true;
}

net::awaitable<void> HttpConnection::drain_writes(std::shared_ptr<HttpConnection> self) {
  while (!self->pending_writes_.empty()) {
    const std::string bytes = std::move(self->pending_writes_.front());
    self->pending_writes_.pop_front();
    const bool ok = !self->write_failed() && self->stream_.socket().is_open() && co_await self->write_all(bytes);
    {
      std::lock_guard lock(self->queue_mutex_);
      self->queued_bytes_ -= bytes.size();
      // A failed or timed-out write leaves the answer cut: the connection cannot carry on.
      if (!ok) self->write_failed_ = true;
    }
    if (!ok) self->stream_.close();
    self->queue_drained_.notify_all();
  }
  self->draining_ = false;
  self->handler_done_signal_.cancel();  // serve() waits for the answer to be written
}

bool HttpConnection::write_failed() {
  std::lock_guard lock(queue_mutex_);
  return write_failed_;
}

bool HttpConnection::peer_gone() {
  std::lock_guard lock(queue_mutex_);
  if (write_failed_) return true;
  if (queued_bytes_ > 0) return false;  // the I/O thread is writing: it finds out
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) return true;
  if (!(p.revents & POLLRDHUP)) return false;  // only a pipelined request waiting
  // The peer sent FIN: it closed, or only half-closed and still reads. An HTTP/1.1 client must
  // accept an interim 100 answer; sent to a closed peer it brings back a reset, which the next
  // check sees. Once the answer has begun, its own writes do that.
  // A TLS client does not half-close, and cannot be probed with a raw interim answer.
  if (!interim_allowed_ || tls_) return true;
  if (probed_ || response_started_) return false;
  const ssize_t n = ::send(fd_, kContinue.data(), kContinue.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  if (static_cast<size_t>(n) != kContinue.size()) {
    write_failed_ = true;  // a cut interim answer would garble the real one
    return true;
  }
  probed_ = true;
  return false;
}

}  // namespace bantam::serve
