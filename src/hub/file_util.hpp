// Small crash-safe file helpers shared by the publisher and the store.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace bantam::hub {

std::string read_text_file(const std::filesystem::path& path);
// Temp file in the same folder, fsync, rename over `path`, fsync the folder: readers see the old
// or the new content, never a mix, even after a crash.
void write_file_atomic(const std::filesystem::path& path, std::string_view data);
void copy_file_atomic(const std::filesystem::path& from, const std::filesystem::path& to);
void fsync_path(const std::filesystem::path& path);  // a file or a folder

// An flock(2) held while the object lives; released by the kernel if the process dies.
class FileLock {
 public:
  enum class Mode { shared, exclusive };
  // Blocks until the lock is granted; creates the lock file if needed.
  FileLock(const std::filesystem::path& path, Mode mode);
  // Returns a lock that holds nothing when another process has it (check held()).
  static FileLock try_lock(const std::filesystem::path& path, Mode mode);
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock();
  bool held() const { return fd_ >= 0; }
  int fd() const { return fd_; }

 private:
  FileLock() = default;
  int fd_ = -1;
};

}  // namespace bantam::hub
