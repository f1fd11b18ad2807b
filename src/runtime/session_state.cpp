// Session state format, version 2 (little-endian):
//   "BANTAMKV" | u32 version | u64 model id | u64 adapters id | u32 key type | u32 value type | u32 layers
//   | u64 n tokens | i32 tokens[n]
//   | per layer: u64 first position kept, then from it to n-1 each position's keys and values
//   | u64 checksum of everything before it
// Version 1 had one u32 KV type for keys and values: its states are refused, naming the versions.
// The model id hashes the architecture and every tensor's name, type, shape, place and first
// bytes, so files that differ in shape, type or weights are told apart without reading them whole.
#include "runtime/session_state.hpp"

#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "model/kv_cache.hpp"

namespace bantam {

namespace {

constexpr std::string_view kMagic = "BANTAMKV";
constexpr uint64_t kHashSeed = 0xcbf29ce484222325ULL;  // FNV-1a's offset basis and prime
constexpr uint64_t kHashPrime = 0x100000001b3ULL;

// FNV-1a over 8-byte words (then the tail bytes): quick enough for a whole KV cache.
uint64_t hash_bytes(std::span<const uint8_t> bytes, uint64_t h = kHashSeed) {
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + i, 8);
    h = (h ^ word) * kHashPrime;
  }
  for (; i < bytes.size(); ++i) h = (h ^ bytes[i]) * kHashPrime;
  return h;
}

uint64_t hash_text(std::string_view text, uint64_t h) {
  return hash_bytes({reinterpret_cast<const uint8_t*>(text.data()), text.size()}, h);
}

uint64_t hash_number(uint64_t value, uint64_t h) { return (h ^ value) * kHashPrime; }

uint64_t file_identity(const gguf::File& file) {
  constexpr size_t kSampledBytes = 64;
  uint64_t h = hash_text(file.architecture(), kHashSeed);
  for (const auto& t : file.tensors()) {
    h = hash_text(t.name, h);
    h = hash_number(static_cast<uint64_t>(t.type), h);
    for (int64_t d : t.shape) h = hash_number(static_cast<uint64_t>(d), h);
    h = hash_number(t.offset, h);
    const auto data = file.tensor_data(t);
    h = hash_bytes(data.first(std::min(data.size(), kSampledBytes)), h);
  }
  return h;
}

uint64_t adapters_identity(const std::vector<AdapterUse>& adapters) {
  uint64_t h = kHashSeed;
  for (const AdapterUse& use : adapters) {
    h = hash_number(file_identity(use.adapter->impl().lora.file), h);
    uint32_t scale_bits;
    std::memcpy(&scale_bits, &use.scale, 4);
    h = hash_number(scale_bits, h);
  }
  return h;
}

// Writes into a buffer sized up front (one allocation, however large the cache).
class Writer {
 public:
  explicit Writer(size_t size) : out_(size) {}
  template <typename T>
  void put(T value) {
    put_bytes({reinterpret_cast<const uint8_t*>(&value), sizeof(T)});
  }
  void put_bytes(std::span<const uint8_t> bytes) {
    if (bytes.size() > out_.size() - pos_) throw Error("session state: size miscounted while saving");
    std::memcpy(out_.data() + pos_, bytes.data(), bytes.size());
    pos_ += bytes.size();
  }
  std::vector<uint8_t> finish() {
    const uint64_t checksum = hash_bytes(std::span(out_).first(pos_));
    put(checksum);
    if (pos_ != out_.size()) throw Error("session state: size miscounted while saving");
    return std::move(out_);
  }

 private:
  std::vector<uint8_t> out_;
  size_t pos_ = 0;
};

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  template <typename T>
  T get(const char* what) {
    T value;
    std::memcpy(&value, take(sizeof(T), what).data(), sizeof(T));
    return value;
  }
  std::span<const uint8_t> take(size_t n, const char* what) {
    if (n > bytes_.size() - pos_) {
      throw Error(fmt::format("session state: truncated ({} bytes, {} needed reading {})", bytes_.size(), pos_ + n, what));
    }
    const auto piece = bytes_.subspan(pos_, n);
    pos_ += n;
    return piece;
  }
  size_t left() const { return bytes_.size() - pos_; }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

// Positions a layer keeps of a sequence of n: the last `capacity` (all of them but on sliding layers).
int64_t first_kept(const KvCache& cache, int layer, int64_t n) { return std::max<int64_t>(0, n - cache.capacity(layer)); }

}  // namespace

