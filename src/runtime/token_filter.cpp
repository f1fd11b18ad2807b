#include "runtime/token_filter.hpp"

#include <algorithm>
#include <limits>

#include "api/model_impl.hpp"

namespace bantam {

TokenFilter::TokenFilter(const Model& model) : model_(model) {
  const Tokenizer& tokenizer = model.impl().text();
  const size_t n_vocab = static_cast<size_t>(model.impl().config.n_vocab);
  bytes_.resize(n_vocab);
  for (size_t id = 0; id < n_vocab && id < tokenizer.vocab_size(); ++id) {
    const auto token = static_cast<TokenId>(id);
    if (tokenizer.is_special(token) || tokenizer.is_skipped_when_decoding(token)) continue;
    bytes_[id] = tokenizer.token_bytes(token);
    if (!bytes_[id].empty()) order_.push_back(token);
  }
  std::sort(order_.begin(), order_.end(), [this](TokenId a, TokenId b) {
    return bytes_[static_cast<size_t>(a)] < bytes_[static_cast<size_t>(b)];
  });
  shared_prefix_.resize(order_.size(), 0);
  for (size_t i = 1; i < order_.size(); ++i) {
    const std::string& a = bytes_[static_cast<size_t>(order_[i - 1])];
    const std::string& b = bytes_[static_cast<size_t>(order_[i])];
    size_t common = 0;
    while (common < a.size() && common < b.size() && a[common] == b[common]) ++common;
    shared_prefix_[i] = static_cast<uint32_t>(common);
  }
}

size_t TokenFilter::mask(const GrammarCursor& cursor, std::span<float> logits) const {
  std::vector<bool> allowed(logits.size(), false);
  size_t n_allowed = 0;
  // states[k]: the cursor after the first k bytes of the previous token (while they matched).
  std::vector<std::unique_ptr<GrammarCursor>> states;
  states.push_back(cursor.clone());
  for (size_t i = 0; i < order_.size(); ++i) {
    // states holds 1 + matched bytes of the previous token; a dead prefix stays dead, and is
    // skipped without touching the token's bytes.
    const size_t common = shared_prefix_[i];
    if (states.size() < common + 1) continue;
    if (states.size() > common + 1) states.erase(states.begin() + static_cast<std::ptrdiff_t>(common + 1), states.end());
    const TokenId id = order_[i];
    const std::string& text = bytes_[static_cast<size_t>(id)];
    // The cursor after the whole token is kept only when the next token goes on from it.
    const bool extended = i + 1 < order_.size() && shared_prefix_[i + 1] >= text.size();
    bool alive = true;
    for (size_t k = states.size() - 1; k < text.size(); ++k) {
      if (!states.back()->accepts_byte(text[k])) {
        alive = false;
        break;
      }
      if (k + 1 == text.size() && !extended) break;
      std::unique_ptr<GrammarCursor> next = states.back()->clone();
      next->feed(std::string_view(&text[k], 1));
      states.push_back(std::move(next));
    }
    if (alive && static_cast<size_t>(id) < allowed.size()) {
      allowed[static_cast<size_t>(id)] = true;
      ++n_allowed;
    }
  }
  if (cursor.complete()) {
    for (TokenId id : model_.impl().end_of_generation) {
      if (id >= 0 && static_cast<size_t>(id) < allowed.size() && !allowed[static_cast<size_t>(id)]) {
        allowed[static_cast<size_t>(id)] = true;
        ++n_allowed;
      }
    }
  }
  for (size_t i = 0; i < logits.size(); ++i) {
    if (!allowed[i]) logits[i] = -std::numeric_limits<float>::infinity();
  }
  return n_allowed;
}

}  // namespace bantam
