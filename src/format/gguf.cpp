#include "format/gguf.hpp"

#include <algorithm>
#include <climits>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "format/mapped_file.hpp"

namespace bantam::gguf {
namespace {

constexpr int kMaxArrayNesting = 8;
constexpr uint32_t kMaxDims = 4;
// Real files hold a few dozen keys; each costs far more in memory than its 14 bytes on disk.
constexpr uint64_t kMaxMetadataKeys = 1 << 16;

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const uint32_t min_cp = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

size_t scalar_size(ValueType t) {
  switch (t) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
    case ValueType::UINT16: case ValueType::INT16: return 2;
    case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
    case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
    case ValueType::STRING: return 8;   // at least the length prefix
    case ValueType::ARRAY: return 12;   // at least type + count
  }
  return 1;
}

// Bounds-checked little-endian cursor over the file; every failure names file and offset.
class Cursor {
 public:
  Cursor(std::span<const uint8_t> bytes, const std::string& name) : bytes_(bytes), name_(name) {}

  [[noreturn]] void fail(uint64_t at, const std::string& what) const {
    throw Error(fmt::format("{}: at byte {}: {}", name_, at, what));
  }
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  void need(uint64_t n, std::string_view what) const {
    if (n > remaining()) {
      fail(pos_, fmt::format("file truncated: {} needs {} bytes, {} left", what, n, remaining()));
    }
  }
  template <class T>
  T read(std::string_view what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  void skip(uint64_t n) { pos_ += n; }  // after need(n)
  std::span<const uint8_t> bytes() const { return bytes_; }
  std::string_view read_string_view(std::string_view what) {
    const uint64_t at = pos_;
    const auto len = read<uint64_t>(what);
    if (len > remaining()) {
      fail(at, fmt::format("{}: string length {} exceeds the {} bytes left in the file", what, len,
                           remaining()));
    }
    const std::string_view s(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return s;
  }
  std::string read_string(std::string_view what) { return std::string(read_string_view(what)); }
  void skip_string(std::string_view what) { read_string_view(what); }

 private:
  std::span<const uint8_t> bytes_;
  const std::string& name_;
  uint64_t pos_ = 0;
};

ValueType read_value_type(Cursor& in, std::string_view what) {
  const uint64_t at = in.pos();
  const auto raw = in.read<uint32_t>(what);
  if (raw > static_cast<uint32_t>(ValueType::FLOAT64)) {
    in.fail(at, fmt::format("{}: unknown metadata value type {}", what, raw));
  }
  return static_cast<ValueType>(raw);
}

bool fixed_size(ValueType t) { return t != ValueType::STRING && t != ValueType::ARRAY; }

}  // namespace

// Reads values at a cursor; arrays become views of the cursor's bytes kept alive by `owner`.
struct ArrayReader {
  std::shared_ptr<const void> owner;
  int max_depth = kMaxArrayNesting;  // files are checked; built values and checked bytes need not be

  Value value(Cursor& in, ValueType type, const std::string& key, int depth) const {
    switch (type) {
      case ValueType::UINT8: return Value::u8(in.read<uint8_t>(key));
      case ValueType::INT8: return Value::i8(in.read<int8_t>(key));
      case ValueType::UINT16: return Value::u16(in.read<uint16_t>(key));
      case ValueType::INT16: return Value::i16(in.read<int16_t>(key));
      case ValueType::UINT32: return Value::u32(in.read<uint32_t>(key));
      case ValueType::INT32: return Value::i32(in.read<int32_t>(key));
      case ValueType::FLOAT32: return Value::f32(in.read<float>(key));
      case ValueType::UINT64: return Value::u64(in.read<uint64_t>(key));
      case ValueType::INT64: return Value::i64(in.read<int64_t>(key));
      case ValueType::FLOAT64: return Value::f64(in.read<double>(key));
      case ValueType::BOOL: return Value::boolean(read_bool(in, key));
      case ValueType::STRING: return Value::string(in.read_string(key));
      case ValueType::ARRAY: {
        const uint64_t at = in.pos();
        if (depth >= max_depth) {
          in.fail(at, fmt::format("{}: arrays nested deeper than {}", key, max_depth));
        }
        const ValueType element = read_value_type(in, key);
        const uint64_t count_at = in.pos();
        const auto count = in.read<uint64_t>(key);
        if (count > in.remaining() / scalar_size(element)) {
          in.fail(count_at, fmt::format("{}: array count {} cannot fit in the {} bytes left", key,
                                        count, in.remaining()));
        }
        return Value::array(elements(in, element, count, key, depth + 1));
      }
    }
    in.fail(in.pos(), fmt::format("{}: unknown metadata value type", key));
  }

