#include "text/spm_tokenizer.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "text/unicode.hpp"

namespace bantam {

namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's escaped space

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

SpmTokenizer::SpmTokenizer(const gguf::File& file) {
  load_common(file, "llama", /*default_add_bos=*/true);
  const size_t n = texts_.size();
  scores_.assign(n, 0.0f);
  if (const auto* scores = file.get_array("tokenizer.ggml.scores")) {
    if (scores->size() < n) {
      throw Error(fmt::format("{}: tokenizer.ggml.scores has {} entries for {} tokens",
                              file.path(), scores->size(), n));
    }
    for (size_t i = 0; i < n; ++i) {
      const auto& v = (*scores)[i];
      if (!v.is_float() && !v.is_integer()) {
        throw Error(fmt::format("{}: tokenizer.ggml.scores is not numeric", file.path()));
      }
      scores_[i] = static_cast<float>(v.as_double());
    }
  }
  for (int b = 0; b < 256; ++b) {
    TokenId id = find(fmt::format("<0x{:02X}>", b));
    if (id < 0) id = find(std::string(1, static_cast<char>(b)));
    byte_tokens_[static_cast<size_t>(b)] = id;
  }
  pieces_.resize(n);
  for (size_t i = 0; i < n; ++i) pieces_[i] = piece_of(i);
  split_words_ = std::none_of(texts_.begin(), texts_.end(), [](const std::string& text) {
    for (size_t pos = text.find(kSpace, 1); pos != std::string::npos;
         pos = text.find(kSpace, pos + 1)) {
      if (pos < kSpace.size() || text.compare(pos - kSpace.size(), kSpace.size(), kSpace) != 0) {
        return true;
      }
    }
    return false;
  });
}

std::string SpmTokenizer::piece_of(size_t id) const {
  const std::string& text = texts_[id];
  switch (types_[id]) {
    case kNormal:
      return unicode::replace_all(text, kSpace, " ");
    case kControl:
    case kUnknown:
    case kUserDefined:
      return text;
    case kByte:
      if (text.size() == 6 && text.starts_with("<0x") && text.back() == '>' &&
          hex_digit(text[3]) >= 0 && hex_digit(text[4]) >= 0) {
        return std::string(1, static_cast<char>(hex_digit(text[3]) * 16 + hex_digit(text[4])));
      }
      return text;
    default:  // unused and undefined tokens print nothing, as in llama.cpp
      return {};
  }
}

std::string SpmTokenizer::token_bytes(TokenId id) const { return bytes_of(id); }

std::vector<TokenId> SpmTokenizer::encode(std::string_view text, bool add_special,
                                          bool parse_special) const {
  std::vector<TokenId> out;
  if (add_special && add_bos_) out.push_back(bos_);
  // A space is prepended to the text at the start and after every special token.
  bool after_special = true;
  for (const auto& fragment : split_special(text, parse_special)) {
    if (fragment.token >= 0) {
      out.push_back(fragment.token);
      after_special = true;
      continue;
    }
    std::string raw;
    if (add_space_prefix_ && after_special) raw.push_back(' ');
    raw.append(fragment.text);
    encode_escaped(unicode::replace_all(raw, " ", kSpace), out);
    after_special = false;
  }
  if (add_special && add_eos_) out.push_back(eos_);
  return out;
}

void SpmTokenizer::encode_escaped(std::string_view text, std::vector<TokenId>& out) const {
  if (!split_words_) {
    merge(text, out);
    return;
  }
  size_t start = 0;
  for (size_t pos = text.find(kSpace, 1); pos != std::string::npos;
       pos = text.find(kSpace, pos + 1)) {
    if (pos >= kSpace.size() && text.compare(pos - kSpace.size(), kSpace.size(), kSpace) == 0) {
      continue;  // inside a run of spaces
    }
    encode_word(text.substr(start, pos - start), out);
    start = pos;
  }
  encode_word(text.substr(start), out);
}

void SpmTokenizer::encode_word(std::string_view word, std::vector<TokenId>& out) const {
  if (cache_.lookup(word, out)) return;
  const size_t begin = out.size();
  merge(word, out);
  cache_.store(word, std::span<const TokenId>(out).subspan(begin));
}

void SpmTokenizer::merge(std::string_view text, std::vector<TokenId>& out) const {
  // Symbols are code points (an invalid byte is a symbol of its own) in a linked list; the
  // highest-scoring adjacent pair that forms a vocab token merges first (leftmost on ties).
  struct Symbol {
    uint32_t start, len;
    int32_t prev, next;
  };
  struct Candidate {
    float score;
    int32_t left, right;
    uint32_t len;
  };
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<Candidate> heap;
  symbols.clear();
  heap.clear();
  for (size_t i = 0; i < text.size();) {
    size_t bad = 0;
    const int n = unicode::utf8_sequence(text, i, bad);
    const uint32_t len = n > 0 ? static_cast<uint32_t>(n) : 1;
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({static_cast<uint32_t>(i), len, index - 1, index + 1});
    i += len;
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  auto worse = [](const Candidate& a, const Candidate& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  auto try_pair = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const auto& l = symbols[static_cast<size_t>(left)];
    const uint32_t len = l.len + symbols[static_cast<size_t>(right)].len;
    const TokenId id = find(text.substr(l.start, len));
    if (id < 0) return;
    heap.push_back({scores_[static_cast<size_t>(id)], left, right, len});
    std::push_heap(heap.begin(), heap.end(), worse);
  };
  for (size_t i = 1; i < symbols.size(); ++i) {
    try_pair(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
  }
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), worse);
    const Candidate c = heap.back();
    heap.pop_back();
    auto& left = symbols[static_cast<size_t>(c.left)];
    auto& right = symbols[static_cast<size_t>(c.right)];
    // Stale when either side has merged since: the right one into something, or grown.
    if (left.len == 0 || right.len == 0 || left.len + right.len != c.len) continue;
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = c.left;
    try_pair(left.prev, c.left);
    try_pair(c.left, left.next);
  }

  for (int32_t i = 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
    const auto& s = symbols[static_cast<size_t>(i)];
    const std::string_view piece = text.substr(s.start, s.len);
    if (const TokenId id = find(piece); id >= 0) {
      out.push_back(id);
      continue;
    }
    for (const char byte : piece) {
      TokenId id = byte_tokens_[static_cast<uint8_t>(byte)];
      if (id < 0) id = unk_;
      if (id < 0) {
        throw Error(fmt::format("the vocab has neither a byte token for 0x{:02X} nor an unknown token",
                                static_cast<uint8_t>(byte)));
      }
      out.push_back(id);
    }
  }
}

}  // namespace bantam
