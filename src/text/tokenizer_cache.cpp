#include "text/tokenizer_cache.hpp"

#include <functional>
#include <mutex>

namespace bantam {

namespace {
constexpr size_t kFirstSlots = size_t{1} << 12;  // powers of two; the table doubles when half
constexpr size_t kMaxSlots = size_t{1} << 17;    // full, so a small working set stays small
constexpr size_t kMaxArenaBytes = size_t{8} << 20;
}  // namespace

uint64_t PieceCache::hash_of(std::string_view piece) {
  const uint64_t h = std::hash<std::string_view>{}(piece);
  return h == 0 ? 1 : h;
}

size_t PieceCache::find(std::string_view piece, uint64_t hash) const {
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.hash == 0) return i;
    if (s.hash == hash && s.key_size == piece.size() &&
        std::string_view(keys_).substr(s.key_offset, s.key_size) == piece) {
      return i;
    }
  }
}

bool PieceCache::lookup(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.size() > kMaxPieceBytes) return false;
  const uint64_t hash = hash_of(piece);
  std::shared_lock lock(mutex_);
  if (slots_.empty()) return false;
  const Slot& s = slots_[find(piece, hash)];
  if (s.hash == 0) return false;
  out.insert(out.end(), ids_.begin() + s.ids_offset, ids_.begin() + s.ids_offset + s.ids_size);
  return true;
}

void PieceCache::store(std::string_view piece, std::span<const int32_t> ids) {
  if (piece.size() > kMaxPieceBytes) return;
  const uint64_t hash = hash_of(piece);
  std::unique_lock lock(mutex_);
  if (slots_.empty()) slots_.resize(kFirstSlots);
  if (used_ + 1 > slots_.size() / 2) {
    if (slots_.size() < kMaxSlots) {
      grow();
    } else {
      clear();
    }
  }
  if (keys_.size() + ids_.size() * sizeof(int32_t) > kMaxArenaBytes) clear();
  Slot& s = slots_[find(piece, hash)];
  if (s.hash != 0) return;  // another thread stored it meanwhile
  s = {hash, static_cast<uint32_t>(keys_.size()), static_cast<uint32_t>(piece.size()),
        static_cast<uint32_t>(ids_.size()), static_cast<uint32_t>(ids.size())};
  keys_.append(piece);
  ids_.insert(ids_.end(), ids.begin(), ids.end());
  ++used_;
}

void PieceCache::grow() {
  std::vector<Slot> old(slots_.size() * 2);
  old.swap(slots_);
  const size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.hash == 0) continue;
    size_t i = s.hash & mask;
    while (slots_[i].hash != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

void PieceCache::clear() {
  slots_.assign(kFirstSlots, Slot{});
  used_ = 0;
  keys_.clear();
  ids_.clear();
}

}  // namespace bantam
