// One client connection of the HTTP server (http_server.hpp): a coroutine on the I/O thread reads
// each request under total deadlines, hands it to a handler thread and waits for the handler and
// its answer to finish. The handler writes to the socket itself while the socket takes the bytes
// and queues the rest to the I/O thread, whose writes have the send timeout.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <memory>
#include <string>
#include <string_view>

#include "serve/http_server.hpp"
#include "serve/http_stream.hpp"

namespace bantam::serve {

// What every connection of one server shares; lives as long as the server.
struct HttpContext {
  HttpLimits limits;
  HttpHandler handler;
  HttpErrorBody error_body;
  std::unique_ptr<net::ssl::context> tls;  // null: plain HTTP
  std::atomic<bool> stopping{false};
};

class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(net::ip::tcp::socket socket, const HttpContext& context);

  // Reads requests and answers them until the connection ends.
  net::awaitable<void> serve();
  // Answers `status` with `message` and closes (a connection refused at admission).
  net::awaitable<void> refuse(int status, std::string message);
  // For stop(): ends the connection unless a handler is running on it.
  void close_unless_handling();

  // Handler threads. send() writes what the socket takes at once and queues the rest for the I/O
  // thread, waiting only while a slow reader has more than a bound queued; false once a write
  // has failed or timed out.
  bool send(std::string bytes);
  bool peer_gone();

 private:
  // TLS ports: the handshake, within the first request's header deadline. False when the
  // connection cannot go on (a plain-HTTP client has been told to use https).
  net::awaitable<bool> start_tls();
  net::awaitable<bool> write_all(std::string_view bytes);
  net::awaitable<void> answer_error(int status, const std::string& message);
  // Reads what the client still sends for a moment before closing, so that the close does not
  // reset the connection before the client has read the answer.
  net::awaitable<void> linger_close();
  bool start_handler(HttpRequest request, bool head_only, bool keep_alive);  // false: no thread
  static void run_handler(std::shared_ptr<HttpConnection> self, HttpRequest request, bool head_only, bool keep_alive);
  bool write_failed();
  // Writes the queued answer bytes in order (I/O thread).
  static net::awaitable<void> drain_writes(std::shared_ptr<HttpConnection> self);

  HttpStream stream_;
  beast::flat_buffer buffer_;
  const HttpContext& context_;
  // Cancelled when the handler thread finishes and when its queued writes are done.
  net::steady_timer handler_done_signal_;
  std::chrono::steady_clock::time_point accepted_at_;
  // I/O thread state.
  bool handling_ = false;       // a handler thread owns the response
  bool handler_done_ = false;
  bool handler_keep_alive_ = false;
  bool draining_ = false;  // drain_writes is running
  std::deque<std::string> pending_writes_;
  bool interim_allowed_ = false;  // HTTP/1.1 request: an interim 100 may be sent (set before the handler)
  // Between handler threads and the I/O thread. Handler threads use the socket (writes, polls)
  // only under the mutex with nothing queued; while a handler runs, the I/O thread closes it
  // only with something queued or after marking the write failed.
  const int fd_;
  // Handler threads cannot write or probe a TLS connection's socket themselves: all its answer
  // bytes go through the I/O thread.
  const bool tls_;
  std::mutex queue_mutex_;
  std::condition_variable queue_drained_;
  size_t queued_bytes_ = 0;
  bool write_failed_ = false;
  bool response_started_ = false;
  bool probed_ = false;
};

}  // namespace bantam::serve
