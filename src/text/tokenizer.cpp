// Vocab loading shared by both tokenizer kinds, special-token splitting, decoding, streaming.
#include "text/tokenizer.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "text/bpe_tokenizer.hpp"
#include "text/spm_tokenizer.hpp"
#include "text/tokenizer_wordpiece.hpp"
#include "text/unicode.hpp"

namespace bantam {

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const gguf::File& file) {
  const auto model = file.get_string("tokenizer.ggml.model");
  if (!model) throw Error(fmt::format("{}: no tokenizer.ggml.model (the file has no vocab)", file.path()));
  if (*model == "llama") return std::make_unique<SpmTokenizer>(file);
  if (*model == "gpt2") return std::make_unique<BpeTokenizer>(file);
  if (*model == "bert") return std::make_unique<WordPieceTokenizer>(file);
  throw Error(fmt::format("{}: unsupported tokenizer.ggml.model '{}' (supported: llama, gpt2, bert)",
                          file.path(), *model));
}

void Tokenizer::check_id(TokenId id) const {
  if (id < 0 || static_cast<size_t>(id) >= texts_.size()) {
    throw Error(fmt::format("token id {} is out of range (vocab size {})", id, texts_.size()));
  }
}

const std::string& Tokenizer::bytes_of(TokenId id) const {
  check_id(id);
  return pieces_[static_cast<size_t>(id)];
}

const std::string& Tokenizer::token_text(TokenId id) const {
  check_id(id);
  return texts_[static_cast<size_t>(id)];
}

int32_t Tokenizer::token_type(TokenId id) const {
  check_id(id);
  return types_[static_cast<size_t>(id)];
}

bool Tokenizer::is_special(TokenId id) const {
  const int32_t type = token_type(id);
  return type == kControl || type == kUserDefined;
}

bool Tokenizer::is_skipped_when_decoding(TokenId id) const {
  const int32_t type = token_type(id);
  return type == kControl || type == kUnknown;
}

bool Tokenizer::is_end_of_generation(TokenId id) const {
  return id >= 0 && std::find(end_of_generation_.begin(), end_of_generation_.end(), id) !=
                        end_of_generation_.end();
}

TokenId Tokenizer::find(std::string_view text) const {
  return index_.find(text, texts_);
}

namespace {

constexpr size_t kMaxTokenBytes = 1024;

std::string key_error(const gguf::File& file, std::string_view key, std::string_view what) {
  return fmt::format("{}: {} {}", file.path(), key, what);
}

// Tokens that end a turn in the chat formats llama.cpp knows, in order of preference for EOT.
constexpr std::array<std::string_view, 9> kEndOfTurnTexts = {
    "<|eot_id|>", "<|im_end|>",   "<|end|>",       "<end_of_turn>",
    "<|endoftext|>", "<|end_of_text|>", "<|eom_id|>", "<EOT>",
    "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",  // DeepSeek
};

}  // namespace

