// A real `bantam serve` child process on a free loopback port, and a small libcurl client.
#pragma once

#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "store_install.hpp"
#include "test_support.hpp"

extern char** environ;

namespace bantam::test {

inline std::string stories_model() { return shared("models/weights/stories260K.gguf").string(); }

class ServerProcess {
 public:
  // Starts `bantam serve -m MODEL --port 0 ARGS...` and waits for its "listening" line.
  explicit ServerProcess(std::vector<std::string> args = {}, std::vector<std::string> env_extra = {},
                         const std::string& model = stories_model()) {
    std::vector<std::string> argv = {cli_path().string(), "serve", "-m", model, "--port", "0", "-t", "1"};
    tls_ = std::find(args.begin(), args.end(), "--tls-cert") != args.end();
    argv.insert(argv.end(), args.begin(), args.end());
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    log_path_ = (temp_dir() / "serve.log").string();
    posix_spawn_file_actions_addopen(&actions, 2, log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> cargs;
    for (auto& a : argv) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    env.insert(env.end(), env_extra.begin(), env_extra.end());
    std::vector<char*> cenv;
    for (auto& e : env) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, cargs[0], &actions, nullptr, cargs.data(), cenv.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    if (rc != 0) {
      ::close(out[0]);
      throw std::runtime_error("cannot start bantam serve");
    }
    out_fd_ = out[0];
    std::string text;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (text.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buffer[256];
      const ssize_t n = ::read(out_fd_, buffer, sizeof buffer);
      if (n <= 0) break;
      text.append(buffer, static_cast<size_t>(n));
    }
    const size_t colon = text.rfind(':');
    if (text.find("listening on") == std::string::npos || colon == std::string::npos) {
      stop();
      throw std::runtime_error("bantam serve did not start: " + read_file(log_path_));
    }
    port_ = std::stoi(text.substr(colon + 1));
    wait_ready();
  }
  ~ServerProcess() { stop(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string log() const { return read_file(log_path_); }

  // SIGTERM, then waits up to `timeout` for the exit (SIGKILL after); returns the exit status
  // or -1 if it had to be killed.
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    if (pid_ <= 0) return status_;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (out_fd_ >= 0) ::close(out_fd_);
        out_fd_ = -1;
        return status_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = 0;
    if (out_fd_ >= 0) ::close(out_fd_);
    out_fd_ = -1;
    status_ = -1;
    return status_;
  }

 private:
  void wait_ready();

  pid_t pid_ = 0;
  bool tls_ = false;  // HTTPS (--tls-cert)
  int out_fd_ = -1;
  int port_ = 0;
  int status_ = -1;
  std::string log_path_;
};

// A suite whose tests share one `bantam serve`, started once by the suite's SetUpTestSuite.
class SharedServerSuite : public ::testing::Test {
 protected:
  static void start_server(std::vector<std::string> args) { server_ = new ServerProcess(std::move(args)); }
  // Stops it; with `expect_clean_exit`, a non-zero exit fails the suite and shows the log.
  static void stop_server(bool expect_clean_exit = true) {
    if (expect_clean_exit) {
      EXPECT_EQ(server_->stop(), 0) << server_->log();
    }
    delete server_;
    server_ = nullptr;
  }
  static int port() { return server_->port(); }
  static inline ServerProcess* server_ = nullptr;
};

struct HttpResult {
  long status = 0;
  std::string body;
  CURLcode error = CURLE_OK;
  nlohmann::json json() const { return nlohmann::json::parse(body); }
};

// One request to `url`. on_data, when set, sees each piece of the body as it arrives; returning
// false aborts. configure, when set, sets more options on the handle (TLS ones).
inline HttpResult fetch(const std::string& url, const std::string& method, const std::string& body = {},
                        std::vector<std::string> headers = {},
                        const std::function<bool(const std::string&)>& on_data = {}, long timeout_s = 60,
                        const std::function<void(CURL*)>& configure = {}) {
  HttpResult result;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  if (configure) configure(curl);
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_s);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    headers.push_back("Content-Type: application/json");
  }
  headers.push_back("Expect:");
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  struct Sink {
    HttpResult* result;
    const std::function<bool(const std::string&)>* on_data;
  } sink{&result, &on_data};
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* user) -> size_t {
    auto* s = static_cast<Sink*>(user);
    const std::string piece(data, size * n);
    s->result->body += piece;
    if (*s->on_data && !(*s->on_data)(piece)) return 0;
    return size * n;
  });
  result.error = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return result;
}

inline HttpResult http(int port, const std::string& method, const std::string& path, const std::string& body = {},
                       std::vector<std::string> headers = {},
                       const std::function<bool(const std::string&)>& on_data = {}, long timeout_s = 60) {
  return fetch("http://127.0.0.1:" + std::to_string(port) + path, method, body, std::move(headers), on_data,
               timeout_s);
}

inline HttpResult post(int port, const std::string& path, const nlohmann::json& body, std::vector<std::string> headers = {}) {
  return http(port, "POST", path, body.dump(), std::move(headers));
}

// How many chat completions a bantam server has answered, from its /metrics.
inline int chat_requests(const ServerProcess& server) {
  const std::string metrics = http(server.port(), "GET", "/metrics").body;
  int total = 0;
  size_t at = 0;
  const std::string key = "bantam_requests_total{route=\"/v1/chat/completions\"";
  while ((at = metrics.find(key, at)) != std::string::npos) {
    at = metrics.find("} ", at) + 2;
    total += std::stoi(metrics.substr(at));
  }
  return total;
}

// The JSON payloads of a server-sent event stream, up to "data: [DONE]" (done set when seen).
inline std::vector<nlohmann::json> sse_events(const std::string& body, bool* done = nullptr) {
  std::vector<nlohmann::json> events;
  size_t pos = 0;
  if (done) *done = false;
  while (pos < body.size()) {
    size_t end = body.find('\n', pos);
    if (end == std::string::npos) end = body.size();
    const std::string line = body.substr(pos, end - pos);
    pos = end + 1;
    if (!line.starts_with("data: ")) continue;
    const std::string data = line.substr(6);
    if (data == "[DONE]") {
      if (done) *done = true;
      break;
    }
    events.push_back(nlohmann::json::parse(data));
  }
  return events;
}

// Runs `command` under sh; returns its stdout (and stderr where the command redirects it), with
// pclose's status in `status`. The client-compatibility tests run node scripts this way.
inline std::string run_command(const std::string& command, int& status) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) {
    status = -1;
    return out;
  }
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  status = ::pclose(pipe);
  return out;
}

inline void ServerProcess::wait_ready() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    // Over HTTPS only whether it answers: the tests check certificates themselves.
    const HttpResult health =
        tls_ ? fetch("https://127.0.0.1:" + std::to_string(port_) + "/health", "GET", {}, {}, {}, 60,
                     [](CURL* curl) {
                       curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
                       curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
                     })
             : http(port_, "GET", "/health");
    if (health.status == 200) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("bantam serve never became ready");
}

}  // namespace bantam::test
