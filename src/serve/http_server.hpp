// A small HTTP/1.1 server on POSIX sockets, enough for an API server: keep-alive, Content-Length
// and chunked request bodies with a size limit, plain and chunked (streamed) responses, and a
// way to notice that the client went away. One thread per connection, bounded in number.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace bantam::serve {

struct HttpRequest {
  std::string method;
  std::string path;   // without the query
  std::string query;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string header(const std::string& lower_name) const;
};

class HttpResponse {
 public:
  explicit HttpResponse(int fd, bool head_only = false) : fd_(fd), head_only_(head_only) {}
  void add_header(std::string name, std::string value);
  // A whole response. Returns false when the client is gone.
  bool send(int status, std::string_view content_type, std::string_view body);
  // A chunked response: begin, any number of writes, end.
  bool begin_stream(int status, std::string_view content_type);
  bool write(std::string_view data);
  bool end_stream();
  bool started() const { return started_; }
  int status() const { return status_; }
  // True once the peer has closed or reset the connection.
  bool client_gone() const;
  bool keep_alive = true;

 private:
  bool write_all(std::string_view data);
  std::string head(int status, std::string_view content_type, const std::string& length_header);

  int fd_;
  bool head_only_;
  bool started_ = false;
  bool failed_ = false;
  int status_ = 0;
  std::vector<std::pair<std::string, std::string>> extra_headers_;
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port
  size_t max_body_bytes = 8u << 20;
  int max_connections = 256;
  int idle_timeout_ms = 30000;  // keep-alive connections waiting for a request
  int read_timeout_ms = 10000;  // a request that has begun must arrive within this
};

// Handler for a parsed request; `protocol_error` answers requests that never reached it
// (malformed, too large, too many connections) with status and message.
using HttpHandler = std::function<void(const HttpRequest&, HttpResponse&)>;
using HttpErrorResponder = std::function<void(int status, const std::string& message, HttpResponse&)>;

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpHandler handler, HttpErrorResponder protocol_error);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int bind();   // listens; returns the bound port. Error when the address is unusable.
  void run();   // accepts until stop(); returns once every connection has ended
  void stop();  // thread-safe: no new connections, idle keep-alive connections close

 private:
  void serve_connection(int fd);
  bool read_request(int fd, std::string& buffer, HttpRequest& request, int& error_status, std::string& error);

  HttpServerOptions options_;
  HttpHandler handler_;
  HttpErrorResponder protocol_error_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable all_closed_;
  int open_connections_ = 0;
};

}  // namespace bantam::serve