void Tokenizer::load_common(const gguf::File& file, const std::string& model,
                            bool default_add_bos) {
  model_ = model;
  const auto* tokens = file.get_array("tokenizer.ggml.tokens");
  if (!tokens) throw Error(key_error(file, "tokenizer.ggml.tokens", "is missing"));
  const size_t n = tokens->size();
  if (n == 0 || n > static_cast<size_t>(INT32_MAX)) {
    throw Error(key_error(file, "tokenizer.ggml.tokens", fmt::format("has {} tokens", n)));
  }
  if (tokens->element_type() != gguf::ValueType::STRING) {
    throw Error(key_error(file, "tokenizer.ggml.tokens", "is not an array of strings"));
  }
  texts_.reserve(n);
  for (size_t id = 0; id < n; ++id) {
    const std::string_view text = tokens->string_at(id);
    // Every structure built from a token costs a multiple of its length; real tokens are short.
    if (text.size() > kMaxTokenBytes) {
      throw Error(key_error(file, "tokenizer.ggml.tokens",
                            fmt::format("token {} is {} bytes long (at most {})", id, text.size(),
                                        kMaxTokenBytes)));
    }
    texts_.emplace_back(text);
  }
  // The first of duplicate texts wins (llama.cpp refuses such files; nothing depends on it).
  index_.build(texts_);

  types_.assign(n, kNormal);
  if (const auto* types = file.get_array("tokenizer.ggml.token_type")) {
    if (types->size() < n) {
      throw Error(key_error(file, "tokenizer.ggml.token_type",
                            fmt::format("has {} entries for {} tokens", types->size(), n)));
    }
    for (size_t i = 0; i < n; ++i) {
      const auto& v = (*types)[i];
      if (!v.is_integer()) {
        throw Error(key_error(file, "tokenizer.ggml.token_type", "is not an array of integers"));
      }
      types_[i] = static_cast<int32_t>(v.as_int());
    }
  }

  // llama.cpp's defaults when a key is absent; an id outside the vocab means "none".
  const bool spm = model == "llama", bert = model == "bert";
  bos_ = spm ? 1 : bert ? 101 : -1;  // BERT's "BOS" is [CLS]
  eos_ = spm ? 2 : -1;
  unk_ = spm ? 0 : bert ? 100 : -1;
  sep_ = bert ? 102 : -1;
  pad_ = bert ? 0 : -1;
  auto read_id = [&](std::string_view key, TokenId& id) {
    if (id >= static_cast<TokenId>(n)) id = -1;
    const gguf::Value* v = file.find(key);
    if (!v) return;
    if (!v->is_integer()) throw Error(key_error(file, key, "is not an integer"));
    const int64_t value = v->type() == gguf::ValueType::UINT64 && v->as_uint() > INT64_MAX
                              ? -1
                              : v->as_int();
    if (value >= 0 && value < static_cast<int64_t>(n)) id = static_cast<TokenId>(value);
  };
  read_id("tokenizer.ggml.bos_token_id", bos_);
  read_id("tokenizer.ggml.eos_token_id", eos_);
  read_id("tokenizer.ggml.eot_token_id", eot_);
  read_id("tokenizer.ggml.eom_token_id", eom_);
  read_id("tokenizer.ggml.unknown_token_id", unk_);
  read_id("tokenizer.ggml.seperator_token_id", sep_);
  read_id("tokenizer.ggml.padding_token_id", pad_);

  add_bos_ = file.get_bool("tokenizer.ggml.add_bos_token").value_or(default_add_bos);
  add_eos_ = file.get_bool("tokenizer.ggml.add_eos_token").value_or(false);
  add_space_prefix_ = file.get_bool("tokenizer.ggml.add_space_prefix").value_or(spm);
  if (add_bos_ && bos_ < 0) {
    throw Error(key_error(file, "tokenizer.ggml.add_bos_token",
                          "is true but there is no valid tokenizer.ggml.bos_token_id"));
  }
  if (add_eos_ && eos_ < 0) {
    throw Error(key_error(file, "tokenizer.ggml.add_eos_token",
                          "is true but there is no valid tokenizer.ggml.eos_token_id"));
  }

  if (eot_ < 0) {
    for (const auto text : kEndOfTurnTexts) {
      if (const TokenId id = find(text); id >= 0) {
        eot_ = id;
        break;
      }
    }
  }
  for (const TokenId id : {eos_, eot_, eom_}) {
    if (id >= 0) end_of_generation_.push_back(id);
  }
  for (const auto text : kEndOfTurnTexts) {
    if (const TokenId id = find(text); id >= 0) end_of_generation_.push_back(id);
  }
  std::sort(end_of_generation_.begin(), end_of_generation_.end());
  end_of_generation_.erase(std::unique(end_of_generation_.begin(), end_of_generation_.end()),
                           end_of_generation_.end());

  build_special_tries(file.get_string("general.name").value_or(""));
}

// A compressed trie over the texts of special tokens: finds every special text starting at a
// position. Edges are labelled with runs of bytes, so it holds at most two nodes per special
// token and one copy of their texts, however long those are.
struct Tokenizer::SpecialTrie {
  struct Node {
    size_t label_begin = 0;  // the edge into this node, in `labels`
    uint32_t label_size = 0;
    int32_t first_child = -1, next_sibling = -1;
    TokenId token = -1;
  };
  std::vector<Node> nodes{1};
  std::string labels;
  std::array<bool, 256> first{};

  bool empty() const { return nodes.size() == 1; }

  std::string_view label(const Node& n) const { return {labels.data() + n.label_begin, n.label_size}; }

