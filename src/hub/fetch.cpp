#include "hub/fetch.hpp"

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
#include "net/http_client.hpp"

namespace bantam::hub {
namespace {

// A transfer of `url` with the hub's limits; min_speed: the bytes/s below which it is dropped
// after options.low_speed_time.
net::HttpRequestSpec request(const std::string& url, const FetchOptions& options, uint64_t min_speed) {
  net::HttpRequestSpec spec;
  spec.url = url;
  spec.follow_redirects = true;
  spec.connect_timeout = options.connect_timeout;
  spec.low_speed_limit = min_speed;
  spec.low_speed_time = options.low_speed_time;
  return spec;
}

// size: of the file transferred, 0 when unknown.
std::string transfer_error(const net::TransferResult& r, const FetchOptions& options, uint64_t size = 0) {
  if (!r.timed_out) return r.error;
  const uint64_t min_speed = options.min_speed(size);
  const std::string why =
      min_speed > options.low_speed_limit
          ? fmt::format(", too slow for {} bytes within the download deadline of {} s", size,
                        options.download_deadline.count())
          : "";
  return fmt::format("transfer slower than {} bytes/s for {} s{} (slow retrieval attack?)", min_speed,
                     options.low_speed_time.count(), why);
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
  const net::HttpTransfer* transfer = nullptr;
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
    const long status = transfer->status();
    if (status == 206) {
      const auto header = transfer->headers().find("content-range");
      const std::string range = header == transfer->headers().end() ? "" : header->second;
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

  // False stops the transfer (fatal says why, or corrupt_chunk asks for a refetch).
  bool write(const char* data, size_t n) {
    if (!started && !start_response()) return false;
    if (present + n > spec.size) {
      fatal = fmt::format("{}: server sent more than the signed size of {} bytes (endless data attack?)",
                          spec.label, spec.size);
      return false;
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
        return false;
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
      return false;
    }
    return true;
  }
};

void remove_partial(const std::string& path) { ::unlink(path.c_str()); }

}  // namespace

uint64_t FetchOptions::min_speed(uint64_t size) const {
  const auto seconds = static_cast<uint64_t>(std::max<int64_t>(1, download_deadline.count()));
  return std::max(low_speed_limit, (size + seconds - 1) / seconds);
}

HttpResponse http_get(const std::string& url, uint64_t max_bytes, const FetchOptions& options) {
  HttpResponse response;
  net::HttpTransfer transfer(request(url, options, options.low_speed_limit));
  const net::TransferResult r = transfer.perform([&](std::string_view piece) {
    if (response.body.size() + piece.size() > max_bytes) return false;
    response.body += piece;
    return true;
  });
  if (r.stopped) {
    throw Error(fmt::format("{}: response is larger than the {} bytes allowed (endless data attack?)", url,
                            max_bytes));
  }
  if (!r.ok) throw Error(fmt::format("{}: {}", url, transfer_error(r, options)));
  response.status = r.status;
  response.headers = transfer.headers();
  return response;
}

HttpResponse http_head(const std::string& url, const FetchOptions& options) {
  HttpResponse response;
  net::HttpRequestSpec spec = request(url, options, options.low_speed_limit);
  spec.method = net::HttpMethod::Head;
  spec.follow_redirects = false;
  net::HttpTransfer transfer(std::move(spec));
  const net::TransferResult r = transfer.perform();
  if (!r.ok) throw Error(fmt::format("{}: {}", url, transfer_error(r, options)));
  response.status = r.status;
  response.headers = transfer.headers();
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
    net::HttpRequestSpec request_spec = request(spec.url, options, options.min_speed(spec.size));
    request_spec.range_from = d.present;
    net::HttpTransfer transfer(std::move(request_spec));
    d.transfer = &transfer;
    d.started = false;
    d.corrupt_chunk = false;
    d.requested_from = d.present;
    const net::TransferResult r =
        transfer.perform([&](std::string_view piece) { return d.write(piece.data(), piece.size()); });
    if (!d.fatal.empty()) {
      if (d.local_failure) remove_partial(d.path);
      throw Error(d.fatal);
    }
    if (d.corrupt_chunk) continue;
    if (!r.ok) {
      throw Error(fmt::format("downloading {}: {} after {} of {} bytes; run again to resume", spec.label,
                              transfer_error(r, options, spec.size), d.present, spec.size));
    }
    if (!d.started) {
      const long status = r.status;
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
