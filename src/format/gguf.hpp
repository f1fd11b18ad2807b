// GGUF v2/v3 reader: validates everything before use, then exposes metadata and tensor views
// into the memory-mapped file (no copy of tensor data).
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "format/ggml_type.hpp"

namespace bantam {

class MappedFile;

namespace gguf {

enum class ValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
std::string_view value_type_name(ValueType type);

class Value;

// A metadata array in its GGUF encoding, read in place: a view into the mapped file, or the
// bytes a built value owns. Elements are decoded on access, so an array costs no memory beyond
// its bytes, plus one offset per element where elements vary in size (strings, arrays).
class ArrayView {
 public:
  ValueType element_type() const { return element_; }
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  Value operator[](size_t index) const;
  // The text of a STRING element, in place (Error for other element types).
  std::string_view string_at(size_t index) const;
  // The elements as GGUF stores them, after the type and count.
  std::span<const uint8_t> encoded() const { return bytes_; }

  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Value;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = Value;
    Iterator(const ArrayView* array, size_t index) : array_(array), index_(index) {}
    Value operator*() const;
    Iterator& operator++() { ++index_; return *this; }
    Iterator operator++(int) { return {array_, index_++}; }
    bool operator==(const Iterator& other) const { return index_ == other.index_; }
   private:
    const ArrayView* array_;
    size_t index_;
  };
  Iterator begin() const { return {this, 0}; }
  Iterator end() const { return {this, count_}; }

  bool operator==(const ArrayView& other) const;

 private:
  friend class Value;
  friend struct ArrayReader;
  size_t element_offset(size_t index) const;

  ValueType element_ = ValueType::UINT8;
  size_t count_ = 0;
  std::span<const uint8_t> bytes_;
  std::shared_ptr<const void> owner_;  // the owned encoding or the file mapping; null for parse()
  std::shared_ptr<const std::vector<uint64_t>> offsets_;  // variable-size elements only
};

// One metadata value. Integers keep their signedness; arrays hold values of one element type.
class Value {
 public:
  using Array = std::vector<Value>;  // to build an array value

  Value() : Value(ValueType::UINT8, uint64_t{0}) {}
  static Value u8(uint8_t v) { return {ValueType::UINT8, uint64_t{v}}; }
  static Value i8(int8_t v) { return {ValueType::INT8, int64_t{v}}; }
  static Value u16(uint16_t v) { return {ValueType::UINT16, uint64_t{v}}; }
  static Value i16(int16_t v) { return {ValueType::INT16, int64_t{v}}; }
  static Value u32(uint32_t v) { return {ValueType::UINT32, uint64_t{v}}; }
  static Value i32(int32_t v) { return {ValueType::INT32, int64_t{v}}; }
  static Value u64(uint64_t v) { return {ValueType::UINT64, v}; }
  static Value i64(int64_t v) { return {ValueType::INT64, v}; }
  static Value f32(float v) { return {ValueType::FLOAT32, double{v}}; }
  static Value f64(double v) { return {ValueType::FLOAT64, v}; }
  static Value boolean(bool v) { return {ValueType::BOOL, v}; }
  static Value string(std::string v) { return {ValueType::STRING, std::move(v)}; }
  // Encodes the items; Error when one is not of element_type.
  static Value array(ValueType element_type, const Array& items);
  static Value array(ArrayView view) { return {ValueType::ARRAY, std::move(view)}; }

  ValueType type() const { return type_; }
  ValueType element_type() const;  // for arrays
  bool is_integer() const;
  bool is_float() const { return type_ == ValueType::FLOAT32 || type_ == ValueType::FLOAT64; }

  // Checked accessors: throw Error when the stored type does not fit.
  int64_t as_int() const;     // any integer type (uint64 values above INT64_MAX throw)
  uint64_t as_uint() const;   // any non-negative integer
  double as_double() const;   // float or integer
  bool as_bool() const;
  const std::string& as_string() const;
  const ArrayView& as_array() const;

  bool operator==(const Value& other) const = default;

 private:
  using Storage = std::variant<uint64_t, int64_t, double, bool, std::string, ArrayView>;
  Value(ValueType type, Storage storage) : type_(type), storage_(std::move(storage)) {}

  ValueType type_;
  Storage storage_;
};

// The GGUF encoding of a value (without its type tag), appended to `out`.
void encode_value(const Value& value, std::vector<uint8_t>& out);

struct TensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> shape;  // ggml order: shape[0] is the row length (innermost)
  uint64_t offset = 0;         // relative to the data section
  uint64_t nbytes = 0;

  int64_t n_elements() const;
  int64_t n_rows() const { return shape.empty() ? 1 : n_elements() / shape[0]; }
  std::string shape_string() const;  // e.g. "[64, 512]"
};

class File {
 public:
  // Maps and validates the file; throws Error naming the file, byte offset and the problem.
  static File open(const std::string& path);
  // The same for a file the caller has open (it may close `fd` afterwards); `name` in errors.
  static File open_fd(int fd, const std::string& name);
  // Parses bytes owned by the caller (they must outlive the File and the array values read from
  // it, which view them); `name` is used in errors.
  static File parse(std::span<const uint8_t> bytes, const std::string& name);

  File(File&&) noexcept;
  File& operator=(File&&) noexcept;
  ~File();

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t file_size() const { return bytes_.size(); }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }

  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;
  // Typed look-ups: nullopt when absent; Error when present with an unfitting type.
  std::optional<uint64_t> get_uint(std::string_view key) const;
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_double(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  const ArrayView* get_array(std::string_view key) const;
  std::string architecture() const;  // general.architecture or ""

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  // The tensor's bytes in place inside the mapped file.
  std::span<const uint8_t> tensor_data(const TensorInfo& tensor) const;

 private:
  File() = default;
  void parse_all();

  std::shared_ptr<MappedFile> mapping_;
  std::span<const uint8_t> bytes_;
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::unordered_map<std::string_view, size_t> metadata_index_;  // keys of metadata_
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string_view, size_t> tensor_index_;  // names in tensors_
};

inline constexpr uint64_t kDefaultAlignment = 32;
inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian

}  // namespace gguf
}  // namespace bantam