  // Validates `count` elements at the cursor and returns them as a view, past them.
  ArrayView elements(Cursor& in, ValueType element, uint64_t count, const std::string& key,
                     int depth) const {
    ArrayView view;
    view.element_ = element;
    view.count_ = count;
    view.owner_ = owner;
    const uint64_t start = in.pos();
    if (fixed_size(element)) {
      in.need(count * scalar_size(element), key);  // the count check above bounds the product
      if (element == ValueType::BOOL) {
        for (uint64_t i = 0; i < count; ++i) read_bool(in, key);
      } else {
        in.skip(count * scalar_size(element));
      }
    } else {
      // One offset per element, each at least 8 bytes in the file: at most the array's size.
      auto offsets = std::make_shared<std::vector<uint64_t>>();
      offsets->reserve(count);
      for (uint64_t i = 0; i < count; ++i) {
        offsets->push_back(in.pos() - start);
        if (element == ValueType::STRING) {
          in.skip_string(key);
        } else {
          value(in, element, key, depth);
        }
      }
      view.offsets_ = std::move(offsets);
    }
    view.bytes_ = in.bytes().subspan(start, in.pos() - start);
    return view;
  }

  static bool read_bool(Cursor& in, const std::string& key) {
    const uint64_t at = in.pos();
    const auto b = in.read<uint8_t>(key);
    if (b > 1) in.fail(at, fmt::format("{}: bool value {} is neither 0 nor 1", key, b));
    return b != 0;
  }
};

namespace {

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

std::string_view value_type_name(ValueType type) {
  static constexpr std::string_view kNames[] = {"u8",  "i8",   "u16",   "i16", "u32", "i32", "f32",
                                                "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(type);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

Value Value::array(ValueType element_type, const Array& items) {
  auto encoding = std::make_shared<std::vector<uint8_t>>();
  for (const Value& item : items) {
    if (item.type() != element_type) {
      throw Error(fmt::format("array of {} given a {} item", value_type_name(element_type),
                              value_type_name(item.type())));
    }
    encode_value(item, *encoding);
  }
  static const std::string kName = "built metadata array";
  Cursor in(*encoding, kName);
  return array(ArrayReader{encoding, INT_MAX}.elements(in, element_type, items.size(), kName, 0));
}

ValueType Value::element_type() const {
  const auto* a = std::get_if<ArrayView>(&storage_);
  return a ? a->element_type() : ValueType::UINT8;
}

size_t ArrayView::element_offset(size_t index) const {
  if (index >= count_) {
    throw Error(fmt::format("metadata array index {} is out of range (size {})", index, count_));
  }
  return offsets_ ? (*offsets_)[index] : index * scalar_size(element_);
}

Value ArrayView::operator[](size_t index) const {
  static const std::string kName = "metadata array element";
  Cursor in(bytes_.subspan(element_offset(index)), kName);
  return ArrayReader{owner_, INT_MAX}.value(in, element_, kName, 0);
}

std::string_view ArrayView::string_at(size_t index) const {
  if (element_ != ValueType::STRING) {
    throw Error(fmt::format("expected an array of strings, found an array of {}",
                            value_type_name(element_)));
  }
  static const std::string kName = "metadata array element";
  Cursor in(bytes_.subspan(element_offset(index)), kName);
  return in.read_string_view(kName);
}

Value ArrayView::Iterator::operator*() const { return (*array_)[index_]; }

bool ArrayView::operator==(const ArrayView& other) const {
  return element_ == other.element_ && count_ == other.count_ &&
         std::equal(bytes_.begin(), bytes_.end(), other.bytes_.begin(), other.bytes_.end());
}

void encode_value(const Value& value, std::vector<uint8_t>& out) {
  const auto put = [&out](auto v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    out.insert(out.end(), p, p + sizeof(v));
  };
  switch (value.type()) {
    case ValueType::UINT8: put(static_cast<uint8_t>(value.as_uint())); break;
    case ValueType::INT8: put(static_cast<int8_t>(value.as_int())); break;
    case ValueType::UINT16: put(static_cast<uint16_t>(value.as_uint())); break;
    case ValueType::INT16: put(static_cast<int16_t>(value.as_int())); break;
    case ValueType::UINT32: put(static_cast<uint32_t>(value.as_uint())); break;
    case ValueType::INT32: put(static_cast<int32_t>(value.as_int())); break;
    case ValueType::FLOAT32: put(static_cast<float>(value.as_double())); break;
    case ValueType::BOOL: put(static_cast<uint8_t>(value.as_bool() ? 1 : 0)); break;
    case ValueType::STRING:
      put(static_cast<uint64_t>(value.as_string().size()));
      out.insert(out.end(), value.as_string().begin(), value.as_string().end());
      break;
    case ValueType::UINT64: put(value.as_uint()); break;
    case ValueType::INT64: put(value.as_int()); break;
    case ValueType::FLOAT64: put(value.as_double()); break;
    case ValueType::ARRAY: {
      const ArrayView& items = value.as_array();
      put(static_cast<uint32_t>(items.element_type()));
      put(static_cast<uint64_t>(items.size()));
      out.insert(out.end(), items.encoded().begin(), items.encoded().end());
      break;
    }
  }
}

bool Value::is_integer() const {
  return std::holds_alternative<uint64_t>(storage_) || std::holds_alternative<int64_t>(storage_);
}

int64_t Value::as_int() const {
  if (const auto* u = std::get_if<uint64_t>(&storage_)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      throw Error(fmt::format("integer {} is too large", *u));
    }
    return static_cast<int64_t>(*u);
  }
  if (const auto* i = std::get_if<int64_t>(&storage_)) return *i;
  throw Error(fmt::format("expected an integer, found {}", value_type_name(type_)));
}

uint64_t Value::as_uint() const {
  if (const auto* u = std::get_if<uint64_t>(&storage_)) return *u;
  if (const auto* i = std::get_if<int64_t>(&storage_)) {
    if (*i < 0) throw Error(fmt::format("expected a non-negative integer, found {}", *i));
    return static_cast<uint64_t>(*i);
  }
  throw Error(fmt::format("expected an integer, found {}", value_type_name(type_)));
}

double Value::as_double() const {
  if (const auto* d = std::get_if<double>(&storage_)) return *d;
  if (const auto* u = std::get_if<uint64_t>(&storage_)) return static_cast<double>(*u);
  if (const auto* i = std::get_if<int64_t>(&storage_)) return static_cast<double>(*i);
  throw Error(fmt::format("expected a number, found {}", value_type_name(type_)));
}

bool Value::as_bool() const {
  if (const auto* b = std::get_if<bool>(&storage_)) return *b;
  throw Error(fmt::format("expected a bool, found {}", value_type_name(type_)));
}

const std::string& Value::as_string() const {
  if (const auto* s = std::get_if<std::string>(&storage_)) return *s;
  throw Error(fmt::format("expected a string, found {}", value_type_name(type_)));
}

const ArrayView& Value::as_array() const {
  if (const auto* a = std::get_if<ArrayView>(&storage_)) return *a;
  throw Error(fmt::format("expected an array, found {}", value_type_name(type_)));
}

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // validated not to overflow at load
  return n;
}

std::string TensorInfo::shape_string() const { return fmt::format("[{}]", fmt::join(shape, ", ")); }

File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;

File File::open(const std::string& path) {
  File f;
  f.mapping_ = std::make_shared<MappedFile>(path);
  f.bytes_ = f.mapping_->bytes();
  f.path_ = path;
  f.parse_all();
  return f;
}

File File::open_fd(int fd, const std::string& name) {
  File f;
  f.mapping_ = std::make_shared<MappedFile>(fd, name);
  f.bytes_ = f.mapping_->bytes();
  f.path_ = name;
  f.parse_all();
  return f;
}

File File::parse(std::span<const uint8_t> bytes, const std::string& name) {
  File f;
  f.bytes_ = bytes;
  f.path_ = name;
  f.parse_all();
  return f;
}

void File::parse_all() {
  Cursor in(bytes_, path_);
  const ArrayReader reader{mapping_};
  if (bytes_.size() < 4) in.fail(0, "file truncated: too short for a GGUF header");
  const auto magic = in.read<uint32_t>("magic");
  if (magic != kMagic) {
    switch (magic) {
      case 0x67676a74:  // 'ggjt'
      case 0x67676d66:  // 'ggmf'
      case 0x67676d6c:  // 'ggml'
      case 0x67676c61:  // 'ggla'
        in.fail(0, "unsupported legacy format (pre-GGUF ggml/GGJT); convert it to GGUF with "
                   "llama.cpp's convert_llama_ggml_to_gguf.py");
      default:
        in.fail(0, fmt::format("not a GGUF file (magic 0x{:08x})", magic));
    }
  }
  version_ = in.read<uint32_t>("version");
  if (version_ == 1) {
    in.fail(4, "unsupported legacy format GGUF version 1; re-convert the model with a current "
               "llama.cpp convert_hf_to_gguf.py");
  }
  if (version_ != 2 && version_ != 3) {
    if ((version_ & 0xFFFF) == 0 && version_ != 0) {
      in.fail(4, "big-endian GGUF is not supported");
    }
    in.fail(4, fmt::format("unsupported GGUF version {} (supported: 2, 3)", version_));
  }
  const uint64_t counts_at = in.pos();
  const auto n_tensors = in.read<uint64_t>("tensor count");
  const auto n_kv = in.read<uint64_t>("metadata count");
  // Each tensor info takes at least 8 (name) + 4 + 8 + 4 + 8 bytes; each pair 8 + 4 + 1.
  if (n_tensors > in.remaining() / 32) {
    in.fail(counts_at, fmt::format("tensor count {} cannot fit in a file of {} bytes", n_tensors,
                                   bytes_.size()));
  }
  if (n_kv > in.remaining() / 13) {
    in.fail(counts_at + 8, fmt::format("metadata count {} cannot fit in a file of {} bytes", n_kv,
                                       bytes_.size()));
  }
  if (n_kv > kMaxMetadataKeys) {
    in.fail(counts_at + 8, fmt::format("metadata count {} is more than the {} keys a model may have",
                                       n_kv, kMaxMetadataKeys));
  }

  metadata_.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    const uint64_t key_at = in.pos();
    std::string key = in.read_string(fmt::format("metadata key #{}", i));
    if (key.empty()) in.fail(key_at, fmt::format("metadata key #{} is empty", i));
    if (!valid_utf8(key)) in.fail(key_at, fmt::format("metadata key #{} is not valid UTF-8", i));
    if (metadata_index_.count(key)) in.fail(key_at, fmt::format("duplicate metadata key '{}'", key));
    const ValueType type = read_value_type(in, key);
    Value value = reader.value(in, type, key, 0);
    metadata_.emplace_back(std::move(key), std::move(value));
    // Reserved above, so the key stays where the index points.
    metadata_index_.emplace(metadata_.back().first, metadata_.size() - 1);
  }

