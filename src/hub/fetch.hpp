// HTTP for the hub over libcurl: small capped GETs for metadata, and resumable, chunk-verified
// downloads of model files. Every transfer has a minimum speed (slow-retrieval attacks) and a
// byte cap taken from signed metadata (endless-data attacks).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace bantam::hub {

struct FetchOptions {
  // A transfer slower than min_speed(size) for low_speed_time is abandoned: at least
  // low_speed_limit bytes/s, and for a model file whatever it needs to arrive within
  // download_deadline, so a hub trickling a large file is dropped as soon as a small one.
  uint64_t low_speed_limit = 16 << 10;
  std::chrono::seconds low_speed_time{30};
  std::chrono::seconds download_deadline{6 * 3600};
  std::chrono::seconds connect_timeout{30};
  int max_chunk_retries = 3;  // fetches of one chunk whose hash keeps failing
  // Called as bytes arrive: (bytes of the file present, file size).
  std::function<void(uint64_t, uint64_t)> progress;
  // Replaces pwrite(2) for the partial file; tests use it to inject ENOSPC.
  std::function<ssize_t(int fd, const void* data, size_t size, off_t offset)> write_hook;

  // Bytes/s a transfer of a file of `size` bytes must keep up.
  uint64_t min_speed(uint64_t size) const;
};

struct HttpResponse {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lowercase names, of the last response
};

// GET `url`, following redirects; throws Error on network failure or when the body would exceed
// `max_bytes`. Any HTTP status is returned for the caller to judge.
HttpResponse http_get(const std::string& url, uint64_t max_bytes, const FetchOptions& options);
// HEAD `url` without following redirects (the Hugging Face Hub puts a file's sha256 on the
// redirect itself).
HttpResponse http_head(const std::string& url, const FetchOptions& options);

// What to download and how to check it.
struct BlobSpec {
  std::string url;
  std::string label;                // for messages, e.g. "tiny:1.2"
  std::string sha256;               // of the whole file
  uint64_t size = 0;                // never read more than this
  uint64_t chunk_size = 0;          // 0: no chunk hashes, only the whole-file hash
  std::vector<std::string> chunks;  // sha256 per chunk
};

// Downloads into `partial`, resuming what is already there (HTTP Range) after re-checking its
// complete chunks. A chunk failing its hash is truncated away and fetched again alone. The caller
// holds an exclusive FileLock on `partial`. Throws Error on failure; the partial file is kept for a
// later resume unless the local write failed or the whole-file hash is wrong.
void download_blob(const BlobSpec& spec, const std::filesystem::path& partial, const FetchOptions& options);

}  // namespace bantam::hub
