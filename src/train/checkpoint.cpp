#include "train/checkpoint.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "format/gguf.hpp"
#include "format/gguf_writer.hpp"
#include "format/input_file.hpp"

namespace bantam::train {

namespace {

constexpr const char* kType = "bantam-finetune-checkpoint";
constexpr const char* kFirstMoment = ".adam_m";
constexpr const char* kSecondMoment = ".adam_v";

// Streaming state of hash_bytes: whole 8-byte words mixed in as they come, a tail at the end.
class Hasher {
 public:
  explicit Hasher(uint64_t seed) : h_(seed ^ 0x243f6a8885a308d3ull) {}
  void update(const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      word_ |= static_cast<uint64_t>(p[i]) << (8 * filled_);
      if (++filled_ == 8) flush_word();
    }
  }
  // Whole words straight from memory; used when no partial word is pending.
  void update_words(const uint8_t* p, size_t words) {
    for (size_t i = 0; i < words; ++i) {
      uint64_t w;
      std::memcpy(&w, p + 8 * i, 8);
      mix(w);
    }
    length_ += 8 * words;
  }
  bool word_pending() const { return filled_ != 0; }
  uint64_t finish() {
    mix(word_ ^ (static_cast<uint64_t>(filled_) << 56));
    mix(length_ + filled_);
    return h_;
  }

 private:
  void mix(uint64_t w) {
    h_ = (h_ ^ w) * 0x9fb21c651e98df25ull;
    h_ ^= h_ >> 29;
  }
  void flush_word() {
    mix(word_);
    length_ += 8;
    word_ = 0;
    filled_ = 0;
  }
  uint64_t h_;
  uint64_t word_ = 0;
  size_t filled_ = 0;
  uint64_t length_ = 0;
};

void feed(Hasher& hasher, const uint8_t* p, size_t n) {
  if (!hasher.word_pending()) {
    hasher.update_words(p, n / 8);
    hasher.update(p + (n / 8) * 8, n % 8);
  } else {
    hasher.update(p, n);
  }
}

void add_tensors(gguf::Writer& writer, const std::vector<NamedTensor>& tensors, const char* suffix) {
  for (const NamedTensor& t : tensors) {
    std::vector<uint8_t> bytes(t.values.size() * sizeof(float));
    std::memcpy(bytes.data(), t.values.data(), bytes.size());
    writer.add_tensor(t.name + suffix, GgmlType::F32, t.shape, std::move(bytes));
  }
}

// "k=v k=v" -> {k: v}
std::map<std::string, std::string> option_words(const std::string& options) {
  std::map<std::string, std::string> words;
  std::istringstream in(options);
  std::string word;
  while (in >> word) {
    const size_t eq = word.find('=');
    words[word.substr(0, eq)] = eq == std::string::npos ? "" : word.substr(eq + 1);
  }
  return words;
}

}  // namespace

uint64_t hash_bytes(const void* data, size_t size, uint64_t seed) {
  Hasher hasher(seed);
  feed(hasher, static_cast<const uint8_t*>(data), size);
  return hasher.finish();
}

uint64_t hash_file(const std::string& path) {
  const int fd = open_input_file(path);
  Hasher hasher(0);
  std::vector<uint8_t> buffer(size_t{1} << 20);
  for (;;) {
    const ssize_t got = ::read(fd, buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int error = errno;
      ::close(fd);
      throw Error(fmt::format("{}: cannot read: {}", path, std::strerror(error)));
    }
    if (got == 0) break;
    feed(hasher, buffer.data(), static_cast<size_t>(got));
  }
  ::close(fd);
  return hasher.finish();
}

void write_checkpoint(const std::string& path, const Checkpoint& c) {
  gguf::Writer writer;
  writer.set("general.type", gguf::Value::string(kType));
  writer.set("bantam.checkpoint.version", gguf::Value::u32(kCheckpointVersion));
  writer.set("bantam.checkpoint.model_hash", gguf::Value::u64(c.fingerprint.model_hash));
  writer.set("bantam.checkpoint.data_hash", gguf::Value::u64(c.fingerprint.data_hash));
  writer.set("bantam.checkpoint.options", gguf::Value::string(c.fingerprint.options));
  writer.set("bantam.checkpoint.epoch", gguf::Value::i32(c.cursor.epoch));
  writer.set("bantam.checkpoint.next_example", gguf::Value::u64(c.cursor.next_example));
  writer.set("bantam.checkpoint.optimizer_steps", gguf::Value::i64(c.cursor.optimizer_steps));
  writer.set("bantam.checkpoint.rng_state", gguf::Value::u64(c.cursor.rng_state));
  writer.set("bantam.checkpoint.tokens_trained", gguf::Value::u64(c.cursor.tokens_trained));
  if (c.first_moments.size() != c.params.size() || c.second_moments.size() != c.params.size()) {
    throw Error(fmt::format("{}: checkpoint with {} parameters but {} and {} moments", path, c.params.size(),
                            c.first_moments.size(), c.second_moments.size()));
  }
  add_tensors(writer, c.params, "");
  add_tensors(writer, c.first_moments, kFirstMoment);
  add_tensors(writer, c.second_moments, kSecondMoment);
  writer.write(path);
}

