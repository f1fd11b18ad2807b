#include "hub/fetch.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <cerrno>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "hub/digest.hpp"

#ifndef BANTAM_VERSION
#define BANTAM_VERSION "dev"
#endif

namespace bantam::hub {
namespace {

struct CurlDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;

// Collects response headers; a new status line (after a redirect) starts a fresh set.
size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto& headers = *static_cast<std::map<std::string, std::string>*>(user);
  std::string line(data, size * n);
  if (line.starts_with("HTTP/")) {
    headers.clear();
    return size * n;
  }
  const auto colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string value = line.substr(colon + 1);
  const auto first = value.find_first_not_of(" \t");
  const auto last = value.find_last_not_of(" \t\r\n");
  headers[name] = first == std::string::npos ? "" : value.substr(first, last - first + 1);
  return size * n;
}

// min_speed: the bytes/s below which the transfer is dropped after options.low_speed_time.
CurlPtr make_handle(const std::string& url, const FetchOptions& options, uint64_t min_speed,
                    std::map<std::string, std::string>* headers) {
  static const CURLcode global = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (global != CURLE_OK) throw Error("libcurl failed to initialize");
  CurlPtr h(curl_easy_init());
  if (!h) throw Error("libcurl: cannot create a transfer");
  CURL* c = h.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "bantam/" BANTAM_VERSION);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(min_speed));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options.low_speed_time.count()));
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, headers);
  return h;
}

long response_code(CURL* c) {
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  return code;
}

// size: of the file transferred, 0 when unknown.
std::string transfer_error(CURLcode rc, const FetchOptions& options, uint64_t size = 0) {
  if (rc != CURLE_OPERATION_TIMEDOUT) return curl_easy_strerror(rc);
  const uint64_t min_speed = options.min_speed(size);
  const std::string why =
      min_speed > options.low_speed_limit
          ? fmt::format(", too slow for {} bytes within the download deadline of {} s", size,
                        options.download_deadline.count())
          : "";
  return fmt::format("transfer slower than {} bytes/s for {} s{} (slow retrieval attack?)", min_speed,
                     options.low_speed_time.count(), why);
}

struct CappedBody {
  std::string* body;
  uint64_t max_bytes;
  bool overflow = false;
};

size_t on_capped_body(char* data, size_t size, size_t n, void* user) {
  auto& sink = *static_cast<CappedBody*>(user);
  if (sink.body->size() + size * n > sink.max_bytes) {
    sink.overflow = true;
    return 0;  // aborts the transfer
  }
  sink.body->append(data, size * n);
  return size * n;
}

std::string hash_fd_range(int fd, uint64_t offset, uint64_t length, const std::string& path) {
  Sha256 h;
  std::vector<uint8_t> buffer(1 << 16);
  while (length > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(length, buffer.size()));
    const ssize_t got = ::pread(fd, buffer.data(), want, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) throw Error(fmt::format("cannot read back {} at byte {}", path, offset));
    h.update(std::span(buffer.data(), static_cast<size_t>(got)));
    offset += static_cast<uint64_t>(got);
    length -= static_cast<uint64_t>(got);
  }
  return h.hex_digest();
}

// State of one resumable download shared with libcurl's write callback.
struct Download {
  Download(const BlobSpec& s, const FetchOptions& o, std::string p) : spec(s), options(o), path(std::move(p)) {}

  const BlobSpec& spec;
  const FetchOptions& options;
  const std::string path;
  int fd = -1;
  CURL* curl = nullptr;
  std::map<std::string, std::string> headers;
  uint64_t present = 0;       // bytes of the file on disk
  uint64_t next_chunk = 0;    // first chunk not yet verified
  uint64_t requested_from = 0;
  bool started = false;       // the current response delivered its first bytes
  bool corrupt_chunk = false; // aborted to refetch a chunk
  bool local_failure = false; // a write to the disk failed
  std::string fatal;          // aborted for good with this message
  std::vector<int> attempts;  // fetches per chunk

  uint64_t chunk_end(uint64_t k) const { return std::min((k + 1) * spec.chunk_size, spec.size); }

  void truncate_to(uint64_t length) {
    if (::ftruncate(fd, static_cast<off_t>(length)) != 0) {
      throw Error(fmt::format("cannot truncate {}: {}", path, std::strerror(errno)));
    }
    present = length;
  }

  // Checks every chunk that is now complete; on a bad one, cuts the file back to its start.
  bool verify_complete_chunks() {
    while (spec.chunk_size > 0 && next_chunk < spec.chunks.size() && chunk_end(next_chunk) <= present) {
      const uint64_t begin = next_chunk * spec.chunk_size;
      if (hash_fd_range(fd, begin, chunk_end(next_chunk) - begin, path) != spec.chunks[next_chunk]) {
        truncate_to(begin);
        return false;
      }
      ++next_chunk;
    }
    return true;
  }

  bool start_response() {
    started = true;
    const long status = response_code(curl);
    if (status == 206) {
      const std::string range = headers["content-range"];
      uint64_t start = 0;
      if (std::sscanf(range.c_str(), "bytes %" SCNu64 "-", &start) != 1 || start != requested_from) {
        fatal = fmt::format("{}: server answered range '{}' to a request from byte {}", spec.url, range,
                            requested_from);
        return false;
      }
      return true;
    }
    if (status == 200) {
      // The server ignored our Range: start over from byte 0.
      truncate_to(0);
      next_chunk = 0;
      return true;
    }
    fatal = fmt::format("{}: HTTP status {}", spec.url, status);
    return false;
  }

