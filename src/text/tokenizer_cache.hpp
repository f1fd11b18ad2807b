// A thread-safe cache from a text piece (a pre-token or an SPM word) to its token ids. Real text
// repeats its words, so most pieces skip the merge loop. Open addressing over flat arenas keeps a
// look-up to a few cache lines; when full, the cache simply starts over.
#pragma once

#include <cstdint>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bantam {

class PieceCache {
 public:
  static constexpr size_t kMaxPieceBytes = 256;  // longer pieces are rare and not cached

  // Appends the ids cached for `piece` to `out`; false when the piece is not cached.
  bool lookup(std::string_view piece, std::vector<int32_t>& out) const;
  void store(std::string_view piece, std::span<const int32_t> ids);

 private:
  struct Slot {
    uint64_t hash = 0;  // 0: empty
    uint32_t key_offset = 0, key_size = 0;
    uint32_t ids_offset = 0, ids_size = 0;
  };
  static uint64_t hash_of(std::string_view piece);
  size_t find(std::string_view piece, uint64_t hash) const;  // the slot, or the empty one to use
  void grow();
  void clear();

  mutable std::shared_mutex mutex_;
  std::vector<Slot> slots_;
  size_t used_ = 0;
  std::string keys_;
  std::vector<int32_t> ids_;
};

}  // namespace bantam