Checkpoint read_checkpoint(const std::string& path) {
  const gguf::File file = gguf::File::open(path);
  if (file.get_string("general.type").value_or("") != kType) {
    throw Error(fmt::format("{}: not a fine-tuning checkpoint (general.type is not \"{}\")", path, kType));
  }
  const uint64_t version = file.get_uint("bantam.checkpoint.version").value_or(0);
  if (version != kCheckpointVersion) {
    throw Error(fmt::format("{}: checkpoint version {} cannot be resumed by this bantam (it reads version {})", path,
                            version, kCheckpointVersion));
  }
  const auto need_uint = [&](const char* key) {
    const auto v = file.get_uint(key);
    if (!v) throw Error(fmt::format("{}: damaged checkpoint: {} is missing", path, key));
    return *v;
  };
  const auto need_int = [&](const char* key) {
    const auto v = file.get_int(key);
    if (!v) throw Error(fmt::format("{}: damaged checkpoint: {} is missing", path, key));
    return *v;
  };
  Checkpoint c;
  c.fingerprint.model_hash = need_uint("bantam.checkpoint.model_hash");
  c.fingerprint.data_hash = need_uint("bantam.checkpoint.data_hash");
  c.fingerprint.options = file.get_string("bantam.checkpoint.options").value_or("");
  c.cursor.epoch = static_cast<int>(need_int("bantam.checkpoint.epoch"));
  c.cursor.next_example = need_uint("bantam.checkpoint.next_example");
  c.cursor.optimizer_steps = need_int("bantam.checkpoint.optimizer_steps");
  c.cursor.rng_state = need_uint("bantam.checkpoint.rng_state");
  c.cursor.tokens_trained = need_uint("bantam.checkpoint.tokens_trained");
  for (const gguf::TensorInfo& info : file.tensors()) {
    if (info.type != GgmlType::F32) {
      throw Error(fmt::format("{}: damaged checkpoint: tensor {} is {}, not F32", path, info.name, type_name(info.type)));
    }
    const std::span<const uint8_t> bytes = file.tensor_data(info);
    NamedTensor t{.name = info.name, .shape = info.shape, .values = std::vector<float>(bytes.size() / sizeof(float))};
    std::memcpy(t.values.data(), bytes.data(), t.values.size() * sizeof(float));
    std::vector<NamedTensor>* list = &c.params;
    for (const auto& [suffix, moments] : {std::pair{kFirstMoment, &c.first_moments}, std::pair{kSecondMoment, &c.second_moments}}) {
      if (info.name.ends_with(suffix)) {
        list = moments;
        t.name.resize(t.name.size() - std::strlen(suffix));
      }
    }
    list->push_back(std::move(t));
  }
  if (c.params.empty() || c.first_moments.size() != c.params.size() || c.second_moments.size() != c.params.size()) {
    throw Error(fmt::format("{}: damaged checkpoint: {} parameter tensors, {} and {} moments", path, c.params.size(),
                            c.first_moments.size(), c.second_moments.size()));
  }
  for (size_t i = 0; i < c.params.size(); ++i) {
    if (c.first_moments[i].name != c.params[i].name || c.second_moments[i].name != c.params[i].name ||
        c.first_moments[i].values.size() != c.params[i].values.size() ||
        c.second_moments[i].values.size() != c.params[i].values.size()) {
      throw Error(fmt::format("{}: damaged checkpoint: the moments of {} do not match it", path, c.params[i].name));
    }
  }
  return c;
}

void check_resumable(const std::string& path, const Checkpoint& checkpoint, const TrainFingerprint& expected) {
  const TrainFingerprint& got = checkpoint.fingerprint;
  if (got.model_hash != expected.model_hash) {
    throw Error(fmt::format("{}: the checkpoint was trained on another base model (model hash {:016x}, this one "
                            "{:016x}); resume with the same -m",
                            path, got.model_hash, expected.model_hash));
  }
  if (got.data_hash != expected.data_hash) {
    throw Error(fmt::format("{}: the checkpoint was trained on other data (data hash {:016x}, this {:016x}); "
                            "resume with the same --data, -c and chat template",
                            path, got.data_hash, expected.data_hash));
  }
  if (got.options != expected.options) {
    const auto was = option_words(got.options);
    const auto now = option_words(expected.options);
    std::vector<std::string> differences;
    for (const auto& [key, value] : now) {
      const auto it = was.find(key);
      const std::string before = it == was.end() ? "(unset)" : it->second;
      if (before != value) differences.push_back(fmt::format("{} was {}, now {}", key, before, value));
    }
    for (const auto& [key, value] : was) {
      if (!now.contains(key)) differences.push_back(fmt::format("{} was {}, now unset", key, value));
    }
    throw Error(fmt::format("{}: the checkpoint was written with other options ({}); resume with the same ones", path,
                            fmt::join(differences, "; ")));
  }
}

}  // namespace bantam::train