  // The child of `node` whose edge starts with byte `b` (-1 if none), and the sibling before it.
  std::pair<int32_t, int32_t> child(int32_t node, char b) const {
    int32_t previous = -1;
    for (int32_t c = nodes[static_cast<size_t>(node)].first_child; c >= 0;
         previous = c, c = nodes[static_cast<size_t>(c)].next_sibling) {
      if (labels[nodes[static_cast<size_t>(c)].label_begin] == b) return {c, previous};
    }
    return {-1, -1};
  }

  int32_t add_node(Node n) {
    nodes.push_back(n);
    return static_cast<int32_t>(nodes.size() - 1);
  }

  void insert(std::string_view text, TokenId id) {
    const size_t begin = labels.size();
    labels.append(text);
    int32_t node = 0;
    uint32_t pos = 0;
    const auto size = static_cast<uint32_t>(text.size());
    while (pos < size) {
      const auto [c, previous] = child(node, text[pos]);
      if (c < 0) {
        Node leaf{.label_begin = begin + pos, .label_size = size - pos, .token = id};
        leaf.next_sibling = nodes[static_cast<size_t>(node)].first_child;
        const int32_t index = add_node(leaf);
        nodes[static_cast<size_t>(node)].first_child = index;
        node = index;
        pos = size;
        break;
      }
      const std::string_view edge = label(nodes[static_cast<size_t>(c)]);
      uint32_t common = 0;
      while (common < edge.size() && pos + common < size && edge[common] == text[pos + common]) ++common;
      if (common < edge.size()) {
        // Split the edge: a new node for the shared part, the old child below it.
        Node& old = nodes[static_cast<size_t>(c)];
        const Node middle{.label_begin = old.label_begin, .label_size = common, .first_child = c,
                          .next_sibling = old.next_sibling};
        old.label_begin += common;
        old.label_size -= common;
        old.next_sibling = -1;
        const int32_t index = add_node(middle);
        if (previous < 0) {
          nodes[static_cast<size_t>(node)].first_child = index;
        } else {
          nodes[static_cast<size_t>(previous)].next_sibling = index;
        }
        node = index;
      } else {
        node = c;
      }
      pos += common;
    }
    nodes[static_cast<size_t>(node)].token = id;
    first[static_cast<uint8_t>(text[0])] = true;
  }

  // Calls f(length, id) for each special text that starts at text[pos].
  template <typename F>
  void matches_at(std::string_view text, size_t pos, F&& f) const {
    int32_t node = 0;
    size_t i = pos;
    while (i < text.size()) {
      node = child(node, text[i]).first;
      if (node < 0) return;
      const std::string_view edge = label(nodes[static_cast<size_t>(node)]);
      if (text.substr(i, edge.size()) != edge) return;
      i += edge.size();
      const TokenId id = nodes[static_cast<size_t>(node)].token;
      if (id >= 0) f(i - pos, id);
    }
  }
};

void Tokenizer::build_special_tries(const std::string& general_name) {
  auto all = std::make_shared<SpecialTrie>();
  auto user = std::make_shared<SpecialTrie>();
  rstrip_.assign(texts_.size(), false);
  std::string name = general_name;
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // llama.cpp strips the whitespace after Phi-3's special tokens (its tokenizer_config's rstrip).
  const bool phi3 = name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos;
  for (size_t i = 0; i < texts_.size(); ++i) {
    const int32_t type = types_[i];
    const auto& text = texts_[i];
    if (text.empty() || (type != kControl && type != kUserDefined && type != kUnknown)) continue;
    all->insert(text, static_cast<TokenId>(i));
    if (type == kUserDefined) user->insert(text, static_cast<TokenId>(i));
    if (phi3 && text != "<unk>" && text != "<s>" && text != "<|endoftext|>") rstrip_[i] = true;
  }
  if (phi3) {
    if (const TokenId id = find("</s>"); id >= 0) rstrip_[static_cast<size_t>(id)] = true;
  }
  specials_ = std::move(all);
  user_defined_ = std::move(user);
}

