// Vocab text -> token id, as a flat open-addressing table of ids (the texts stay in the vocab).
// Merge loops look up many candidate texts that are not tokens; a miss here usually costs one
// cache line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bantam {

class TokenIndex {
 public:
  // Indexes `texts` (ids are positions); the first of duplicate texts wins.
  void build(const std::vector<std::string>& texts);
  // The id of `text` in the `texts` given to build(), or -1.
  int32_t find(std::string_view text, const std::vector<std::string>& texts) const;

 private:
  struct Slot {
    uint32_t tag = 0;  // high hash bits, to skip most mismatches without touching the text
    int32_t id = -1;   // -1: empty
  };
  std::vector<Slot> slots_;
};

}  // namespace bantam
