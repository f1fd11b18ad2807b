#include "serve/http_server.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "bantam/error.hpp"

namespace bantam::serve {

namespace {

constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr int kPollStepMs = 200;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

// Waits until fd is readable; false on timeout or when `stopping` turns true while idle.
bool wait_readable(int fd, int timeout_ms, const std::atomic<bool>* stopping) {
  int waited = 0;
  while (waited < timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    const int step = std::min(kPollStepMs, timeout_ms - waited);
    const int r = ::poll(&p, 1, step);
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
    if (stopping && stopping->load()) return false;
    waited += step;
  }
  return false;
}

// After an error answer, reads (and drops) what the client is still sending for a moment, so
// closing does not reset the connection before the client has read the answer.
void linger_close(int fd) {
  ::shutdown(fd, SHUT_WR);
  char sink[16384];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    if (::recv(fd, sink, sizeof sink, 0) <= 0) return;
  }
}

}  // namespace

std::string HttpRequest::header(const std::string& lower_name) const {
  const auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

void HttpResponse::add_header(std::string name, std::string value) {
  extra_headers_.emplace_back(std::move(name), std::move(value));
}

bool HttpResponse::write_all(std::string_view data) {
  if (failed_) return false;
  while (!data.empty()) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      failed_ = true;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string HttpResponse::head(int status, std::string_view content_type, const std::string& length_header) {
  std::string out = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\n{}", status, reason(status), content_type,
                                length_header);
  for (const auto& [name, value] : extra_headers_) out += fmt::format("{}: {}\r\n", name, value);
  out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  return out;
}

bool HttpResponse::send(int status, std::string_view content_type, std::string_view body) {
  started_ = true;
  status_ = status;
  std::string out = head(status, content_type, fmt::format("Content-Length: {}\r\n", body.size()));
  if (!head_only_) out.append(body);
  return write_all(out);
}

bool HttpResponse::begin_stream(int status, std::string_view content_type) {
  started_ = true;
  status_ = status;
  add_header("Cache-Control", "no-cache");
  return write_all(head(status, content_type, "Transfer-Encoding: chunked\r\n"));
}

bool HttpResponse::write(std::string_view data) {
  if (data.empty()) return !failed_;
  return write_all(fmt::format("{:x}\r\n", data.size())) && write_all(data) && write_all("\r\n");
}

bool HttpResponse::end_stream() { return write_all("0\r\n\r\n"); }

bool HttpResponse::client_gone() const {
  if (failed_) return true;
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
  // Readable: either a pipelined request (still here) or end of stream (gone).
  char byte;
  const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0;
}

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler, HttpErrorResponder protocol_error)
    : options_(std::move(options)), handler_(std::move(handler)), protocol_error_(std::move(protocol_error)) {}

HttpServer::~HttpServer() {
  stop();
  std::unique_lock lock(mutex_);
  all_closed_.wait(lock, [this] { return open_connections_ == 0; });
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

int HttpServer::bind() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(options_.port);
  if (const int rc = ::getaddrinfo(options_.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    throw Error(fmt::format("cannot resolve host '{}': {}", options_.host, ::gai_strerror(rc)));
  }
  std::string last_error = "no address";
  for (addrinfo* a = found; a; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 128) == 0) {
      listen_fd_ = fd;
      break;
    }
    last_error = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(found);
  if (listen_fd_ < 0) throw Error(fmt::format("cannot listen on {}:{}: {}", options_.host, options_.port, last_error));
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

void HttpServer::stop() { stopping_.store(true); }

void HttpServer::run() {
  if (listen_fd_ < 0) throw Error("HTTP server: run() before bind()");
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, kPollStepMs) <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    bool admitted = false;
    {
      std::lock_guard lock(mutex_);
      if (open_connections_ < options_.max_connections) {
        ++open_connections_;
        admitted = true;
      }
    }
    if (!admitted) {
      HttpResponse response(fd);
      response.keep_alive = false;
      protocol_error_(503, "too many open connections", response);
      ::close(fd);
      continue;
    }
    std::thread([this, fd] {
      serve_connection(fd);
      ::close(fd);
      std::lock_guard lock(mutex_);
      --open_connections_;
      all_closed_.notify_all();
    }).detach();
  }
  ::close(listen_fd_);
  listen_fd_ = -1;
  std::unique_lock lock(mutex_);
  all_closed_.wait(lock, [this] { return open_connections_ == 0; });
}