  if (const Value* a = find("general.alignment")) {
    if (a->type() != ValueType::UINT32) {
      in.fail(0, fmt::format("general.alignment must be u32, found {}", value_type_name(a->type())));
    }
    alignment_ = a->as_uint();
    if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0) {
      in.fail(0, fmt::format("general.alignment {} is not a power of two", alignment_));
    }
  }

  tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    const uint64_t at = in.pos();
    TensorInfo t;
    t.name = in.read_string(fmt::format("tensor #{} name", i));
    if (t.name.empty()) in.fail(at, fmt::format("tensor #{} has an empty name", i));
    if (!valid_utf8(t.name)) in.fail(at, fmt::format("tensor #{} name is not valid UTF-8", i));
    if (tensor_index_.count(t.name)) in.fail(at, fmt::format("duplicate tensor name '{}'", t.name));
    const uint64_t dims_at = in.pos();
    const auto n_dims = in.read<uint32_t>(t.name);
    if (n_dims == 0 || n_dims > kMaxDims) {
      in.fail(dims_at, fmt::format("tensor '{}': {} dimensions (must be 1..{})", t.name, n_dims,
                                   kMaxDims));
    }
    int64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim_at = in.pos();
      const auto ne = in.read<uint64_t>(t.name);
      if (ne == 0 || ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          __builtin_mul_overflow(n_elements, static_cast<int64_t>(ne), &n_elements)) {
        in.fail(dim_at, fmt::format("tensor '{}': dimension {} = {} is zero or overflows", t.name,
                                    d, ne));
      }
      t.shape.push_back(static_cast<int64_t>(ne));
    }
    const uint64_t type_at = in.pos();
    const auto type_id = in.read<uint32_t>(t.name);
    const auto info = ggml_type_info(type_id);
    if (!info) in.fail(type_at, fmt::format("tensor '{}': unknown tensor type {}", t.name, type_id));
    t.type = info->type;
    if (t.shape[0] % info->block_size != 0) {
      in.fail(type_at, fmt::format("tensor '{}': row of {} elements is not a multiple of the {} "
                                   "block size {}",
                                   t.name, t.shape[0], info->name, info->block_size));
    }
    const uint64_t blocks = static_cast<uint64_t>(n_elements / info->block_size);
    if (__builtin_mul_overflow(blocks, info->bytes_per_block, &t.nbytes)) {
      in.fail(type_at, fmt::format("tensor '{}': byte size overflows", t.name));
    }
    const uint64_t offset_at = in.pos();
    t.offset = in.read<uint64_t>(t.name);
    if (t.offset % alignment_ != 0) {
      in.fail(offset_at, fmt::format("tensor '{}': offset {} is not a multiple of the alignment {}",
                                     t.name, t.offset, alignment_));
    }
    tensors_.push_back(std::move(t));
    tensor_index_.emplace(tensors_.back().name, tensors_.size() - 1);
  }

  data_offset_ = align_up(in.pos(), alignment_);
  const uint64_t data_size = data_offset_ <= bytes_.size() ? bytes_.size() - data_offset_ : 0;
  if (!tensors_.empty() && data_offset_ > bytes_.size()) {
    in.fail(in.pos(), fmt::format("file truncated: data section would start at byte {} but the "
                                  "file has {} bytes",
                                  data_offset_, bytes_.size()));
  }
  std::vector<const TensorInfo*> by_offset;
  by_offset.reserve(tensors_.size());
  for (const auto& t : tensors_) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset) {
      in.fail(data_offset_ + std::min(t.offset, data_size),
              fmt::format("tensor '{}' ({} bytes at data offset {}) extends past the end of the "
                          "file ({} data bytes)",
                          t.name, t.nbytes, t.offset, data_size));
    }
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& prev = *by_offset[i - 1];
    const TensorInfo& cur = *by_offset[i];
    if (prev.offset + prev.nbytes > cur.offset) {
      in.fail(data_offset_ + cur.offset,
              fmt::format("tensor '{}' overlaps tensor '{}'", cur.name, prev.name));
    }
  }
}

