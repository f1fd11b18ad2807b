// GGUF v3 writer: metadata in insertion order, tensors aligned to general.alignment.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "format/gguf.hpp"

namespace bantam::gguf {

class Writer {
 public:
  // Sets or replaces a key; a new key goes last, a replaced one keeps its place.
  void set(const std::string& key, Value value);
  void remove(const std::string& key);
  // Copies every key of `file` (e.g. to carry a model's metadata into a new file).
  void copy_metadata(const File& file);

  // Owned data.
  void add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> shape,
                  std::vector<uint8_t> data);
  // Borrowed data: must stay valid until write() returns (e.g. a view into a mapped file).
  void add_tensor_view(const std::string& name, GgmlType type, std::vector<int64_t> shape,
                       std::span<const uint8_t> data);

  // Writes to `path` atomically (temporary file, then rename); throws Error on any I/O failure.
  void write(const std::string& path) const;
  std::vector<uint8_t> to_bytes() const;

 private:
  struct PendingTensor {
    TensorInfo info;
    std::vector<uint8_t> owned;
    std::span<const uint8_t> view;
    std::span<const uint8_t> bytes() const { return owned.empty() ? view : owned; }
  };
  void add(const std::string& name, GgmlType type, std::vector<int64_t> shape,
           std::vector<uint8_t> owned, std::span<const uint8_t> view);
  uint64_t alignment() const;
  void serialize(const std::function<void(const void*, size_t)>& emit) const;

  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace bantam::gguf
