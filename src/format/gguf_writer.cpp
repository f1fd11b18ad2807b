#include "format/gguf_writer.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "bantam/error.hpp"

namespace bantam::gguf {
namespace {

using Emit = std::function<void(const void*, size_t)>;

template <class T>
void put(const Emit& emit, T v) {
  emit(&v, sizeof(v));
}

void put_string(const Emit& emit, const std::string& s) {
  put<uint64_t>(emit, s.size());
  emit(s.data(), s.size());
}

void put_value(const Emit& emit, const Value& v) {
  std::vector<uint8_t> bytes;
  encode_value(v, bytes);
  emit(bytes.data(), bytes.size());
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

void Writer::set(const std::string& key, Value value) {
  if (key == "general.alignment") {
    const bool ok = value.type() == ValueType::UINT32 && value.as_uint() != 0 &&
                    (value.as_uint() & (value.as_uint() - 1)) == 0;
    if (!ok) throw Error("GGUF writer: general.alignment must be a u32 power of two");
  }
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(key, std::move(value));
}

void Writer::remove(const std::string& key) {
  std::erase_if(metadata_, [&](const auto& kv) { return kv.first == key; });
}

void Writer::copy_metadata(const File& file) {
  for (const auto& [k, v] : file.metadata()) set(k, v);
}

void Writer::add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> shape,
                        std::vector<uint8_t> data) {
  add(name, type, std::move(shape), std::move(data), {}, false);
}

void Writer::add_tensor_view(const std::string& name, GgmlType type, std::vector<int64_t> shape,
                             std::span<const uint8_t> data) {
  add(name, type, std::move(shape), {}, data, false);
}

void Writer::add_tensor_lazy(const std::string& name, GgmlType type, std::vector<int64_t> shape,
                             Producer produce) {
  add(name, type, std::move(shape), {}, {}, true).produce = std::move(produce);
}

Writer::PendingTensor& Writer::add(const std::string& name, GgmlType type,
                                   std::vector<int64_t> shape, std::vector<uint8_t> owned,
                                   std::span<const uint8_t> view, bool lazy) {
  for (const auto& t : tensors_) {
    if (t.info.name == name) throw Error(fmt::format("GGUF writer: duplicate tensor '{}'", name));
  }
  PendingTensor t;
  t.info.name = name;
  t.info.type = type;
  t.info.shape = std::move(shape);
  if (t.info.shape.empty() || t.info.shape.size() > 4) {
    throw Error(fmt::format("GGUF writer: tensor '{}' must have 1..4 dimensions", name));
  }
  t.info.nbytes = row_bytes(type, t.info.shape[0]) * static_cast<uint64_t>(t.info.n_rows());
  t.owned = std::move(owned);
  t.view = view;
  if (!lazy && t.bytes().size() != t.info.nbytes) {
    throw Error(fmt::format("GGUF writer: tensor '{}' {} {} needs {} bytes, got {}", name,
                            type_name(type), t.info.shape_string(), t.info.nbytes,
                            t.bytes().size()));
  }
  tensors_.push_back(std::move(t));
  return tensors_.back();
}

uint64_t Writer::alignment() const {
  for (const auto& [k, v] : metadata_) {
    if (k == "general.alignment") return v.as_uint();
  }
  return kDefaultAlignment;
}

void Writer::serialize(const Emit& emit) const {
  const uint64_t align = alignment();
  uint64_t written = 0;
  const Emit counted = [&](const void* p, size_t n) {
    emit(p, n);
    written += n;
  };
  put<uint32_t>(counted, kMagic);
  put<uint32_t>(counted, 3);
  put<uint64_t>(counted, tensors_.size());
  put<uint64_t>(counted, metadata_.size());
  for (const auto& [k, v] : metadata_) {
    put_string(counted, k);
    put<uint32_t>(counted, static_cast<uint32_t>(v.type()));
    put_value(counted, v);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    put_string(counted, t.info.name);
    put<uint32_t>(counted, static_cast<uint32_t>(t.info.shape.size()));
    for (int64_t d : t.info.shape) put<uint64_t>(counted, static_cast<uint64_t>(d));
    put<uint32_t>(counted, static_cast<uint32_t>(t.info.type));
    put<uint64_t>(counted, offset);
    offset = align_up(offset + t.info.nbytes, align);
  }
  static const std::vector<uint8_t> zeros(4096, 0);
  const auto pad_to = [&](uint64_t target) {
    while (written < target) counted(zeros.data(), std::min<uint64_t>(target - written, zeros.size()));
  };
  pad_to(align_up(written, align));
  const uint64_t data_start = written;
  offset = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const auto& t = tensors_[i];
    pad_to(data_start + offset);
    if (t.produce) {
      const std::vector<uint8_t> data = t.produce();
      if (data.size() != t.info.nbytes) {
        throw Error(fmt::format("GGUF writer: tensor '{}' produced {} bytes, expected {}",
                                t.info.name, data.size(), t.info.nbytes));
      }
      counted(data.data(), data.size());
    } else {
      counted(t.bytes().data(), t.bytes().size());
    }
    offset = align_up(offset + t.info.nbytes, align);
    if (progress_) progress_(i + 1, tensors_.size(), t.info.name);
  }
}

std::vector<uint8_t> Writer::to_bytes() const {
  std::vector<uint8_t> out;
  serialize([&](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
  });
  return out;
}

void Writer::write(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(tmp.c_str(), "wb"), &std::fclose);
  if (!f) throw Error(fmt::format("{}: cannot create: {}", tmp, std::strerror(errno)));
  try {
    serialize([&](const void* p, size_t n) {
      if (n != 0 && std::fwrite(p, 1, n, f.get()) != n) {
        throw Error(fmt::format("{}: write failed: {}", tmp, std::strerror(errno)));
      }
    });
    if (std::fflush(f.get()) != 0 || ::fsync(fileno(f.get())) != 0) {
      throw Error(fmt::format("{}: write failed: {}", tmp, std::strerror(errno)));
    }
  } catch (...) {
    f.reset();
    std::remove(tmp.c_str());
    throw;
  }
  if (std::fclose(f.release()) != 0) {
    std::remove(tmp.c_str());
    throw Error(fmt::format("{}: close failed: {}", tmp, std::strerror(errno)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(fmt::format("{}: cannot rename into place: {}", path, std::strerror(errno)));
  }
}

}  // namespace bantam::gguf
