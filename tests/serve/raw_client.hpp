// A misbehaving HTTP client on a raw socket (trickling, truncating, half-closing, never reading),
// from any 127.x.y.z source address, for the server's limit and parsing tests.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>

#include "serve_fixture.hpp"

namespace bantam::test {

class RawClient {
 public:
  // Connects to 127.0.0.1:port from `source`; a receive buffer this small makes a client that
  // never reads stall the server's writes sooner.
  explicit RawClient(int port, const std::string& source = "127.0.0.1", int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (receive_buffer > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
        ::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
      if (fd_ >= 0) ::close(fd_);
      throw std::runtime_error("raw client: cannot connect from " + source);
    }
  }
  ~RawClient() { ::close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  // Sends everything (blocking); false once the connection is broken.
  bool send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  // Sends what fits now: bytes sent (0 when the buffers are full), or -1 once the server has
  // dropped the connection.
  ssize_t send_some(std::string_view data) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return n;
    return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
  }
  void half_close() { ::shutdown(fd_, SHUT_WR); }

  // What arrives until the server closes the connection or `timeout` passes (then closed() is false).
  std::string read_until_close(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      char buffer[16384];
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      out.append(buffer, static_cast<size_t>(n));
    }
    return out;
  }
  // True once the server has closed or reset the connection (without consuming any answer).
  bool dropped() {
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLHUP | POLLERR | POLLRDHUP)) return true;
    char byte;
    return ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  }
  bool closed() const { return closed_; }
  int fd() const { return fd_; }  // for a TLS client over this connection

 private:
  int fd_ = -1;
  bool closed_ = false;
};

// The status code of the first response in `raw` ("HTTP/1.1 200 OK..."), 0 when there is none.
inline int status_of(const std::string& raw) {
  if (!raw.starts_with("HTTP/1.1 ") || raw.size() < 12) return 0;
  return std::stoi(raw.substr(9, 3));
}

// The body of the one response in `raw`.
inline std::string body_of(const std::string& raw) {
  const size_t end = raw.find("\r\n\r\n");
  return end == std::string::npos ? std::string() : raw.substr(end + 4);
}

inline nlohmann::json short_chat() {
  return {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 4}};
}

// What every hostile case ends with: a normal client still gets a chat answer.
inline void expect_chat_answered(int port) {
  const HttpResult r = post(port, "/v1/chat/completions", short_chat());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.json()["choices"][0]["message"]["content"].is_string()) << r.body;
}

}  // namespace bantam::test
