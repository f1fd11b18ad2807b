#include "hub/file_util.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "hub/digest.hpp"

namespace bantam::hub {
namespace {

int open_lock_file(const std::filesystem::path& path) {
  // flock needs no write access, so read-only model blobs can be locked too.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw Error(fmt::format("cannot open lock file {}: {}", path.string(), std::strerror(errno)));
  }
  return fd;
}

void write_all(int fd, const char* data, size_t size, const std::filesystem::path& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(fmt::format("cannot write {}: {}", path.string(), std::strerror(errno)));
    data += n;
    size -= static_cast<size_t>(n);
  }
}

}  // namespace

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot read {}", path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void fsync_path(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

void write_file_atomic(const std::filesystem::path& path, std::string_view data) {
  const auto tmp = path.parent_path() / ("." + path.filename().string() + "." + random_hex(6) + ".tmp");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(fmt::format("cannot create {}: {}", tmp.string(), std::strerror(errno)));
  try {
    write_all(fd, data.data(), data.size(), tmp);
    if (::fsync(fd) != 0) throw Error(fmt::format("cannot sync {}: {}", tmp.string(), std::strerror(errno)));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw Error(fmt::format("cannot move {} into place: {}", path.string(), std::strerror(err)));
  }
  fsync_path(path.parent_path());
}

void copy_file_atomic(const std::filesystem::path& from, const std::filesystem::path& to) {
  const auto tmp = to.parent_path() / ("." + to.filename().string() + "." + random_hex(6) + ".tmp");
  std::error_code ec;
  std::filesystem::copy_file(from, tmp, ec);
  if (!ec) {
    fsync_path(tmp);
    std::filesystem::rename(tmp, to, ec);
  }
  if (ec) {
    std::filesystem::remove(tmp);
    throw Error(fmt::format("cannot copy {} to {}: {}", from.string(), to.string(), ec.message()));
  }
  fsync_path(to.parent_path());
}

FileLock::FileLock(const std::filesystem::path& path, Mode mode) : fd_(open_lock_file(path)) {
  const int op = mode == Mode::shared ? LOCK_SH : LOCK_EX;
  while (::flock(fd_, op) != 0) {
    if (errno == EINTR) continue;
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw Error(fmt::format("cannot lock {}: {}", path.string(), std::strerror(err)));
  }
}

FileLock FileLock::try_lock(const std::filesystem::path& path, Mode mode) {
  FileLock lock;
  lock.fd_ = open_lock_file(path);
  const int op = (mode == Mode::shared ? LOCK_SH : LOCK_EX) | LOCK_NB;
  if (::flock(lock.fd_, op) != 0) {
    ::close(lock.fd_);
    lock.fd_ = -1;
  }
  return lock;
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace bantam::hub
