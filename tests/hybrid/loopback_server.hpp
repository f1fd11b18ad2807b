// A scripted HTTP server on 127.0.0.1 for the cloud client's tests: it answers connections one at a
// time with the next scripted response (the last one repeats) and records the requests it read.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace bantam::hybrid::test {

struct ScriptedResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::string> pieces;  // written one after another, then the connection closes
  std::chrono::milliseconds delay_before{0};
  std::chrono::milliseconds delay_between{0};
};

class LoopbackServer {
 public:
  explicit LoopbackServer(std::vector<ScriptedResponse> script);
  ~LoopbackServer();
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  int port() const { return port_; }
  std::string url() const;
  std::vector<std::string> requests() const;  // header block and body of each request

 private:
  void serve();
  void answer(int fd, const ScriptedResponse& response);
  bool pause(std::chrono::milliseconds duration) const;  // false when stopping

  std::vector<ScriptedResponse> script_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

inline int listening_socket(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 || listen(fd, 16) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    throw std::runtime_error("loopback server: cannot listen on 127.0.0.1");
  *port = ntohs(address.sin_port);
  return fd;
}

// A port on 127.0.0.1 that nothing listens on.
inline int closed_port() {
  int port = 0;
  close(listening_socket(&port));
  return port;
}

inline LoopbackServer::LoopbackServer(std::vector<ScriptedResponse> script) : script_(std::move(script)) {
  listen_fd_ = listening_socket(&port_);
  thread_ = std::thread([this] { serve(); });
}

inline LoopbackServer::~LoopbackServer() {
  stop_ = true;
  thread_.join();
  close(listen_fd_);
}

inline std::string LoopbackServer::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

inline std::vector<std::string> LoopbackServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

inline bool LoopbackServer::pause(std::chrono::milliseconds duration) const {
  auto until = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < until) {
    if (stop_) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return !stop_;
}

inline void LoopbackServer::serve() {
  size_t next = 0;
  while (!stop_) {
    pollfd waiting{listen_fd_, POLLIN, 0};
    if (poll(&waiting, 1, 20) <= 0) continue;
    int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    // Read the header block, then as much body as Content-Length says (bounded by a deadline).
    std::string request;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    size_t wanted = std::string::npos;
    while (std::chrono::steady_clock::now() < deadline && !stop_) {
      size_t header_end = request.find("\r\n\r\n");
      if (header_end != std::string::npos && wanted == std::string::npos) {
        size_t length = 0;
        size_t at = request.find("Content-Length:");
        if (at == std::string::npos) at = request.find("content-length:");
        if (at != std::string::npos && at < header_end) length = std::stoul(request.substr(at + 15));
        wanted = header_end + 4 + length;
      }
      if (wanted != std::string::npos && request.size() >= wanted) break;
      pollfd readable{fd, POLLIN, 0};
      if (poll(&readable, 1, 20) <= 0) continue;
      char buffer[4096];
      ssize_t got = recv(fd, buffer, sizeof buffer, 0);
      if (got <= 0) break;
      request.append(buffer, static_cast<size_t>(got));
    }
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
    }
    answer(fd, script_[std::min(next, script_.size() - 1)]);
    ++next;
    close(fd);
  }
}

inline void LoopbackServer::answer(int fd, const ScriptedResponse& response) {
  if (!pause(response.delay_before)) return;
  std::string head = "HTTP/1.1 " + std::to_string(response.status) + " Scripted\r\nContent-Type: " +
                     response.content_type + "\r\nConnection: close\r\n\r\n";
  send(fd, head.data(), head.size(), MSG_NOSIGNAL);
  for (size_t i = 0; i < response.pieces.size(); ++i) {
    if (i > 0 && !pause(response.delay_between)) return;
    send(fd, response.pieces[i].data(), response.pieces[i].size(), MSG_NOSIGNAL);
  }
}

}  // namespace bantam::hybrid::test
