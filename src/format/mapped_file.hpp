// A read-only memory map of a whole file; tensor data is used in place, never copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace bantam {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws Error naming the path and errno
  // Maps the file open as `fd` (the caller keeps and closes it; the mapping outlives it); `name`
  // is used in errors.
  MappedFile(int fd, std::string name);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  void map(int fd);

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace bantam
