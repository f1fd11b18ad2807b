// The server's HTTP/1.1 layer on Boost.Beast: one I/O thread reads requests and writes answers
// asynchronously with total deadlines, and each parsed request runs on its own handler thread
// (handlers block on the scheduler). Admission caps connections overall and per client address,
// keeping a reserve for addresses that hold none. Boost stays out of this header.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bantam::serve {

struct HttpRequest {
  std::string method;
  std::string path;   // without the query
  std::string query;
  std::map<std::string, std::string> headers;  // names in lower case; repeated fields joined with ", "
  std::string body;
  std::string header(const std::string& lower_name) const;
};

class HttpConnection;  // one client connection (http_connection.hpp)

// The answer to one request, written from its handler thread. Calls return once the bytes are
// with the socket or queued; they block only while a slow reader has more than 1 MiB queued.
// The request that a complete byte string holds, parsed and checked as a connection reads one,
// without a socket (the request fuzzer's entry). status != 0: the answer a connection gives instead.
struct ParsedHttpRequest {
  HttpRequest request;
  int status = 0;
  std::string error;
};
ParsedHttpRequest parse_http_request(std::string_view bytes, size_t max_body_bytes);

class HttpResponse {
 public:
  HttpResponse(std::shared_ptr<HttpConnection> connection, bool head_only);
  void add_header(std::string name, std::string value);
  // A whole response. Returns false when the client is gone.
  bool send(int status, std::string_view content_type, std::string_view body);
  // A chunked response: begin, any number of writes, end.
  bool begin_stream(int status, std::string_view content_type);
  bool write(std::string_view data);
  bool end_stream();
  bool started() const { return started_; }
  int status() const { return status_; }
  // True once the peer has closed or reset the connection (a peer that only half-closed and is
  // still reading is not gone). Thread-safe.
  bool client_gone() const;
  bool keep_alive = true;

 private:
  bool write_bytes(std::string bytes);

  std::shared_ptr<HttpConnection> connection_;
  bool head_only_;
  bool started_ = false;
  bool failed_ = false;
  int status_ = 0;
  std::vector<std::pair<std::string, std::string>> extra_headers_;
};

// What one client may hold and how long it may take; `bantam serve` has a flag for each.
struct HttpLimits {
  size_t max_body_bytes = 8u << 20;
  int max_connections = 256;
  // Per peer address. Behind a reverse proxy every client has the proxy's address.
  int max_connections_per_client = 32;
  // The whole header block, from its first byte (from the accept on a new connection).
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};  // the whole body, once the headers are in
  // A response write that makes no progress this long drops the connection.
  std::chrono::milliseconds send_timeout{30000};
  std::chrono::milliseconds idle_timeout{30000};  // a keep-alive connection waiting for its next request
};

// HTTPS: the certificate chain and private key, PEM files; both empty for plain HTTP.
struct HttpTlsFiles {
  std::string cert_file;
  std::string key_file;
  bool enabled() const { return !cert_file.empty(); }
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port
  HttpLimits limits;
  HttpTlsFiles tls;
};

// Handler for a parsed request, run on a thread of its own.
using HttpHandler = std::function<void(const HttpRequest&, HttpResponse&)>;
// The JSON body answering a request that never reached the handler (malformed, too large, too
// many connections) or got no answer from it; thread-safe.
using HttpErrorBody = std::function<std::string(int status, const std::string& message)>;

class HttpServer {
 public:
  // Error naming the file when options.tls is set and a file cannot be used.
  HttpServer(HttpServerOptions options, HttpHandler handler, HttpErrorBody error_body);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int bind();   // listens; returns the bound port. Error when the address is unusable.
  void run();   // serves until stop(); returns once every connection has ended
  void stop();  // thread-safe: no new connections; connections not running a handler close

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bantam::serve