std::vector<uint8_t> save_session_state(const Model::Impl& model, const std::vector<AdapterUse>& adapters,
                                        const KvCache& cache, const std::vector<TokenId>& tokens) {
  const auto n = static_cast<int64_t>(tokens.size());
  size_t size = kMagic.size() + 4 + 8 + 8 + 4 + 4 + 4 + 8 + tokens.size() * sizeof(TokenId) + 8;
  for (int il = 0; il < cache.layers(); ++il) {
    const size_t per_position = cache.row(il, 0, false).size() + cache.row(il, 0, true).size();
    size += 8 + static_cast<size_t>(n - first_kept(cache, il, n)) * per_position;
  }
  Writer out(size);
  out.put_bytes({reinterpret_cast<const uint8_t*>(kMagic.data()), kMagic.size()});
  out.put(kSessionStateVersion);
  out.put(file_identity(model.file));
  out.put(adapters_identity(adapters));
  out.put(static_cast<uint32_t>(cache.types().keys));
  out.put(static_cast<uint32_t>(cache.types().values));
  out.put(static_cast<uint32_t>(cache.layers()));
  out.put(static_cast<uint64_t>(n));
  for (TokenId id : tokens) out.put(id);
  for (int il = 0; il < cache.layers(); ++il) {
    const int64_t first = first_kept(cache, il, n);
    out.put(static_cast<uint64_t>(first));
    for (int64_t pos = first; pos < n; ++pos) {
      out.put_bytes(cache.row(il, pos, false));
      out.put_bytes(cache.row(il, pos, true));
    }
  }
  return out.finish();
}

std::vector<TokenId> restore_session_state(const Model::Impl& model, const std::vector<AdapterUse>& adapters,
                                           KvCache& cache, std::span<const uint8_t> state) {
  Reader in(state);
  const auto magic = in.take(kMagic.size(), "the format tag");
  if (std::memcmp(magic.data(), kMagic.data(), kMagic.size()) != 0) {
    throw Error("session state: not a bantam session state (format tag missing)");
  }
  const auto version = in.get<uint32_t>("the version");
  if (version != kSessionStateVersion) {
    throw Error(fmt::format("session state: format version {}, this bantam reads version {}", version,
                            kSessionStateVersion));
  }
  if (state.size() < kMagic.size() + 4 + 8) throw Error("session state: truncated (no checksum)");
  const auto body = state.first(state.size() - 8);
  uint64_t checksum;
  std::memcpy(&checksum, state.data() + body.size(), 8);
  if (hash_bytes(body) != checksum) throw Error("session state: checksum mismatch (truncated or corrupted)");

  if (in.get<uint64_t>("the model id") != file_identity(model.file)) {
    throw Error(fmt::format("session state: saved from another model than {}", model.info.path));
  }
  if (in.get<uint64_t>("the adapters id") != adapters_identity(adapters)) {
    throw Error("session state: saved with other LoRA adapters or scales than this session's");
  }
  const auto key_type = static_cast<GgmlType>(in.get<uint32_t>("the key type"));
  const auto value_type = static_cast<GgmlType>(in.get<uint32_t>("the value type"));
  const KvRowTypes types = cache.types();
  if (key_type != types.keys || value_type != types.values) {
    throw Error(fmt::format("session state: KV cache types {} (keys) and {} (values), this session's are {} and {}",
                            type_name(key_type), type_name(value_type), type_name(types.keys),
                            type_name(types.values)));
  }
  if (in.get<uint32_t>("the layer count") != static_cast<uint32_t>(cache.layers())) {
    throw Error("session state: layer count differs from the model's");
  }
  const auto n_saved = in.get<uint64_t>("the token count");
  if (n_saved > static_cast<uint64_t>(cache.context())) {
    throw Error(fmt::format("session state: {} tokens do not fit this session's context of {}", n_saved,
                            cache.context()));
  }
  const auto n = static_cast<int64_t>(n_saved);
  std::vector<TokenId> tokens(static_cast<size_t>(n));
  for (auto& id : tokens) {
    id = in.get<TokenId>("the tokens");
    if (id < 0 || id >= model.config.n_vocab) throw Error(fmt::format("session state: token id {} outside the vocabulary", id));
  }
  // Every layer checked before any is written, so a refused state leaves the cache as it was.
  std::vector<std::pair<int64_t, std::span<const uint8_t>>> layers;
  for (int il = 0; il < cache.layers(); ++il) {
    const auto first = static_cast<int64_t>(in.get<uint64_t>("a layer's first position"));
    if (first < 0 || first > n) throw Error(fmt::format("session state: layer {} starts at position {} of {}", il, first, n));
    if (first > first_kept(cache, il, n)) {
      throw Error(fmt::format("session state: layer {} holds positions from {}, this session needs them from {} "
                              "(a larger batch size than when it was saved)",
                              il, first, first_kept(cache, il, n)));
    }
    const size_t per_position = cache.row(il, 0, false).size() + cache.row(il, 0, true).size();
    layers.emplace_back(first, in.take(static_cast<size_t>(n - first) * per_position, "the keys and values"));
  }
  if (in.left() != 8) throw Error(fmt::format("session state: {} unexpected bytes at the end", in.left() - 8));
  for (int il = 0; il < cache.layers(); ++il) {
    const auto& [first, bytes] = layers[static_cast<size_t>(il)];
    for (int64_t pos = first_kept(cache, il, n); pos < n; ++pos) {
      const auto keys = cache.row(il, pos, false);
      const auto values = cache.row(il, pos, true);
      const uint8_t* src = bytes.data() + static_cast<size_t>(pos - first) * (keys.size() + values.size());
      std::memcpy(keys.data(), src, keys.size());
      std::memcpy(values.data(), src + keys.size(), values.size());
    }
  }
  return tokens;
}

}  // namespace bantam
