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

  // Data produced when the file is written, one tensor at a time, so that a converter never
  // holds a whole model in memory. `produce` must return exactly the tensor's byte size.
  using Producer = std::function<std::vector<uint8_t>()>;
  void add_tensor_lazy(const std::string& name, GgmlType type, std::vector<int64_t> shape,
                       Producer produce);
  // Called after each tensor's data is written: (tensors done, total, name).
  void on_progress(std::function<void(size_t, size_t, const std::string&)> callback) {
    progress_ = std::move(callback);
  }
  size_t tensor_count() const { return tensors_.size(); }

  // Writes to `path` atomically (temporary file, then rename); throws Error on any I/O failure.
  void write(const std::string& path) const;
  std::vector<uint8_t> to_bytes() const;

 private:
  struct PendingTensor {
    TensorInfo info;
    std::vector<uint8_t> owned;
    std::span<const uint8_t> view;
    Producer produce;
    std::span<const uint8_t> bytes() const { return owned.empty() ? view : owned; }
  };
  PendingTensor& add(const std::string& name, GgmlType type, std::vector<int64_t> shape,
                     std::vector<uint8_t> owned, std::span<const uint8_t> view, bool lazy);
  uint64_t alignment() const;
  void serialize(const std::function<void(const void*, size_t)>& emit) const;

  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<PendingTensor> tensors_;
  std::function<void(size_t, size_t, const std::string&)> progress_;
};

}  // namespace bantam::gguf