  size_t write(const char* data, size_t n) {
    if (!started && !start_response()) return 0;
    if (present + n > spec.size) {
      fatal = fmt::format("{}: server sent more than the signed size of {} bytes (endless data attack?)",
                          spec.label, spec.size);
      return 0;
    }
    size_t done = 0;
    while (done < n) {
      const ssize_t w = options.write_hook
                            ? options.write_hook(fd, data + done, n - done, static_cast<off_t>(present + done))
                            : ::pwrite(fd, data + done, n - done, static_cast<off_t>(present + done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        fatal = fmt::format("cannot write {}: {}", path, std::strerror(w < 0 ? errno : EIO));
        local_failure = true;
        return 0;
      }
      done += static_cast<size_t>(w);
    }
    present += n;
    if (options.progress) options.progress(present, spec.size);
    if (!verify_complete_chunks()) {
      const uint64_t bad = next_chunk;
      if (++attempts[bad] >= options.max_chunk_retries) {
        fatal = fmt::format("{}: chunk {} of {} failed its SHA-256 check {} times (tampered file?)",
                            spec.label, bad, spec.chunks.size(), attempts[bad]);
      } else {
        corrupt_chunk = true;
      }
      return 0;
    }
    return n;
  }
};

size_t on_download_body(char* data, size_t size, size_t n, void* user) {
  return static_cast<Download*>(user)->write(data, size * n);
}

void remove_partial(const std::string& path) { ::unlink(path.c_str()); }

}  // namespace

uint64_t FetchOptions::min_speed(uint64_t size) const {
  const auto seconds = static_cast<uint64_t>(std::max<int64_t>(1, download_deadline.count()));
  return std::max(low_speed_limit, (size + seconds - 1) / seconds);
}

HttpResponse http_get(const std::string& url, uint64_t max_bytes, const FetchOptions& options) {
  HttpResponse response;
  CurlPtr h = make_handle(url, options, options.low_speed_limit, &response.headers);
  CappedBody sink{&response.body, max_bytes};
  curl_easy_setopt(h.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, &on_capped_body);
  curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &sink);
  const CURLcode rc = curl_easy_perform(h.get());
  if (sink.overflow) {
    throw Error(fmt::format("{}: response is larger than the {} bytes allowed (endless data attack?)", url,
                            max_bytes));
  }
  if (rc != CURLE_OK) throw Error(fmt::format("{}: {}", url, transfer_error(rc, options)));
  response.status = response_code(h.get());
  return response;
}

HttpResponse http_head(const std::string& url, const FetchOptions& options) {
  HttpResponse response;
  CurlPtr h = make_handle(url, options, options.low_speed_limit, &response.headers);
  curl_easy_setopt(h.get(), CURLOPT_NOBODY, 1L);
  const CURLcode rc = curl_easy_perform(h.get());
  if (rc != CURLE_OK) throw Error(fmt::format("{}: {}", url, transfer_error(rc, options)));
  response.status = response_code(h.get());
  return response;
}

void download_blob(const BlobSpec& spec, const std::filesystem::path& partial, const FetchOptions& options) {
  Download d(spec, options, partial.string());
  d.attempts.assign(std::max<size_t>(spec.chunks.size(), 1), 0);
  d.fd = ::open(d.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (d.fd < 0) throw Error(fmt::format("cannot create {}: {}", d.path, std::strerror(errno)));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{d.fd};
  struct stat by_fd {};
  if (::fstat(d.fd, &by_fd) != 0) throw Error(fmt::format("cannot stat {}: {}", d.path, std::strerror(errno)));

  d.present = static_cast<uint64_t>(by_fd.st_size);
  if (d.present > spec.size) d.truncate_to(0);
  d.verify_complete_chunks();  // a resumed file keeps only its chunks that still check out

  while (d.present < spec.size) {
    CurlPtr h = make_handle(spec.url, options, options.min_speed(spec.size), &d.headers);
    d.curl = h.get();
    d.started = false;
    d.corrupt_chunk = false;
    d.requested_from = d.present;
    const std::string range = fmt::format("{}-", d.present);
    if (d.present > 0) curl_easy_setopt(h.get(), CURLOPT_RANGE, range.c_str());
    curl_easy_setopt(h.get(), CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, &on_download_body);
    curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &d);
    const CURLcode rc = curl_easy_perform(h.get());
    if (!d.fatal.empty()) {
      if (d.local_failure) remove_partial(d.path);
      throw Error(d.fatal);
    }
    if (d.corrupt_chunk) continue;
    if (rc != CURLE_OK) {
      throw Error(fmt::format("downloading {}: {} after {} of {} bytes; run again to resume", spec.label,
                              transfer_error(rc, options, spec.size), d.present, spec.size));
    }
    if (!d.started) {
      const long status = response_code(h.get());
      throw Error(fmt::format("{}: HTTP status {}{}", spec.url, status,
                              status == 404 ? " (not found on the server)" : ""));
    }
    if (d.present < spec.size) {
      throw Error(fmt::format("downloading {}: server closed the connection after {} of {} bytes; run "
                              "again to resume",
                              spec.label, d.present, spec.size));
    }
  }
  if (hash_fd_range(d.fd, 0, spec.size, d.path) != spec.sha256) {
    remove_partial(d.path);
    throw Error(fmt::format("{}: downloaded file does not match its signed SHA-256 (tampered file?)",
                            spec.label));
  }
  if (::fsync(d.fd) != 0) {
    remove_partial(d.path);
    throw Error(fmt::format("cannot sync {}: {}", d.path, std::strerror(errno)));
  }
}

}  // namespace bantam::hub
