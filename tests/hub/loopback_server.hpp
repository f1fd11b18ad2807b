// A small HTTP/1.1 file server on 127.0.0.1 for hub tests, with hooks to misbehave like an
// attacker or a bad network: throttled, stalled or endless bodies, truncated transfers, tampered
// bytes, redirects and extra headers. One thread per connection; every response closes the
// connection. The destructor stops everything.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace bantam::test {

class LoopbackServer {
 public:
  struct Behavior {
    uint64_t bytes_per_second = 0;   // 0: as fast as possible
    bool endless = false;            // 200 with no length: the file, then data forever
    bool stall = false;              // headers, then a few bytes a second forever
    int64_t close_after = -1;        // close the connection after this many body bytes
    bool once = false;               // the misbehavior applies to the first matching request only
    std::string redirect_to = {};    // answer 302 to this path
    std::map<std::string, std::string> headers = {};  // extra response headers
  };
  struct Request {
    std::string method;
    std::string path;
    int64_t range_start = -1;
  };
  // Rewrites body bytes [offset, offset + data.size()) of `path` before they are sent.
  using Tamper = std::function<void(const std::string& path, uint64_t offset, std::string& data)>;

  explicit LoopbackServer(std::filesystem::path root) : root_(std::move(root)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;  // the kernel picks a free port
    socklen_t len = sizeof(addr);
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listen_fd_, 64) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("loopback server: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  LoopbackServer(const LoopbackServer&) = delete;

  ~LoopbackServer() {
    stop_ = true;
    acceptor_.join();
    ::close(listen_fd_);
    std::vector<std::thread> handlers;
    {
      std::lock_guard lock(mutex_);
      handlers.swap(handlers_);
    }
    for (auto& t : handlers) t.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Applies to request paths starting with `prefix`; "" resets.
  void set_behavior(const std::string& prefix, Behavior behavior) {
    std::lock_guard lock(mutex_);
    behaviors_[prefix] = std::move(behavior);
  }
  void clear_behaviors() {
    std::lock_guard lock(mutex_);
    behaviors_.clear();
    tamper_ = nullptr;
  }
  void set_tamper(Tamper tamper) {
    std::lock_guard lock(mutex_);
    tamper_ = std::move(tamper);
  }
  void set_root(std::filesystem::path root) {
    std::lock_guard lock(mutex_);
    root_ = std::move(root);
  }
  std::vector<Request> requests() const {
    std::lock_guard lock(mutex_);
    return log_;
  }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(mutex_);
      handlers_.emplace_back([this, fd] {
        handle(fd);
        ::close(fd);
      });
    }
  }

  bool send_all(int fd, const char* data, size_t size) {
    while (size > 0 && !stop_) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
      if (n <= 0) return false;
      data += n;
      size -= static_cast<size_t>(n);
    }
    return size == 0;
  }

  bool send_text(int fd, const std::string& text) { return send_all(fd, text.data(), text.size()); }

  // Sleeps in small steps so the destructor never waits long.
  bool pause(std::chrono::milliseconds ms) {
    const auto until = std::chrono::steady_clock::now() + ms;
    while (std::chrono::steady_clock::now() < until) {
      if (stop_) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  std::string read_request(int fd) {
    std::string request;
    char buf[4096];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (request.find("\r\n\r\n") == std::string::npos && !stop_ &&
           std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return "";
      request.append(buf, static_cast<size_t>(n));
    }
    return request;
  }

  Behavior behavior_for(const std::string& path) {
    std::lock_guard lock(mutex_);
    for (auto it = behaviors_.begin(); it != behaviors_.end(); ++it) {
      if (path.starts_with(it->first)) {
        Behavior b = it->second;
        if (b.once) {
          Behavior rest;
          rest.headers = b.headers;
          it->second = rest;
        }
        return b;
      }
    }
    return {};
  }

  void handle(int fd) {
    const std::string request = read_request(fd);
    if (request.empty()) return;
    std::istringstream lines(request);
    Request req;
    std::string version;
    lines >> req.method >> req.path >> version;
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind("Range: bytes=", 0) == 0 || line.rfind("range: bytes=", 0) == 0) {
        req.range_start = std::stoll(line.substr(13));
      }
    }
    std::filesystem::path root;
    Tamper tamper;
    {
      std::lock_guard lock(mutex_);
      log_.push_back(req);
      root = root_;
      tamper = tamper_;
    }
    const Behavior b = behavior_for(req.path);
    std::string extra;
    for (const auto& [k, v] : b.headers) extra += k + ": " + v + "\r\n";
    if (!b.redirect_to.empty()) {
      send_text(fd, "HTTP/1.1 302 Found\r\nLocation: " + b.redirect_to + "\r\n" + extra +
                        "Content-Length: 0\r\nConnection: close\r\n\r\n");
      return;
    }
    const std::filesystem::path file = root / req.path.substr(1);
    std::ifstream in(file, std::ios::binary);
    if (req.path.find("..") != std::string::npos || !std::filesystem::is_regular_file(file) || !in) {
      send_text(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      return;
    }
    std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const uint64_t size = body.size();
    if (b.endless || b.stall) {
      if (!send_text(fd, "HTTP/1.1 200 OK\r\n" + extra + "Connection: close\r\n\r\n")) return;
      if (b.endless && !send_text(fd, body)) return;
      const std::string block(b.endless ? 16384 : 4, 'x');
      while (!stop_ && send_all(fd, block.data(), block.size())) {
        if (b.stall && !pause(std::chrono::milliseconds(1000))) return;
      }
      return;
    }
    uint64_t start = 0;
    std::string head;
    if (req.range_start >= 0 && static_cast<uint64_t>(req.range_start) < size) {
      start = static_cast<uint64_t>(req.range_start);
      head = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes " + std::to_string(start) + "-" +
             std::to_string(size - 1) + "/" + std::to_string(size) + "\r\n";
    } else if (req.range_start >= 0) {
      send_text(fd, "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      return;
    } else {
      head = "HTTP/1.1 200 OK\r\n";
    }
    head += extra + "Content-Length: " + std::to_string(size - start) + "\r\nConnection: close\r\n\r\n";
    if (!send_text(fd, head) || req.method == "HEAD") return;
    std::string data = body.substr(start);
    if (tamper) tamper(req.path, start, data);
    uint64_t limit = data.size();
    if (b.close_after >= 0) limit = std::min<uint64_t>(limit, static_cast<uint64_t>(b.close_after));
    const uint64_t piece = b.bytes_per_second ? std::max<uint64_t>(b.bytes_per_second / 100, 1) : limit;
    for (uint64_t sent = 0; sent < limit;) {
      const uint64_t n = std::min(piece, limit - sent);
      if (!send_all(fd, data.data() + sent, n)) return;
      sent += n;
      if (b.bytes_per_second && !pause(std::chrono::milliseconds(10))) return;
    }
  }

  std::filesystem::path root_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::vector<std::thread> handlers_;
  std::map<std::string, Behavior> behaviors_;
  Tamper tamper_;
  std::vector<Request> log_;
};

}  // namespace bantam::test
