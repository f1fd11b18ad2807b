#include "text/tokenizer_index.hpp"

#include <functional>

namespace bantam {

namespace {
uint64_t hash_of(std::string_view text) { return std::hash<std::string_view>{}(text); }
}  // namespace

void TokenIndex::build(const std::vector<std::string>& texts) {
  size_t capacity = 16;
  while (capacity < texts.size() * 2) capacity *= 2;
  slots_.assign(capacity, Slot{});
  const size_t mask = capacity - 1;
  for (size_t id = 0; id < texts.size(); ++id) {
    const uint64_t h = hash_of(texts[id]);
    const auto tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.id < 0) {
        s = {tag, static_cast<int32_t>(id)};
        break;
      }
      if (s.tag == tag && texts[static_cast<size_t>(s.id)] == texts[id]) break;  // duplicate
    }
  }
}

int32_t TokenIndex::find(std::string_view text, const std::vector<std::string>& texts) const {
  if (slots_.empty()) return -1;
  const uint64_t h = hash_of(text);
  const auto tag = static_cast<uint32_t>(h >> 32);
  const size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.id < 0) return -1;
    if (s.tag == tag && texts[static_cast<size_t>(s.id)] == text) return s.id;
  }
}

}  // namespace bantam
