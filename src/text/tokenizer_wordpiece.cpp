#include "text/tokenizer_wordpiece.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <utf8proc.h>

#include "bantam/error.hpp"
#include "text/unicode.hpp"

namespace bantam {

namespace {

constexpr std::string_view kWordStart = "\xE2\x96\x81";  // U+2581

bool is_whitespace(uint32_t cp, utf8proc_category_t cat) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || cat == UTF8PROC_CATEGORY_ZS ||
         cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

bool is_control(utf8proc_category_t cat) {
  return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
         cat == UTF8PROC_CATEGORY_CS || cat == UTF8PROC_CATEGORY_CO;
}

bool is_mark(utf8proc_category_t cat) {
  return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC || cat == UTF8PROC_CATEGORY_ME;
}

bool is_punctuation(utf8proc_category_t cat) {
  return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

bool is_symbol(utf8proc_category_t cat) {
  return cat >= UTF8PROC_CATEGORY_SM && cat <= UTF8PROC_CATEGORY_SO;
}

// The CJK ideograph blocks BERT isolates (as HF's _is_chinese_char, which has 0x2B920 where
// the block starts at 0x2B820).
bool is_cjk(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(const gguf::File& file) {
  load_common(file, "bert", /*default_add_bos=*/true);
  lowercase_ = file.get_bool("tokenizer.ggml.normalizer.lowercase").value_or(true);
  strip_accents_ = file.get_bool("tokenizer.ggml.normalizer.strip_accents").value_or(lowercase_);
  add_sep_ = file.get_bool("tokenizer.ggml.add_sep_token").value_or(true);
  if (add_sep_ && sep_ < 0) {
    throw Error(fmt::format("{}: tokenizer.ggml.add_sep_token is true but there is no valid "
                            "tokenizer.ggml.seperator_token_id",
                            file.path()));
  }
  pieces_.resize(texts_.size());
  for (size_t i = 0; i < texts_.size(); ++i) {
    max_token_bytes_ = std::max(max_token_bytes_, texts_[i].size());
    switch (types_[i]) {
      case kNormal:
        pieces_[i] = unicode::replace_all(texts_[i], kWordStart, " ");
        break;
      case kControl:
      case kUnknown:
      case kUserDefined:
        pieces_[i] = texts_[i];
        break;
      default:  // unused tokens print nothing
        break;
    }
  }
}

std::string WordPieceTokenizer::token_bytes(TokenId id) const { return bytes_of(id); }

std::vector<TokenId> WordPieceTokenizer::encode(std::string_view text, bool add_special,
                                                bool parse_special) const {
  std::vector<TokenId> out;
  if (add_special && add_bos_) out.push_back(bos_);
  for (const auto& fragment : split_special(text, parse_special)) {
    if (fragment.token >= 0) {
      out.push_back(fragment.token);
      continue;
    }
    for (const auto& word : split_words(fragment.text)) encode_word(word, out);
  }
  if (add_special && add_sep_) out.push_back(sep_);
  return out;
}

std::vector<std::string> WordPieceTokenizer::split_words(std::string_view text) const {
  const std::string valid = unicode::sanitize_utf8(text);
  std::vector<std::string> words(1);
  auto add = [&](uint32_t cp) {
    const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
    if (is_whitespace(cp, cat)) {
      if (!words.back().empty()) words.emplace_back();
      return;
    }
    if (cp == 0 || cp == unicode::kReplacement || is_control(cat)) return;
    if (strip_accents_ && is_mark(cat)) return;
    const uint32_t lower =
        lowercase_ ? static_cast<uint32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))) : cp;
    if (is_punctuation(cat) || (cp < 0x7F && is_symbol(cat)) || is_cjk(cp)) {
      if (!words.back().empty()) words.emplace_back();
      unicode::append_utf8(words.back(), lower);
      words.emplace_back();
    } else {
      unicode::append_utf8(words.back(), lower);
    }
  };
  for (size_t i = 0; i < valid.size();) {
    const uint32_t cp = unicode::decode_utf8(valid, i);
    if (!strip_accents_) {
      add(cp);
      continue;
    }
    // Canonical decomposition, so that accents become marks to drop.
    utf8proc_int32_t decomposed[8];
    int boundclass = 0;
    const auto n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), decomposed, 8,
                                           UTF8PROC_DECOMPOSE, &boundclass);
    if (n <= 0 || n > 8) {
      add(cp);
      continue;
    }
    for (utf8proc_ssize_t k = 0; k < n; ++k) add(static_cast<uint32_t>(decomposed[k]));
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

void WordPieceTokenizer::encode_word(const std::string& word, std::vector<TokenId>& out) const {
  // Longest match first from the start of the word, whose first piece carries the word mark;
  // a word with any part no token covers becomes the unknown token.
  const std::string marked = std::string(kWordStart) + word;
  const size_t begin = out.size();
  for (size_t i = 0; i < marked.size();) {
    size_t j = std::min(marked.size(), i + max_token_bytes_);
    for (; j > i; --j) {
      if (const TokenId id = find(std::string_view(marked).substr(i, j - i)); id >= 0) {
        out.push_back(id);
        break;
      }
    }
    if (j == i) {
      out.resize(begin);
      break;
    }
    i = j;
  }
  if (out.size() == begin && unk_ >= 0) out.push_back(unk_);
}

}  // namespace bantam