const Value* File::find(std::string_view key) const {
  const auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

namespace {
template <class T, class Get>
std::optional<T> typed(const File& f, std::string_view key, Get get) {
  const Value* v = f.find(key);
  if (v == nullptr) return std::nullopt;
  try {
    return get(*v);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: metadata '{}': {}", f.path(), key, e.what()));
  }
}
}  // namespace

std::optional<uint64_t> File::get_uint(std::string_view key) const {
  return typed<uint64_t>(*this, key, [](const Value& v) { return v.as_uint(); });
}
std::optional<int64_t> File::get_int(std::string_view key) const {
  return typed<int64_t>(*this, key, [](const Value& v) { return v.as_int(); });
}
std::optional<double> File::get_double(std::string_view key) const {
  return typed<double>(*this, key, [](const Value& v) { return v.as_double(); });
}
std::optional<bool> File::get_bool(std::string_view key) const {
  return typed<bool>(*this, key, [](const Value& v) { return v.as_bool(); });
}
std::optional<std::string> File::get_string(std::string_view key) const {
  return typed<std::string>(*this, key, [](const Value& v) { return v.as_string(); });
}
const ArrayView* File::get_array(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return nullptr;
  if (v->type() != ValueType::ARRAY) {
    throw Error(fmt::format("{}: metadata '{}': expected an array, found {}", path_, key,
                            value_type_name(v->type())));
  }
  return &v->as_array();
}

std::string File::architecture() const {
  return get_string("general.architecture").value_or("");
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const uint8_t> File::tensor_data(const TensorInfo& tensor) const {
  return bytes_.subspan(data_offset_ + tensor.offset, tensor.nbytes);
}

}  // namespace bantam::gguf
