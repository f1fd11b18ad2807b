#include "net/http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "bantam/error.hpp"

#ifndef BANTAM_VERSION
#define BANTAM_VERSION "dev"
#endif

namespace bantam::net {

struct HttpTransfer::Handle {
  CURL* curl = nullptr;
  curl_slist* headers = nullptr;
  ~Handle() {
    curl_slist_free_all(headers);
    if (curl) curl_easy_cleanup(curl);
  }
};

HttpTransfer::HttpTransfer(HttpRequestSpec spec) : spec_(std::move(spec)), handle_(std::make_unique<Handle>()) {
  static const CURLcode global = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (global != CURLE_OK) throw Error("libcurl failed to initialize");
  handle_->curl = curl_easy_init();
  if (!handle_->curl) throw Error("libcurl: cannot create a transfer");
  CURL* c = handle_->curl;
  curl_easy_setopt(c, CURLOPT_URL, spec_.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "bantam/" BANTAM_VERSION);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(spec_.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(spec_.total_timeout.count()));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(spec_.low_speed_limit));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(spec_.low_speed_time.count()));
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, spec_.follow_redirects ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &HttpTransfer::on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &HttpTransfer::on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, this);
  for (const std::string& header : spec_.headers) handle_->headers = curl_slist_append(handle_->headers, header.c_str());
  if (handle_->headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, handle_->headers);
  if (spec_.range_from > 0) {
    const std::string range = fmt::format("{}-", spec_.range_from);
    curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());  // libcurl copies option strings
  }
  if (spec_.method == HttpMethod::Head) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (spec_.method == HttpMethod::Post) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, spec_.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(spec_.body.size()));
  }
}

HttpTransfer::~HttpTransfer() = default;

// Collects response headers; a new status line (after a redirect) starts a fresh set.
size_t HttpTransfer::on_header(char* data, size_t size, size_t n, void* self) {
  auto& headers = static_cast<HttpTransfer*>(self)->headers_;
  const std::string line(data, size * n);
  if (line.starts_with("HTTP/")) {
    headers.clear();
    return size * n;
  }
  const auto colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  const std::string value = line.substr(colon + 1);
  const auto first = value.find_first_not_of(" \t");
  const auto last = value.find_last_not_of(" \t\r\n");
  headers[name] = first == std::string::npos ? "" : value.substr(first, last - first + 1);
  return size * n;
}

size_t HttpTransfer::on_data(char* data, size_t size, size_t n, void* self) {
  auto& transfer = *static_cast<HttpTransfer*>(self);
  if (!transfer.on_body_ || !*transfer.on_body_) return size * n;
  if ((*transfer.on_body_)(std::string_view(data, size * n))) return size * n;
  transfer.stopped_ = true;
  return 0;  // aborts the transfer
}

TransferResult HttpTransfer::perform(const std::function<bool(std::string_view)>& on_body) {
  on_body_ = &on_body;
  stopped_ = false;
  const CURLcode rc = curl_easy_perform(handle_->curl);
  on_body_ = nullptr;
  TransferResult result;
  result.ok = rc == CURLE_OK;
  result.stopped = stopped_;
  result.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
  if (!result.ok) result.error = curl_easy_strerror(rc);
  result.status = status();
  return result;
}

long HttpTransfer::status() const {
  long code = 0;
  curl_easy_getinfo(handle_->curl, CURLINFO_RESPONSE_CODE, &code);
  return code;
}

}  // namespace bantam::net
