// The one libcurl wrapper, used by the hub (metadata GETs, resumable downloads) and the hybrid
// router's cloud client: libcurl initialized once, one easy handle per request, http and https
// only (redirects too), certificates verified, response headers collected (lowercase names, of
// the last response after redirects), body bytes handed to a callback that may stop the
// transfer. It knows nothing of stores, signatures or clouds: callers judge statuses and bodies.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bantam::net {

enum class HttpMethod { Get, Head, Post };

struct HttpRequestSpec {
  std::string url;
  HttpMethod method = HttpMethod::Get;
  std::string_view body;             // Post: sent as is (the caller keeps it alive)
  std::vector<std::string> headers;  // "Name: value"
  uint64_t range_from = 0;           // > 0: ask for bytes from here on (HTTP Range)
  bool follow_redirects = false;     // at most 5
  std::chrono::milliseconds connect_timeout{30000};
  std::chrono::milliseconds total_timeout{0};  // 0: none
  // A transfer slower than low_speed_limit bytes/s for low_speed_time is dropped (0: never).
  uint64_t low_speed_limit = 0;
  std::chrono::seconds low_speed_time{0};
};

struct TransferResult {
  bool ok = false;         // the whole response arrived
  bool stopped = false;    // on_body returned false
  bool timed_out = false;  // a timeout or the low-speed limit ended it
  std::string error;       // libcurl's words when not ok
  long status = 0;         // HTTP status of the last response
};

class HttpTransfer {
 public:
  explicit HttpTransfer(HttpRequestSpec spec);  // Error when libcurl cannot start a transfer
  ~HttpTransfer();
  HttpTransfer(const HttpTransfer&) = delete;
  HttpTransfer& operator=(const HttpTransfer&) = delete;

  // Runs the request once; each piece of the body goes to on_body (none given: discarded).
  TransferResult perform(const std::function<bool(std::string_view)>& on_body = {});
  // The current response's status and headers; valid inside on_body and after perform.
  long status() const;
  const std::map<std::string, std::string>& headers() const { return headers_; }

 private:
  struct Handle;
  HttpRequestSpec spec_;
  std::unique_ptr<Handle> handle_;
  std::map<std::string, std::string> headers_;
  const std::function<bool(std::string_view)>* on_body_ = nullptr;
  bool stopped_ = false;
  static size_t on_header(char* data, size_t size, size_t n, void* self);
  static size_t on_data(char* data, size_t size, size_t n, void* self);
};

}  // namespace bantam::net
