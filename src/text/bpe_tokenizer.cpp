#include "text/bpe_tokenizer.hpp"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <unordered_map>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "text/unicode.hpp"

namespace bantam {

// (left symbol, right symbol) -> merge, open addressing: the merge loop looks pairs up a lot, and
// key and value share a cache line.
class BpeTokenizer::MergeTable {
 public:
  explicit MergeTable(size_t count) {
    size_t capacity = 16;
    while (capacity < count * 2) capacity *= 2;
    shift_ = 64 - static_cast<int>(std::countr_zero(capacity));
    entries_.assign(capacity, Entry{});
  }

  // Keeps an existing entry: the first (lowest-rank) merge of a pair wins.
  void insert(int32_t left, int32_t right, Merge merge) {
    const uint64_t key = pack(left, right);
    for (size_t i = slot(key);; i = (i + 1) & (entries_.size() - 1)) {
      Entry& e = entries_[i];
      if (e.key == key) return;
      if (e.key == kEmpty) {
        e = {key, merge};
        return;
      }
    }
  }

  const Merge* find(int32_t left, int32_t right) const {
    const uint64_t key = pack(left, right);
    for (size_t i = slot(key);; i = (i + 1) & (entries_.size() - 1)) {
      const Entry& e = entries_[i];
      if (e.key == key) return &e.merge;
      if (e.key == kEmpty) return nullptr;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // symbol ids are non-negative int32
  struct Entry {
    uint64_t key = kEmpty;
    Merge merge;
  };
  static uint64_t pack(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  size_t slot(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
  }

  int shift_ = 60;
  std::vector<Entry> entries_;
};

namespace {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TextMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

std::string byte_level_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t bad = 0;
    const int n = unicode::utf8_sequence(text, i, bad);
    if (n <= 0) {  // not UTF-8: keep the byte
      out.push_back(text[i++]);
      continue;
    }
    size_t j = i;
    const uint32_t cp = unicode::decode_utf8(text, j);
    const int byte = unicode::unicode_to_byte(cp);
    if (byte >= 0) {
      out.push_back(static_cast<char>(byte));
    } else {
      out.append(text.substr(i, static_cast<size_t>(n)));
    }
    i += static_cast<size_t>(n);
  }
  return out;
}

}  // namespace

BpeTokenizer::BpeTokenizer(const gguf::File& file) {
  const std::string pre = file.get_string("tokenizer.ggml.pre").value_or("default");
  spec_ = find_pre_tokenizer(pre);
  if (!spec_) {
    throw Error(fmt::format("{}: unknown tokenizer.ggml.pre '{}' (known: {})", file.path(), pre,
                            fmt::join(pre_tokenizer_names(), ", ")));
  }
  pre_ = pre;
  load_common(file, "gpt2", spec_->add_bos);
  splitter_ = std::make_unique<RegexSplitter>(spec_->regexes);

  const auto* merges = file.get_array("tokenizer.ggml.merges");
  if (!merges) throw Error(fmt::format("{}: tokenizer.ggml.merges is missing", file.path()));
  merges_ = std::make_unique<MergeTable>(merges->size());
  TextMap extra;  // merge texts that are not tokens
  auto intern = [&](std::string_view text) -> int32_t {
    if (const TokenId id = find(text); id >= 0) return id;
    if (const auto it = extra.find(text); it != extra.end()) return it->second;
    const auto id = static_cast<int32_t>(texts_.size() + extra.size());
    extra.emplace(std::string(text), id);
    return id;
  };
  std::string merged;
  for (size_t rank = 0; rank < merges->size(); ++rank) {
    const auto& v = (*merges)[rank];
    if (v.type() != gguf::ValueType::STRING) {
      throw Error(fmt::format("{}: tokenizer.ggml.merges is not an array of strings", file.path()));
    }
    const std::string& line = v.as_string();
    // "left right"; the separator is searched from the second byte as llama.cpp does.
    const size_t space = line.find(' ', 1);
    if (space == std::string::npos) continue;
    const std::string_view left = std::string_view(line).substr(0, space);
    const std::string_view right = std::string_view(line).substr(space + 1);
    merged.assign(left);
    merged.append(right);
    const int32_t l = intern(left), r = intern(right);
    merges_->insert(l, r, {static_cast<int32_t>(rank), intern(merged)});
  }
  for (size_t b = 0; b < 256; ++b) byte_symbols_[b] = intern(unicode::byte_to_unicode()[b]);

  pieces_.resize(texts_.size());
  for (size_t i = 0; i < texts_.size(); ++i) pieces_[i] = piece_of(i);
}

BpeTokenizer::~BpeTokenizer() = default;

std::string BpeTokenizer::piece_of(size_t id) const {
  const std::string& text = texts_[id];
  switch (types_[id]) {
    case kNormal:
      return byte_level_decode(text);
    case kControl:
    case kUnknown:
    case kUserDefined:
      return text;
    case kByte:
      if (text.size() == 6 && text.starts_with("<0x") && text.back() == '>') {
        const auto value = std::strtol(text.substr(3, 2).c_str(), nullptr, 16);
        return std::string(1, static_cast<char>(value));
      }
      return text;
    default:  // unused and undefined tokens print nothing, as in llama.cpp
      return {};
  }
}

std::string BpeTokenizer::token_bytes(TokenId id) const { return bytes_of(id); }

std::vector<TokenId> BpeTokenizer::encode(std::string_view text, bool add_special,
                                          bool parse_special) const {
  std::vector<TokenId> out;
  if (add_special && add_bos_) out.push_back(bos_);
  for (const auto& fragment : split_special(text, parse_special)) {
    if (fragment.token >= 0) {
      out.push_back(fragment.token);
    } else {
      encode_text(fragment.text, out);
    }
  }
  if (add_special && add_eos_) out.push_back(eos_);
  return out;
}

void BpeTokenizer::encode_text(std::string_view text, std::vector<TokenId>& out) const {
  // The regexes need valid UTF-8: invalid bytes become U+FFFD, as in llama.cpp.
  std::string sanitized, normalized;
  if (!unicode::is_valid_utf8(text)) {
    sanitized = unicode::sanitize_utf8(text);
    text = sanitized;
  }
  if (spec_->nfc && std::any_of(text.begin(), text.end(),
                                [](char c) { return static_cast<uint8_t>(c) >= 0x80; })) {
    normalized = unicode::nfc(text);
    text = normalized;
  }
  thread_local std::vector<std::string_view> pieces;
  splitter_->split(text, pieces);
  for (const auto piece : pieces) encode_piece(piece, out);
}

void BpeTokenizer::encode_piece(std::string_view piece, std::vector<TokenId>& out) const {
  if (cache_.lookup(piece, out)) return;
  const size_t begin = out.size();
  merge_piece(piece, out);
  cache_.store(piece, std::span<const TokenId>(out).subspan(begin));
}

void BpeTokenizer::merge_piece(std::string_view piece, std::vector<TokenId>& out) const {
  if (piece.empty()) return;
  const auto& alphabet = unicode::byte_to_unicode();
  if (spec_->ignore_merges) {
    std::string encoded;
    encoded.reserve(piece.size() * 2);
    for (const char c : piece) encoded.append(alphabet[static_cast<uint8_t>(c)]);
    if (const TokenId id = find(encoded); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  // One symbol per byte in a linked list; the adjacent pair with the lowest merge rank merges
  // first (leftmost on ties), so the work is O(n log n) in the piece length.
  struct Symbol {
    int32_t id;
    uint32_t start, len;
    int32_t prev, next;
  };
  struct Candidate {
    int32_t rank, left, right, left_id, right_id, result;
  };
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<Candidate> heap;
  symbols.clear();
  heap.clear();
  for (size_t i = 0; i < piece.size(); ++i) {
    const auto index = static_cast<int32_t>(i);
    symbols.push_back({byte_symbols_[static_cast<uint8_t>(piece[i])], static_cast<uint32_t>(i), 1,
                       index - 1, i + 1 < piece.size() ? index + 1 : -1});
  }
  auto later = [](const Candidate& a, const Candidate& b) {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  };
  auto try_pair = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const int32_t l = symbols[static_cast<size_t>(left)].id;
    const int32_t r = symbols[static_cast<size_t>(right)].id;
    if (const Merge* m = merges_->find(l, r)) {
      heap.push_back({m->rank, left, right, l, r, m->result});
      std::push_heap(heap.begin(), heap.end(), later);
    }
  };
  for (size_t i = 1; i < symbols.size(); ++i) {
    try_pair(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
  }
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Candidate c = heap.back();
    heap.pop_back();
    auto& left = symbols[static_cast<size_t>(c.left)];
    auto& right = symbols[static_cast<size_t>(c.right)];
    // Stale when a side has merged since the pair was queued.
    if (left.len == 0 || right.len == 0 || left.next != c.right || left.id != c.left_id ||
        right.id != c.right_id) {
      continue;
    }
    left.id = c.result;
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = c.left;
    try_pair(left.prev, c.left);
    try_pair(c.left, left.next);
  }
  const auto vocab = static_cast<int32_t>(texts_.size());
  for (int32_t i = 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
    const auto& s = symbols[static_cast<size_t>(i)];
    if (s.id < vocab) {
      out.push_back(s.id);
      continue;
    }
    // A merge result that is not a token: fall back to the single-byte tokens.
    for (uint32_t k = s.start; k < s.start + s.len; ++k) {
      const int32_t byte = byte_symbols_[static_cast<uint8_t>(piece[k])];
      if (byte < vocab) out.push_back(byte);
    }
  }
}

}  // namespace bantam
