// A stand-in cloud on 127.0.0.1 that answers every chat completion with the text of the last
// message it was sent, whole or as server-sent events a few bytes each (so placeholders arrive
// split across chunks). It keeps the request bodies, which is what left the device.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "hybrid/loopback_server.hpp"

namespace bantam::hybrid::test {

class EchoCloud {
 public:
  EchoCloud() {
    listen_fd_ = listening_socket(&port_);
    thread_ = std::thread([this] { serve(); });
  }
  ~EchoCloud() {
    stop_ = true;
    thread_.join();
    close(listen_fd_);
  }
  EchoCloud(const EchoCloud&) = delete;
  EchoCloud& operator=(const EchoCloud&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> bodies() const {
    std::lock_guard lock(mutex_);
    return bodies_;
  }

 private:
  static std::string last_text(const nlohmann::json& request) {
    if (!request.contains("messages") || !request["messages"].is_array() || request["messages"].empty()) return {};
    const nlohmann::json& last = request["messages"].back();
    return last.contains("content") && last["content"].is_string() ? last["content"].get<std::string>() : "";
  }

  void serve() {
    while (!stop_) {
      pollfd waiting{listen_fd_, POLLIN, 0};
      if (poll(&waiting, 1, 20) <= 0) continue;
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      std::string body = read_body(fd);
      {
        std::lock_guard lock(mutex_);
        bodies_.push_back(body);
      }
      nlohmann::json request = nlohmann::json::parse(body, nullptr, false);
      std::string text = request.is_discarded() ? "" : last_text(request);
      bool stream = !request.is_discarded() && request.value("stream", false);
      std::string answer = stream ? events(text) : whole(text);
      std::string head = std::string("HTTP/1.1 200 OK\r\nContent-Type: ") +
                         (stream ? "text/event-stream" : "application/json") +
                         "\r\nConnection: close\r\nContent-Length: " + std::to_string(answer.size()) + "\r\n\r\n";
      send(fd, head.data(), head.size(), MSG_NOSIGNAL);
      send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
      close(fd);
    }
  }

  std::string read_body(int fd) const {
    std::string request;
    size_t wanted = std::string::npos;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline && !stop_) {
      size_t header_end = request.find("\r\n\r\n");
      if (header_end != std::string::npos && wanted == std::string::npos) {
        size_t at = request.find("Content-Length:");
        if (at == std::string::npos) at = request.find("content-length:");
        size_t length = at != std::string::npos && at < header_end ? std::stoul(request.substr(at + 15)) : 0;
        wanted = header_end + 4 + length;
      }
      if (wanted != std::string::npos && request.size() >= wanted) return request.substr(request.find("\r\n\r\n") + 4);
      pollfd readable{fd, POLLIN, 0};
      if (poll(&readable, 1, 20) <= 0) continue;
      char buffer[4096];
      ssize_t got = recv(fd, buffer, sizeof buffer, 0);
      if (got <= 0) break;
      request.append(buffer, static_cast<size_t>(got));
    }
    return {};
  }

  static std::string whole(const std::string& text) {
    nlohmann::json answer{{"id", "echo"},
                          {"object", "chat.completion"},
                          {"model", "echo"},
                          {"choices", {{{"index", 0},
                                        {"message", {{"role", "assistant"}, {"content", text}}},
                                        {"finish_reason", "stop"}}}},
                          {"usage", {{"prompt_tokens", 1}, {"completion_tokens", 1}}}};
    return answer.dump();
  }

  static std::string events(const std::string& text) {
    std::string out;
    for (size_t at = 0; at < text.size(); at += 3) {
      nlohmann::json chunk{{"object", "chat.completion.chunk"},
                           {"choices", {{{"index", 0}, {"delta", {{"content", text.substr(at, 3)}}}, {"finish_reason", nullptr}}}}};
      out += "data: " + chunk.dump() + "\n\n";
    }
    nlohmann::json last{{"object", "chat.completion.chunk"},
                        {"choices", {{{"index", 0}, {"delta", nlohmann::json::object()}, {"finish_reason", "stop"}}}}};
    out += "data: " + last.dump() + "\n\ndata: [DONE]\n\n";
    return out;
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<std::string> bodies_;
  std::thread thread_;
};

}  // namespace bantam::hybrid::test