void HttpServer::serve_connection(int fd) {
  std::string buffer;
  for (;;) {
    HttpRequest request;
    int error_status = 0;
    std::string error;
    if (!read_request(fd, buffer, request, error_status, error)) {
      if (error_status != 0) {
        HttpResponse response(fd);
        response.keep_alive = false;
        protocol_error_(error_status, error, response);
        linger_close(fd);
      }
      return;
    }
    HttpResponse response(fd, request.method == "HEAD");
    const std::string connection = lower(request.header("connection"));
    response.keep_alive = connection != "close" && !stopping_.load();
    handler_(request, response);
    if (!response.started()) protocol_error_(500, "the handler sent no response", response);
    if (!response.keep_alive || response.client_gone()) return;
  }
}

bool HttpServer::read_request(int fd, std::string& buffer, HttpRequest& request, int& error_status,
                              std::string& error) {
  const auto read_more = [&](bool idle) {
    if (!wait_readable(fd, idle ? options_.idle_timeout_ms : options_.read_timeout_ms, idle ? &stopping_ : nullptr)) {
      return false;
    }
    char chunk[16384];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
    return true;
  };
  size_t header_end;
  while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
    if (buffer.size() > kMaxHeaderBytes) {
      error_status = 431;
      error = "request headers too large";
      return false;
    }
    if (!read_more(buffer.empty())) {
      if (!buffer.empty()) {
        error_status = 408;
        error = "the request did not arrive in time";
      }
      return false;
    }
  }
  const std::string_view head(buffer.data(), header_end);
  const size_t line_end = head.find("\r\n");
  const std::string_view line = head.substr(0, line_end);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1 || !line.substr(sp2 + 1).starts_with("HTTP/1.")) {
    error_status = 400;
    error = "malformed HTTP request line";
    return false;
  }
  request.method = std::string(line.substr(0, sp1));
  const std::string target(line.substr(sp1 + 1, sp2 - sp1 - 1));
  const size_t q = target.find('?');
  request.path = target.substr(0, q);
  if (q != std::string::npos) request.query = target.substr(q + 1);
  if (line.substr(sp2 + 1) == "HTTP/1.0") request.headers["connection"] = "close";
  size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t end = head.find("\r\n", pos);
    if (end == std::string_view::npos) end = head.size();
    const std::string_view field = head.substr(pos, end - pos);
    const size_t colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      error_status = 400;
      error = "malformed HTTP header line";
      return false;
    }
    request.headers[lower(std::string(field.substr(0, colon)))] = trim(field.substr(colon + 1));
    pos = end + 2;
  }
  buffer.erase(0, header_end + 4);

  if (lower(request.header("transfer-encoding")).find("chunked") != std::string::npos) {
    // Chunked body: size lines and data until a zero-size chunk.
    for (;;) {
      size_t eol;
      while ((eol = buffer.find("\r\n")) == std::string::npos) {
        if (buffer.size() > 64 || !read_more(false)) {
          error_status = 400;
          error = "malformed chunked request body";
          return false;
        }
      }
      size_t size = 0;
      try {
        size = std::stoul(buffer.substr(0, eol), nullptr, 16);
      } catch (const std::exception&) {
        error_status = 400;
        error = "malformed chunk size in the request body";
        return false;
      }
      if (request.body.size() + size > options_.max_body_bytes) {
        error_status = 413;
        error = fmt::format("the request body exceeds the limit of {} bytes", options_.max_body_bytes);
        return false;
      }
      while (buffer.size() < eol + 2 + size + 2) {
        if (!read_more(false)) {
          error_status = 400;
          error = "the chunked request body ended early";
          return false;
        }
      }
      request.body.append(buffer, eol + 2, size);
      buffer.erase(0, eol + 2 + size + 2);
      if (size == 0) return true;
    }
  }
  size_t length = 0;
  if (const std::string value = request.header("content-length"); !value.empty()) {
    if (value.find_first_not_of("0123456789") != std::string::npos || value.size() > 18) {
      error_status = 400;
      error = "malformed Content-Length";
      return false;
    }
    length = std::stoull(value);
  }
  if (length > options_.max_body_bytes) {
    error_status = 413;
    error = fmt::format("the request body of {} bytes exceeds the limit of {} bytes", length, options_.max_body_bytes);
    return false;
  }
  while (buffer.size() < length) {
    if (!read_more(false)) {
      error_status = 408;
      error = "the request body did not arrive in time";
      return false;
    }
  }
  request.body = buffer.substr(0, length);
  buffer.erase(0, length);
  return true;
}

}  // namespace bantam::serve