std::vector<Tokenizer::Fragment> Tokenizer::split_special(std::string_view text,
                                                          bool parse_special) const {
  std::vector<Fragment> fragments;
  if (text.empty()) return fragments;
  const SpecialTrie& trie = parse_special ? *specials_ : *user_defined_;
  struct Occurrence {
    size_t pos, len;
    TokenId id;
  };
  std::vector<Occurrence> found;
  if (!trie.empty()) {
    for (size_t pos = 0; pos < text.size(); ++pos) {
      if (!trie.first[static_cast<uint8_t>(text[pos])]) continue;
      trie.matches_at(text, pos, [&](size_t len, TokenId id) { found.push_back({pos, len, id}); });
    }
  }
  if (found.empty()) {
    fragments.push_back({-1, text});
    return fragments;
  }
  // llama.cpp takes special tokens longest first and each one leftmost first, in the text left
  // over by the earlier ones.
  std::sort(found.begin(), found.end(), [](const Occurrence& a, const Occurrence& b) {
    if (a.len != b.len) return a.len > b.len;
    if (a.id != b.id) return a.id < b.id;
    return a.pos < b.pos;
  });
  enum : uint8_t { kRaw = 0, kToken = 1, kStripped = 2 };
  std::vector<uint8_t> cover(text.size(), kRaw);
  std::vector<Occurrence> accepted;
  auto is_space = [&](size_t i) { return std::isspace(static_cast<unsigned char>(text[i])) != 0; };
  for (const auto& o : found) {
    if (std::any_of(cover.begin() + static_cast<ptrdiff_t>(o.pos),
                    cover.begin() + static_cast<ptrdiff_t>(o.pos + o.len),
                    [](uint8_t c) { return c != kRaw; })) {
      continue;
    }
    std::fill_n(cover.begin() + static_cast<ptrdiff_t>(o.pos), o.len, kToken);
    accepted.push_back(o);
    if (rstrip_[static_cast<size_t>(o.id)]) {
      for (size_t i = o.pos + o.len; i < text.size() && cover[i] == kRaw && is_space(i); ++i) {
        cover[i] = kStripped;
      }
    }
  }
  std::sort(accepted.begin(), accepted.end(),
            [](const Occurrence& a, const Occurrence& b) { return a.pos < b.pos; });
  size_t next_token = 0, raw_start = 0;
  bool in_raw = false;
  for (size_t i = 0; i < text.size();) {
    if (cover[i] == kRaw) {
      if (!in_raw) raw_start = i;
      in_raw = true;
      ++i;
      continue;
    }
    if (in_raw) fragments.push_back({-1, text.substr(raw_start, i - raw_start)});
    in_raw = false;
    if (cover[i] == kToken) {
      const auto& o = accepted[next_token++];
      fragments.push_back({o.id, text.substr(o.pos, o.len)});
      i += o.len;
    } else {
      ++i;
    }
  }
  if (in_raw) fragments.push_back({-1, text.substr(raw_start)});
  return fragments;
}

std::string Tokenizer::decode(std::span<const TokenId> ids, bool skip_special) const {
  // As llama_detokenize: the space SPM prepends is dropped from the first piece, except after a
  // leading BOS that skip_special removes (llama.cpp keeps the space then).
  bool remove_space = add_space_prefix_;
  if (skip_special && add_bos_ && !ids.empty() && ids.front() == bos_) {
    remove_space = false;
    ids = ids.subspan(1);
  }
  if (skip_special && add_eos_ && !ids.empty() && ids.back() == eos_) {
    ids = ids.first(ids.size() - 1);
  }
  std::string out;
  for (const TokenId id : ids) {
    check_id(id);
    const bool skipped = skip_special && is_skipped_when_decoding(id);
    if (!skipped) {
      const std::string_view p = bytes_of(id);
      out.append(remove_space && p.starts_with(' ') ? p.substr(1) : p);
    }
    remove_space = false;
  }
  return unicode::is_valid_utf8(out) ? out : unicode::sanitize_utf8(out);
}

std::string StreamingDetokenizer::push(TokenId id) {
  if (skip_special_ && tokenizer_.is_skipped_when_decoding(id)) return {};
  pending_ += tokenizer_.token_bytes(id);
  const size_t ready = unicode::complete_prefix(pending_);
  if (ready == 0) return {};
  std::string out = unicode::sanitize_utf8(std::string_view(pending_).substr(0, ready));
  pending_.erase(0, ready);
  return out;
}

std::string StreamingDetokenizer::flush() {
  std::string out = unicode::sanitize_utf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace bantam
